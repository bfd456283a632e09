"""The gRPC gateway (docs/remote.md) with the kv example.

A Python client (protoc --python_out and grpc_python_plugin, run here on
the kv.proto and common.proto the build generated) calls the real kv
example server through kv-grpc-gateway export over 127.0.0.1 with TLS
(a throwaway CA and certificates made by openssl): every type of kv.idl
round-trips, typed errors arrive as statuses with an LrpcError detail, bad
input is refused (a request that does not decode, an unknown method, a
message over the size limit, a client without a certificate, a value that
breaks an IDL rule), the policy limits what an identity may call, and
events stream.  A second gateway in front of a server that keeps its calls
shows a deadline expiring and a cancel reaching the lrpc handler.  Then
the import direction: kv-grpc-gateway import serves lrpc.example.kv in
another runtime directory, forwarding to the export gateway, and the kv
example's own client talks to it (lrpc -> gRPC -> lrpc).

Each lrpc process runs with filesystem sockets in a directory of its own
(LRPC_FORCE_FS_FILE, LRPC_RUNTIME_DIR), so two lrpc.example.kv coexist and
nothing outside the test's temporary directory is touched.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ENV = os.environ


def _need(name: str) -> str:
    value = ENV.get(name)
    if not value:
        raise unittest.SkipTest(f"{name} is not set (run by meson test)")
    return value


class Proc:
    """A background process whose stdout lines are collected."""

    def __init__(self, argv, env) -> None:
        self.argv = argv
        self.p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        end = time.monotonic() + timeout
        for line in self.seen:
            if text in line:
                self.seen.remove(line)
                return line
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{os.path.basename(self.argv[0])}: no {text!r} "
                    f"within {timeout} s; got {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if text in line:
                return line
            self.seen.append(line)

    def stop(self) -> int:
        """Stop it with SIGTERM; its exit status (0 after a clean stop,
        also under ASan's leak check)."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class GatewayTest(unittest.TestCase):
    procs = []

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="lrpc-grpc-")
        try:
            cls._setup()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        bad = []
        for p in reversed(cls.procs):
            if p.stop() != 0:
                rest = []
                while not p.lines.empty():
                    rest.append(p.lines.get())
                bad.append(f"{' '.join(p.argv[:2])}: exit status "
                           f"{p.p.returncode}: {p.seen + rest}")
        cls.procs = []
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if bad:
            raise AssertionError("\n".join(bad))

    @classmethod
    def env(cls, runtime: str):
        env = dict(os.environ)
        env["LRPC_FORCE_FS_FILE"] = os.path.join(cls.tmp, "force")
        env["LRPC_RUNTIME_DIR"] = os.path.join(cls.tmp, runtime)
        return env

    @classmethod
    def start(cls, argv, runtime: str, ready: str) -> Proc:
        p = Proc(argv, cls.env(runtime))
        cls.procs.append(p)
        line = p.wait_for(ready)
        p.ready_line = line
        return p

    @classmethod
    def certs(cls) -> None:
        openssl = _need("OPENSSL")
        d = os.path.join(cls.tmp, "tls")
        os.mkdir(d)

        def run(*args):
            subprocess.run([openssl, *args], cwd=d, check=True,
                           capture_output=True, timeout=30)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes"]
        run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=lrpc test CA")
        for name, san in (("server", "IP:127.0.0.1,DNS:localhost"),
                          ("alice", None), ("mallory", None)):
            run("req", *ec, "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}")
            ext = os.path.join(d, f"{name}.ext")
            with open(ext, "w") as f:
                f.write(f"subjectAltName={san}\n" if san else
                        "extendedKeyUsage=clientAuth\n")
            run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-out",
                f"{name}.pem", "-days", "1", "-extfile", ext)
        cls.tls = d

    @classmethod
    def python_stubs(cls) -> None:
        out = os.path.join(cls.tmp, "py")
        os.mkdir(out)
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run(
            [_need("PROTOC"), "-I", _need("PROTO_DIR"), "-I", here,
             f"--python_out={out}", f"--grpc_python_out={out}",
             f"--plugin=protoc-gen-grpc_python={_need('GRPC_PYTHON_PLUGIN')}",
             "kv.proto", "common.proto", "rpc_status.proto"],
            check=True, timeout=60)
        sys.path.insert(0, out)
        global grpc, kv_pb2, kv_pb2_grpc, rpc_status_pb2, empty_pb2
        import grpc  # noqa: F811
        import kv_pb2  # noqa: F811
        import kv_pb2_grpc  # noqa: F811
        import rpc_status_pb2  # noqa: F811
        from google.protobuf import empty_pb2  # noqa: F811

    @classmethod
    def _setup(cls) -> None:
        gateway = _need("KV_GATEWAY")
        cls.gateway = gateway
        cls.certs()
        cls.python_stubs()
        open(os.path.join(cls.tmp, "force"), "w").close()
        for d in ("a", "b"):
            os.mkdir(os.path.join(cls.tmp, d))
        cls.start([_need("KV_SERVER"), "--transport", "socket"], "a",
                  "serving")
        cls.start([_need("SLOW_SERVER"), "lrpc.test.kv-slow"], "a",
                  "serving")
        cls.slow = cls.procs[-1]
        t = cls.tls
        policy = os.path.join(cls.tmp, "policy")
        with open(policy, "w") as f:
            f.write("# who may call what\n"
                    "alice  *\n"
                    "mallory kv.Store.get kv.Store.list\n")
        ex = cls.start([gateway, "export", "--service", "lrpc.example.kv",
                        "--listen", "127.0.0.1:0",
                        "--cert", f"{t}/server.pem", "--key",
                        f"{t}/server.key", "--ca", f"{t}/ca.pem",
                        "--require-client-cert", "--policy", policy,
                        "--max-message", "300000"], "a", "on port")
        cls.port = int(ex.ready_line.rsplit(" ", 1)[1])
        # Plaintext is fine on loopback.
        ex2 = cls.start([gateway, "export", "--service", "lrpc.test.kv-slow",
                         "--listen", "127.0.0.1:0"], "a", "on port")
        cls.slow_port = int(ex2.ready_line.rsplit(" ", 1)[1])

    # --- clients --------------------------------------------------------

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.tls, name), "rb") as f:
            return f.read()

    def channel(self, who: str = "alice"):
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.read("ca.pem"),
            private_key=self.read(f"{who}.key") if who else None,
            certificate_chain=self.read(f"{who}.pem") if who else None)
        ch = grpc.secure_channel(f"127.0.0.1:{self.port}", creds)
        self.addCleanup(ch.close)
        return ch

    def stub(self, who: str = "alice"):
        return kv_pb2_grpc.StoreStub(self.channel(who))

    def slow_stub(self):
        ch = grpc.insecure_channel(f"127.0.0.1:{self.slow_port}")
        self.addCleanup(ch.close)
        return kv_pb2_grpc.StoreStub(ch)

    def lrpc_error(self, err):
        """The LrpcError detail of a failed call's status."""
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                status = rpc_status_pb2.Status.FromString(value)
                self.assertEqual(status.code, err.code().value[0])
                self.assertEqual(len(status.details), 1)
                any_ = status.details[0]
                self.assertEqual(any_.type_url,
                                 "type.googleapis.com/kv.LrpcError")
                return kv_pb2.LrpcError.FromString(any_.value)
        self.fail(f"no status details in {err}")

    def fails(self, code, fn, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception

    # --- export ---------------------------------------------------------

    def test_round_trip(self) -> None:
        s = self.stub()
        blob = bytes(range(256)) * 256                 # 64 KiB, the @max
        v1 = s.Put(kv_pb2.PutRequest(key="rt/blob",
                                     value=kv_pb2.Value(data=blob)),
                   timeout=10).version
        self.assertGreaterEqual(v1, 1)
        v2 = s.Put(kv_pb2.PutRequest(key="rt/count",
                                     value=kv_pb2.Value(counter=-41)),
                   timeout=10).version
        e = s.Get(kv_pb2.GetRequest(key="rt/blob"), timeout=10).entry
        self.assertEqual((e.key, e.value, e.version, e.kind),
                         ("rt/blob", blob, v1, kv_pb2.KIND_PLAIN))
        self.assertTrue(e.HasField("origin"))
        self.assertEqual(e.origin.uid, os.getuid())
        self.assertGreater(e.origin.pid, 0)
        # A oneway call: Empty comes back once it is sent.
        s.Touch(kv_pb2.TouchRequest(key="rt/count"), timeout=10)
        for _ in range(100):
            e = s.Get(kv_pb2.GetRequest(key="rt/count"), timeout=10).entry
            if e.version > v2:
                break
            time.sleep(0.02)
        self.assertEqual(e.kind, kv_pb2.KIND_COUNTER)
        self.assertEqual(e.version, v2 + 1)
        self.assertEqual(int.from_bytes(e.value, "little", signed=True),
                         -40)
        items = s.List(kv_pb2.ListRequest(prefix="rt/", limit=0),
                       timeout=10).items
        self.assertEqual([i.key for i in items], ["rt/blob", "rt/count"])
        self.assertEqual(len(s.List(kv_pb2.ListRequest(prefix="rt/",
                                                       limit=1)).items), 1)
        counts = s.Stats(kv_pb2.StatsRequest(), timeout=10).counts
        self.assertGreaterEqual(counts[kv_pb2.KIND_PLAIN], 1)
        self.assertGreaterEqual(counts[kv_pb2.KIND_COUNTER], 1)
        s.Delete(kv_pb2.DeleteRequest(key="rt/blob"), timeout=10)
        s.Delete(kv_pb2.DeleteRequest(key="rt/count"), timeout=10)
        self.assertEqual(list(s.List(kv_pb2.ListRequest(prefix="rt/"))
                              .items), [])

    def test_typed_error(self) -> None:
        err = self.fails(grpc.StatusCode.FAILED_PRECONDITION,
                         self.stub().Get, kv_pb2.GetRequest(key="nosuch"),
                         timeout=10)
        detail = self.lrpc_error(err)
        self.assertEqual((detail.name, detail.code),
                         ("kv.KvError.NOT_FOUND", 1))
        err = self.fails(grpc.StatusCode.FAILED_PRECONDITION,
                         self.stub().Delete,
                         kv_pb2.DeleteRequest(key="nosuch"), timeout=10)
        self.assertEqual(self.lrpc_error(err).name, "kv.KvError.NOT_FOUND")

    def test_idl_rules(self) -> None:
        s = self.stub()
        cases = [
            (s.Get, kv_pb2.GetRequest(key="k" * 257), "kv.Store.get.key"),
            (s.Put, kv_pb2.PutRequest(key="x"), "kv.Value: no case set"),
            (s.Put, kv_pb2.PutRequest(key="x", value=kv_pb2.Value(
                data=b"v" * 65537)), "kv.Value.data"),
            (s.Get, kv_pb2.GetRequest(key="a\0b"), "NUL"),
        ]
        for fn, req, what in cases:
            with self.subTest(what=what):
                err = self.fails(grpc.StatusCode.INVALID_ARGUMENT, fn, req,
                                 timeout=10)
                self.assertIn(what, err.details())
                self.assertEqual(self.lrpc_error(err).name,
                                 "lrpc.InvalidArgument")

    def test_undecodable_request(self) -> None:
        call = self.channel().unary_unary("/kv.Store/Get")
        err = self.fails(grpc.StatusCode.INVALID_ARGUMENT, call,
                         b"\xff\xff\xff\xff", timeout=10)
        self.assertIn("does not decode", err.details())

    def test_unknown_method(self) -> None:
        call = self.channel().unary_unary("/kv.Store/Frobnicate")
        self.fails(grpc.StatusCode.UNIMPLEMENTED, call, b"", timeout=10)
        call = self.channel().unary_unary("/kv.Nope/Get")
        self.fails(grpc.StatusCode.UNIMPLEMENTED, call, b"", timeout=10)

    def test_message_too_large(self) -> None:
        req = kv_pb2.PutRequest(key="big",
                                value=kv_pb2.Value(data=b"x" * 400000))
        self.fails(grpc.StatusCode.RESOURCE_EXHAUSTED, self.stub().Put, req,
                   timeout=10)

    def test_client_certificate_required(self) -> None:
        self.fails(grpc.StatusCode.UNAVAILABLE, self.stub(None).Get,
                   kv_pb2.GetRequest(key="x"), timeout=10)

    def test_policy(self) -> None:
        s = self.stub("mallory")
        self.fails(grpc.StatusCode.FAILED_PRECONDITION, s.Get,
                   kv_pb2.GetRequest(key="nosuch"), timeout=10)
        err = self.fails(grpc.StatusCode.PERMISSION_DENIED, s.Put,
                         kv_pb2.PutRequest(key="m", value=kv_pb2.Value(
                             counter=1)), timeout=10)
        self.assertIn("mallory may not call kv.Store.put", err.details())
        self.assertEqual(self.lrpc_error(err).name, "lrpc.AccessDenied")
        stream = s.Watch(empty_pb2.Empty(), timeout=10)
        with self.assertRaises(grpc.RpcError) as cm:
            next(stream)
        self.assertEqual(cm.exception.code(),
                         grpc.StatusCode.PERMISSION_DENIED)

    def test_events(self) -> None:
        s = self.stub()
        stream = s.Watch(empty_pb2.Empty(), timeout=20)
        stream.initial_metadata()      # the watch is set up
        v = s.Put(kv_pb2.PutRequest(key="ev/1", value=kv_pb2.Value(
            data=b"x")), timeout=10).version
        s.Delete(kv_pb2.DeleteRequest(key="ev/1"), timeout=10)
        got = []
        for ev in stream:
            self.assertEqual(ev.WhichOneof("event"), "changed")
            got.append((ev.changed.key, ev.changed.version))
            if len(got) == 2:
                break
        stream.cancel()
        self.assertEqual(got, [("ev/1", v), ("ev/1", 0)])

    def test_deadline(self) -> None:
        t0 = time.monotonic()
        err = self.fails(grpc.StatusCode.DEADLINE_EXCEEDED,
                         self.slow_stub().Get,
                         kv_pb2.GetRequest(key="slow-deadline"), timeout=0.5)
        self.assertLess(time.monotonic() - t0, 3)
        del err
        self.slow.wait_for("abandoned slow-deadline")

    def test_cancel(self) -> None:
        fut = self.slow_stub().Get.future(
            kv_pb2.GetRequest(key="slow-cancel"), timeout=30)
        self.slow.wait_for("holding slow-cancel")
        self.assertTrue(fut.cancel())
        line = self.slow.wait_for("abandoned slow-cancel", timeout=5)
        self.assertIn("cancel", line.lower())

    def test_many_held_calls(self) -> None:
        """Calls the service holds do not hold the gateway: 40 at once,
        then a quick call among them, then 40 cancels, each reaching the
        lrpc handler; and 20 more ending at their deadline."""
        stub = self.slow_stub()
        futs = [stub.Get.future(kv_pb2.GetRequest(key=f"slow-many-{i}"),
                                timeout=30) for i in range(40)]
        for _ in range(40):        # (any order; each line once)
            self.slow.wait_for("holding slow-many-", timeout=10)
        t0 = time.monotonic()
        # (kv.KvError.NOT_FOUND, a typed error: FAILED_PRECONDITION)
        self.fails(grpc.StatusCode.FAILED_PRECONDITION, stub.Get,
                   kv_pb2.GetRequest(key="quick"), timeout=5)
        self.assertLess(time.monotonic() - t0, 2)
        for f in futs:
            self.assertTrue(f.cancel())
        for _ in range(40):
            line = self.slow.wait_for("abandoned slow-many-", timeout=10)
            self.assertIn("cancel", line.lower())
        t0 = time.monotonic()
        futs = [stub.Get.future(kv_pb2.GetRequest(key=f"slow-dl-{i}"),
                                timeout=0.5) for i in range(20)]
        for f in futs:
            with self.assertRaises(grpc.RpcError) as cm:
                f.result()
            self.assertEqual(cm.exception.code(),
                             grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - t0, 5)
        for _ in range(20):
            self.slow.wait_for("abandoned slow-dl-", timeout=10)

    def test_service_restart(self) -> None:
        """Calls fail as UNAVAILABLE while the lrpc service is gone and
        reach it again once it is back."""
        name = "lrpc.test.kv-restart"
        server = self.start([_need("SLOW_SERVER"), name], "a", "serving")
        ex = self.start([self.gateway, "export", "--service", name,
                         "--listen", "127.0.0.1:0"], "a", "on port")
        ch = grpc.insecure_channel(
            f"127.0.0.1:{int(ex.ready_line.rsplit(' ', 1)[1])}")
        self.addCleanup(ch.close)
        s = kv_pb2_grpc.StoreStub(ch)
        req = kv_pb2.GetRequest(key="nosuch")
        self.fails(grpc.StatusCode.FAILED_PRECONDITION, s.Get, req,
                   timeout=10)
        server.stop()
        err = self.fails(grpc.StatusCode.UNAVAILABLE, s.Get, req,
                         timeout=10)
        self.assertEqual(self.lrpc_error(err).name, "lrpc.Errno")
        self.start([_need("SLOW_SERVER"), name], "a", "serving")
        end = time.monotonic() + 10
        while True:
            try:
                s.Get(req, timeout=10)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    break
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertLess(time.monotonic(), end, "not reconnected")
            time.sleep(0.1)

    def test_plaintext_refused_off_loopback(self) -> None:
        r = subprocess.run([self.gateway, "export", "--service",
                            "lrpc.example.kv", "--listen", "0.0.0.0:0"],
                           env=self.env("a"), capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("plaintext only on a loopback address", r.stderr)

    # --- import ---------------------------------------------------------

    def kv(self, *args, ok=True):
        r = subprocess.run([_need("KV_CLIENT"), "--transport", "socket",
                            *args], env=self.env("b"), capture_output=True,
                           text=True, timeout=20)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_import(self) -> None:
        t = self.tls
        self.start([self.gateway, "import", "--service", "lrpc.example.kv",
                    "--connect", f"127.0.0.1:{self.port}",
                    "--transport", "socket",
                    "--ca", f"{t}/ca.pem", "--cert", f"{t}/alice.pem",
                    "--key", f"{t}/alice.key"], "b", "importing")
        watcher = Proc([_need("KV_CLIENT"), "--transport", "socket",
                        "watch", "2"], self.env("b"))
        self.procs.append(watcher)
        watcher.wait_for("watching")
        time.sleep(0.3)        # the importer's Watch stream is open
        out = self.kv("put", "imp/a", "hello")
        self.assertRegex(out, r"^put imp/a: version \d+\n$")
        self.assertIn('get imp/a = "hello" (plain, version',
                      self.kv("get", "imp/a"))
        self.assertIn("put-counter imp/c: version",
                      self.kv("put-counter", "imp/c", "41"))
        self.assertIn("get imp/c = 41 (counter", self.kv("get", "imp/c"))
        listing = self.kv("list")
        self.assertIn("imp/a", listing)
        self.assertIn("imp/c", listing)
        self.assertIn("stats:", self.kv("stats"))
        out = self.kv("get", "imp/none", ok=False)
        self.assertIn("kv.KvError.NOT_FOUND", out)
        # Async calls with a deadline; the one still out when the first
        # entry arrives is cancelled.
        self.assertIn("get-first imp/a = \"hello\"",
                      self.kv("get-first", "imp/none", "imp/a"))
        watcher.wait_for("changed: imp/a is now version")
        watcher.wait_for("changed: imp/c is now version")
        self.kv("delete", "imp/a")
        self.kv("delete", "imp/c")


if __name__ == "__main__":
    unittest.main()
