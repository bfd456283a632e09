"""The lrpc command against servers that answer lrpc.Service with garbage
or not at all (tests/tools/hostile-server.c), once per transport: info,
introspect, call, stats, monitor and capture each exit 1 with a message
that names the field or the rule, never crash (also under ASan+UBSan) and
never outlast --timeout."""

from __future__ import annotations

import os
import subprocess
import time
import unittest

LRPC = os.environ.get("LRPC_TOOL", "")
SERVER = os.environ.get("HOSTILE_SERVER", "")

TIMEOUT = 1.0
# --timeout against servers that never answer: short, to keep the test so.
WAIT = 0.25
# Above --timeout: process start, connecting, a busy machine, ASan.
SLACK = 8.0

# The commands that make each request of the server (t.I is what the
# server serves besides lrpc.Service).
BY_TARGET = {
    "info": [("info",), ("introspect",), ("monitor", "-c", "1")],
    "describe": [("introspect", "t.I"), ("call", "t.I.m", "{}")],
    "stats": [("stats",), ("--json", "stats")],
    "call": [("call", "t.I.m", '{"n": 1}')],
}

# What a reply spoiled by each mode must be reported as, per target.
GARBAGE = {
    "truncated": {
        "info": "lrpc.Service.info->(): truncated (struct body of",
        "describe": "lrpc.Service.describe->(): truncated (struct body of",
        "stats": "lrpc.Service.stats->(): truncated (struct body of",
        "call": "t.S: truncated (struct body of 15 bytes, 5 left)",
    },
    "trailing": {
        "info": "lrpc.Service.info->(): trailing 3 bytes",
        "describe": "lrpc.Service.describe->(): trailing 3 bytes",
        "stats": "lrpc.Service.stats->(): trailing 3 bytes",
        "call": "t.S: trailing 3 bytes",
    },
    "huge": {
        "info": "info.interfaces: count 4294967295 cannot fit",
        "describe": "description.methods: count 4294967295 cannot fit",
        "stats": "stats.connections: count 4294967295 cannot fit",
        "call": "t.S: names: count 4294967295 cannot fit",
    },
    "utf8": {
        "info": "info.service: invalid UTF-8 at byte 0",
        "describe": "description.idl: invalid UTF-8 at byte 13",
        "stats": "stats.methods[0].interface_name: invalid UTF-8 at byte 0",
        "call": "t.S: names[0]: invalid UTF-8 at byte 0",
    },
    "kind": dict.fromkeys(
        BY_TARGET, "lrpc.BadMessage: Bad message: an answer of kind 5"),
    "status": dict.fromkeys(
        BY_TARGET, "lrpc.BadMessage: Bad message: an error reply with "
                   "status -70000"),
    "errlen": dict.fromkeys(
        BY_TARGET, "lrpc.BadMessage: Bad message: an error reply whose "
                   "message length does not match its size"),
}


class Hostile:
    def __init__(self, name: str, transport: str, mode: str,
                 target: str) -> None:
        self.proc = subprocess.Popen([SERVER, name, transport, mode, target],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class HostileTest:
    transport = ""

    def serve(self, mode: str, target: str = "none") -> str:
        name = f"lrpc-hostile.{os.getpid()}.{self.transport}.{mode}." \
               f"{target}"
        server = Hostile(name, self.transport, mode, target)
        self.addCleanup(server.stop)
        return name

    def lrpc(self, name: str, args, timeout: float = TIMEOUT):
        """Run `lrpc ARGS` on @name; exit 1, nothing on stdout (but the
        lines of a monitor), in time.  Returns its stderr."""
        start = time.monotonic()
        cmd, *rest = [a for a in args if a != "--json"]
        pre = ["--json"] if "--json" in args else []
        r = subprocess.run([LRPC, "--transport", self.transport, "--timeout",
                            str(timeout), *pre, cmd, name, *rest],
                           capture_output=True, text=True,
                           timeout=timeout + SLACK + 30)
        took = time.monotonic() - start
        self.assertEqual(r.returncode, 1, f"{args}: {r.stdout}{r.stderr}")
        self.assertEqual(r.stdout, "", args)
        self.assertLess(took, timeout + SLACK, args)
        if timeout == WAIT:
            self.assertGreaterEqual(took, WAIT, args)
        self.assertTrue(r.stderr.startswith("lrpc: "), r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        return r.stderr

    def test_garbage(self) -> None:
        for mode, expect in GARBAGE.items():
            for target, commands in BY_TARGET.items():
                name = self.serve(mode, target)
                for args in commands:
                    with self.subTest(mode=mode, args=args):
                        self.assertIn(expect[target], self.lrpc(name, args))

    def test_bad_descriptions(self) -> None:
        for mode, reason in [("index", "type 0 (t.S): field index 99 out of range"),
                             ("cycle", "type 0 (t.S) contains itself")]:
            name = self.serve(mode, "describe")
            with self.subTest(mode=mode):
                err = self.lrpc(name, ("call", "t.I.m", "{}"))
                self.assertIn("the server's description of t.I is "
                              "unusable: " + reason, err)

    def test_never_answers(self) -> None:
        # No answer at all, not even to a hello.
        name = self.serve("silent")
        for args in [c[0] for c in BY_TARGET.values()] + [
                ("monitor",), ("capture", "-w", os.devnull)]:
            with self.subTest(mode="silent", args=args):
                err = self.lrpc(name, args, WAIT)
                self.assertRegex(err, r"lrpc\.Timeout: Connection timed "
                                      r"out: .*no reply within the call's "
                                      r"timeout")
        # Hellos answered, the one request never.
        for target, commands in BY_TARGET.items():
            name = self.serve("mute", target)
            with self.subTest(mode="mute", args=commands[-1]):
                self.assertIn("no reply within the call's timeout",
                              self.lrpc(name, commands[-1], WAIT))
        # The tap is never answered: monitor and capture give up too.
        name = self.serve("good")
        for args in [("monitor",), ("capture", "-w", os.devnull)]:
            with self.subTest(mode="good", args=args):
                self.assertIn("lrpc.Service.tap(): no reply within",
                              self.lrpc(name, args, WAIT))
        # Connections never accepted: connect gives up.
        name = self.serve("frozen")
        for args in [("info",), ("call", "t.I.m", "{}")]:
            with self.subTest(mode="frozen", args=args):
                self.assertIn(f"{name}: cannot connect: Connection timed "
                              "out", self.lrpc(name, args, WAIT))

    def test_good_server_works(self) -> None:
        # The same server, unspoiled: what the other tests see is the
        # garbage, not a server the command cannot use at all.
        name = self.serve("good")
        for args in [("info",), ("introspect",), ("stats",),
                     ("call", "t.I.m", '{"n": 1}')]:
            with self.subTest(args=args):
                r = subprocess.run([LRPC, "--transport", self.transport,
                                    args[0], name, *args[1:]],
                                   capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"names": [', r.stdout)


class SocketTest(HostileTest, unittest.TestCase):
    transport = "socket"


class ShmTest(HostileTest, unittest.TestCase):
    transport = "shm"


if __name__ == "__main__":
    unittest.main()
