"""The lrpc command (tools/) against real servers of rt.Types
(tests/integration/rpc-types.idl), once per transport: list, info,
introspect (IDL that lrpc-gen accepts, with the served hash), call (every
type of rpc-types.idl through JSON and back), stats (counts that match the
calls made), monitor (a line per message with the method's name), capture
(a pcapng file that tshark decodes with share/lrpc/lrpc.lua: method names;
skipped without tshark), a tap refused to another uid, bash completion of
subcommands and service names, and bad input: exit 1 with a message naming the field, or 2
for bad usage."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import tempfile
import unittest

LRPC = os.environ.get("LRPC_TOOL", "")
LUA = os.environ.get("LRPC_LUA", "")
COMPLETION = os.environ.get("LRPC_COMPLETION", "")
LRPC_GEN = os.environ.get("LRPC_GEN", "")
SERVER = os.environ.get("RPC_TYPES_SERVER", "")

ALL = {
    "b": True, "s8": -128, "s16": -32768, "s32": -2147483648,
    "s64": -9223372036854775808, "u8v": 255, "u16v": 65535,
    "u32v": 4294967295, "u64v": 18446744073709551615, "f": 1.5,
    "d": -2.25, "text": "h\u00e9llo \"json\"", "blob": "AAEC/w==",
    "list": [1, 2, 3], "quad": [1, 2, 3, 4], "note": "a note",
    "maybe": {"name": "m", "count": 7}, "color": "BLUE",
    "inner": {"name": "in", "count": None},
    "choice": {"inner": {"name": "c", "count": 1}},
    "counts": {"x": 1, "y": 2}, "inners": [{"name": "i0", "count": None}],
    "short_text": "short", "short_list": [8, 9], "nothing": {},
    "nested": [["RED", [{"name": "r", "count": 3}]], ["GREEN", []]],
}


def run(*args, stdin=None):
    return subprocess.run([LRPC, *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


class Server:
    def __init__(self, name: str, transport: str, *extra: str) -> None:
        self.name = name
        self.proc = subprocess.Popen([SERVER, name, transport, *extra],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class LrpcTest:
    transport = ""

    def setUp(self) -> None:
        self.name = f"lrpc-tool-test.{os.getpid()}.{self.transport}." \
                    f"{self._testMethodName}"[:64]
        self.server = Server(self.name, self.transport)
        self.tr = ["--transport", self.transport]

    def tearDown(self) -> None:
        if self.server:
            self.server.stop()

    def call(self, method: str, args, *extra):
        return run(*self.tr, *extra, "call", self.name, method,
                   json.dumps(args))

    def ok_json(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_list_started_and_stopped(self) -> None:
        found = [s for s in self.ok_json(run("list", "--json"))
                 if s["name"] == self.name]
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["pid"], self.server.proc.pid)
        self.assertEqual(found[0]["uid"], os.geteuid())
        self.assertEqual(found[0]["address"], "@lrpc/" + self.name)
        r = run("list")
        self.assertEqual(r.returncode, 0)
        self.assertIn(self.name, r.stdout)
        self.server.stop()
        self.server = None
        names = [s["name"] for s in self.ok_json(run("list", "--json"))]
        self.assertNotIn(self.name, names)

    def test_info(self) -> None:
        info = self.ok_json(run(*self.tr, "--json", "info", self.name))
        self.assertEqual(info["service"], self.name)
        self.assertEqual(info["pid"], self.server.proc.pid)
        self.assertEqual(info["transports"], [self.transport])
        names = [i["name"] for i in info["interfaces"]]
        self.assertEqual(names, ["lrpc.Service", "rt.Types"])
        text = run(*self.tr, "info", self.name)
        self.assertEqual(text.returncode, 0)
        self.assertIn("rt.Types", text.stdout)

    def test_introspect_is_idl_with_the_served_hash(self) -> None:
        info = self.ok_json(run(*self.tr, "--json", "info", self.name))
        served = [i for i in info["interfaces"]
                  if i["name"] == "rt.Types"][0]
        for args in ((self.name,), (self.name, "rt.Types")):
            r = run(*self.tr, "introspect", *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("interface Types {", r.stdout)
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "rt.idl")
                with open(path, "w") as f:
                    f.write(r.stdout)
                gen = subprocess.run([LRPC_GEN, path, "-o", d,
                                      "--backend", "c-types"],
                                     capture_output=True, text=True)
                self.assertEqual(gen.returncode, 0, gen.stderr)
                with open(os.path.join(d, "rt-types.h")) as f:
                    header = f.read()
            m = re.search(r"#define RT_TYPES_HASH UINT32_C\(0x([0-9a-f]+)\)",
                          header)
            self.assertEqual(m.group(1), served["hashes"][-1])
        r = run(*self.tr, "introspect", self.name, "rt.Nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NO_SUCH_INTERFACE", r.stderr)

    def test_call_round_trips_every_type(self) -> None:
        out = self.ok_json(self.call("rt.Types.echo", {"value": ALL}))
        self.assertEqual(out, {"result": ALL})
        # Defaults for what the JSON leaves out.
        out = self.ok_json(self.call("rt.Types.echo", {}))
        self.assertEqual(out["result"]["color"], "RED")
        self.assertEqual(out["result"]["choice"], {"num": 0})
        self.assertEqual(out["result"]["text"], "")
        self.assertEqual(out["result"]["quad"], [0, 0, 0, 0])
        # Union cases, enum numbers, stdin.
        for choice in ({"num": -5}, {"text": "t"}):
            v = dict(ALL, choice=choice, color=7)
            r = run(*self.tr, "call", self.name, "rt.Types.echo", "-",
                    stdin=json.dumps({"value": v}))
            out = self.ok_json(r)
            self.assertEqual(out["result"]["choice"], choice)
            self.assertEqual(out["result"]["color"], "BLUE")
        blob = "QUJD" * 1000
        self.assertEqual(self.ok_json(self.call("rt.Types.blob",
                                                {"data": blob})),
                         {"back": blob})
        self.assertEqual(self.ok_json(self.call("rt.Types.add",
                                                {"a": 2, "b": -5})),
                         {"sum": -3})
        self.assertEqual(self.ok_json(self.call("rt.Types.poke",
                                                {"n": 1})), {})

    def test_fds(self) -> None:
        """An fd result prints as its kind and target; an fd argument is
        sent from a path ({"open": ...}) or a number of the command's
        own."""
        self.server.stop()
        self.server = Server(self.name, self.transport, "fds")
        with tempfile.NamedTemporaryFile("w") as f:
            f.write("hello")
            f.flush()
            out = self.ok_json(self.call("rfd.Files.open",
                                         {"path": f.name}))
            self.assertEqual(out["size"], 5)
            self.assertEqual(out["f"]["kind"], "file")
            self.assertEqual(out["f"]["target"], f.name)
            out = self.ok_json(self.call(
                "rfd.Files.pass",
                {"fds": [{"open": f.name}, {"open": "/dev/null"}],
                 "h": {"none": 1}}))
            self.assertEqual([(b["kind"], b["target"]) for b in out["back"]],
                             [("file", f.name), ("device", "/dev/null")])
        r = self.call("rfd.Files.pass", {"fds": [{"open": "/nonexistent"}]})
        self.assertEqual(r.returncode, 1)
        self.assertIn("fds[0]: cannot open /nonexistent", r.stderr)
        r = self.call("rfd.Files.pass", {"fds": ["x"]})
        self.assertEqual(r.returncode, 1)
        self.assertIn("fds[0]", r.stderr)

    def test_typed_error(self) -> None:
        r = self.call("rt.Types.fail", {"code": 7})
        self.assertEqual(r.returncode, 1)
        self.assertIn("rt.RtError.WORSE (7): failed as asked", r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.call("rt.Types.seq", {"n": 1})
        self.assertEqual(r.returncode, 1)
        self.assertIn("lrpc.NoSuchMethod", r.stderr)

    def test_stats_count_the_calls(self) -> None:
        for i in range(3):
            self.ok_json(self.call("rt.Types.add", {"a": i, "b": 1}))
        self.call("rt.Types.fail", {"code": 1})
        st = self.ok_json(run(*self.tr, "--json", "stats", self.name))
        by = {(m["interface"], m["method"]): m for m in st["methods"]}
        add = by[("rt.Types", "add")]
        self.assertEqual(add["calls"], 3)
        self.assertEqual(add["errors"], 0)
        self.assertEqual(sum(add["latency_us_log2"]), 3)
        fail = by[("rt.Types", "fail")]
        self.assertEqual((fail["calls"], fail["errors"]), (1, 1))
        self.assertEqual(fail["errors_by_status"], {"1": 1})
        self.assertEqual(by[("rt.Types", "echo")]["calls"], 0)
        # Each `lrpc call` described the interface once.
        self.assertEqual(by[("lrpc.Service", "describe")]["calls"], 4)
        self.assertEqual(len(st["connections"]), 1)
        text = run(*self.tr, "stats", self.name)
        self.assertEqual(text.returncode, 0)
        self.assertRegex(text.stdout, r"rt\.Types\.add +3 +0 ")

    def test_bad_input(self) -> None:
        cases = [
            ('{"value": {"s8": 300}}', "value.s8: 300 does not fit in"),
            ('{"value": {"list": [1, "x"]}}',
             "value.list[1]: expected an integer, got a string"),
            ('{"value": {"color": "PINK"}}',
             'value.color: "PINK" is not a value of rt.Color'),
            ('{"value": {"inner": {"nope": 1}}}',
             "value.inner.nope: no such field in rt.Inner"),
            ('{"value": {"quad": [1]}}',
             "value.quad: expected 4 elements, got 1"),
            ('{"value": {"short_text": "123456789"}}',
             "value.short_text: 9 bytes, longer than @max(8)"),
            ('{"value": {"choice": {"a": 1, "b": 2}}}',
             "value.choice: expected an object with one case"),
            ('{"value": {"blob": "!!"}}', "value.blob: bytes: invalid "
                                          "base64"),
            ('{"value": {"nested": [["RED"]]}}',
             "value.nested[0]: expected a [key, value] pair"),
            ('{"value": [1]}', "value: expected an object, got an array"),
            ('{"value": {"b": 1}}', "value.b: expected true or false"),
            ('{"value": ', "bad JSON"),
            ('{"value": {}} x', "bad JSON"),
        ]
        for text, message in cases:
            with self.subTest(text=text):
                r = run(*self.tr, "call", self.name, "rt.Types.echo", text)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(message, r.stderr)
        for args, message in [
            (("call", self.name, "rt.Types.nope", "{}"), "no method nope"),
            (("call", self.name, "rt.Nope.x", "{}"), "NO_SUCH_INTERFACE"),
            (("call", self.name + "-not-there", "rt.Types.add", "{}"),
             "cannot connect"),
            (("info", self.name + "-not-there"), "cannot connect"),
        ]:
            with self.subTest(args=args):
                r = run(*self.tr, "--timeout", "2", *args)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(message, r.stderr)
        for args in [(), ("frobnicate",), ("info",), ("call", self.name),
                     ("call", self.name, "nodot", "{}"),
                     ("--timeout", "x", "list"),
                     ("--transport", "pigeon", "list"),
                     ("--watch", "info", self.name)]:
            with self.subTest(args=args):
                r = run(*args)
                self.assertEqual(r.returncode, 2, r.stderr)


    def tap(self, *args):
        """Run lrpc monitor/capture ARGS while making calls, until it has
        the messages it counts (the calls before its tap are not seen)."""
        p = subprocess.Popen([LRPC, *self.tr, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 20
        while p.poll() is None and time.monotonic() < end:
            r = self.call("rt.Types.add", {"a": 1, "b": 2})
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(0.05)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        return out, err

    def test_monitor(self) -> None:
        out, _ = self.tap("monitor", self.name, "-c", "60")
        lines = out.splitlines()
        self.assertEqual(len(lines), 60)
        line = re.compile(r"^\d\d:\d\d:\d\d\.\d{6}  conn \d+ +(->|<-|<=) "
                          r"(\S+) +\d+ B  (\S.*)$")
        seen = set()
        for ln in lines:
            m = line.match(ln)
            self.assertIsNotNone(m, ln)
            seen.add((m.group(1), m.group(2), m.group(3)))
        self.assertIn(("->", "rt.Types.add", "call"), seen)
        self.assertIn(("<-", "rt.Types.add", "reply"), seen)
        self.assertIn(("->", "lrpc.Service.describe", "call"), seen)

    def test_capture_and_tshark(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.pcapng")
            _, err = self.tap("capture", self.name, "-w", path, "-c", "40")
            self.assertIn("40 messages captured", err)
            with open(path, "rb") as f:
                data = f.read()
            # Section header, then an interface of LINKTYPE_USER0.
            self.assertEqual(data[:4], b"\x0a\x0d\x0d\x0a")
            self.assertEqual(data[8:12], b"\x4d\x3c\x2b\x1a")
            shb_len = int.from_bytes(data[4:8], "little")
            self.assertEqual(int.from_bytes(data[shb_len:shb_len + 4],
                                            "little"), 1)
            self.assertEqual(int.from_bytes(data[shb_len + 8:shb_len + 10],
                                            "little"), 147)
            tshark = shutil.which("tshark")
            if not tshark:
                self.skipTest("tshark is not installed: the dissector "
                              "was not run")
            r = subprocess.run(
                [tshark, "-X", "lua_script:" + LUA, "-r", path, "-T",
                 "fields", "-e", "lrpc.method", "-e", "lrpc.rpc.kind",
                 "-e", "lrpc.direction"],
                capture_output=True, text=True, timeout=60,
                env={**os.environ, "HOME": d})
            self.assertEqual(r.returncode, 0, r.stderr)
            rows = [ln.split("\t") for ln in r.stdout.splitlines()]
            self.assertEqual(len(rows), 40, r.stdout + r.stderr)
            self.assertIn(["rt.Types.add", "1", "0"], rows)
            self.assertIn(["rt.Types.add", "2", "1"], rows)
            self.assertIn(["lrpc.Service.describe", "2", "1"], rows)
            self.assertIn(["rt.Types", "6", "0"], rows)

    def test_tap_refused_to_another_uid(self) -> None:
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to uid 65534")

        def drop():
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
        # The build tree may sit below a directory only its owner can
        # enter (mktemp -d): run a copy of the command and its library
        # from a directory uid 65534 can reach.
        lib = os.path.realpath(os.path.join(os.path.dirname(LRPC), os.pardir,
                                            "runtime", "liblrpc.so.1"))
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)
            exe = os.path.join(d, "lrpc")
            shutil.copy2(LRPC, exe)
            shutil.copy2(lib, os.path.join(d, "liblrpc.so.1"))
            env = {**os.environ, "LD_LIBRARY_PATH": d}
            r = subprocess.run([exe, *self.tr, "monitor", self.name, "-c",
                                "1"],
                               capture_output=True, text=True, timeout=30,
                               preexec_fn=drop, env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("Operation not permitted", r.stderr)
        self.assertIn("server's user and root", r.stderr)

    def complete(self, *words) -> list[str]:
        script = (f"source {COMPLETION}; COMP_WORDS=({' '.join(words)} '');"
                  f" COMP_CWORD={len(words)}; _lrpc;"
                  " printf '%s\\n' \"${COMPREPLY[@]}\"")
        env = {**os.environ,
               "PATH": os.path.dirname(LRPC) + ":" + os.environ["PATH"]}
        r = subprocess.run(["bash", "-c", script], capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    def test_bash_completion(self) -> None:
        self.assertEqual(self.complete("lrpc"), [
            "list", "info", "introspect", "call", "stats", "monitor",
            "capture"])
        self.assertEqual(self.complete("lrpc", "--json"), [
            "list", "info", "introspect", "call", "stats", "monitor",
            "capture"])
        self.assertIn(self.name, self.complete("lrpc", "monitor"))
        self.assertIn(self.name, self.complete("lrpc", "--transport",
                                               "shm", "info"))
        self.assertEqual(self.complete("lrpc", "info", self.name), [])


class SocketTest(LrpcTest, unittest.TestCase):
    transport = "socket"


class ShmTest(LrpcTest, unittest.TestCase):
    transport = "shm"


if __name__ == "__main__":
    unittest.main()
