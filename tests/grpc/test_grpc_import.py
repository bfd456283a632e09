"""The gRPC gateway's import side against a remote it does not control.

The remote is a kv.Store served here by Python grpcio (stubs made by
protoc and grpc_python_plugin from the kv.proto the build generated),
scripted per test; kv-grpc-gateway import serves lrpc.example.kv from
it, and the kv example's own client is the local lrpc client.

- The Watch stream: when the remote ends it, the gateway says so (a log
  line with the count of such gaps) and opens the next one at once;
  only ends in a row soon after the open (the remote refusing it) wait,
  longer each time.  The events before and after reach the local client.
- Shutdown: on SIGTERM a call under way still gets its answer, new calls
  are refused (lrpc.Busy), and a call that outlasts --shutdown-wait is
  cancelled (the remote sees the cancel, the caller an error) before the
  gateway exits cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent import futures

from test_grpc_gateway import Proc, _need


class FakeStore:
    """kv.Store's Watch and Get as the tests script them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.watch_plans = []        # one per Watch opened, in order
        self.watch_opens = []        # monotonic time of each open
        self.watch_ends = []         # and of each end
        self.opened = threading.Condition(self.lock)
        self.send_a = threading.Event()
        self.end_first = threading.Event()
        self.get_started = threading.Event()
        self.get_cancelled = threading.Event()

    def changed(self, key: str, version: int):
        return kv_pb2.StoreEvent(changed=kv_pb2.ChangedEvent(
            key=key, version=version))

    def Watch(self, request, context):
        with self.lock:
            n = len(self.watch_opens)
            self.watch_opens.append(time.monotonic())
            plan = (self.watch_plans[n] if n < len(self.watch_plans)
                    else "hold")
            self.opened.notify_all()
        try:
            if plan == "refuse":
                context.abort(grpc.StatusCode.UNAVAILABLE, "not now")
            context.send_initial_metadata(())
            if plan == "first":
                self.send_a.wait(20)
                yield self.changed("w/a", 1)
                self.end_first.wait(20)
                return
            if plan == "once":
                yield self.changed("w/b", 2)
                return
            if plan == "last":
                yield self.changed("w/c", 3)
            while context.is_active():
                time.sleep(0.02)
        finally:
            with self.lock:
                self.watch_ends.append(time.monotonic())

    def wait_opens(self, n: int, timeout: float = 10) -> None:
        with self.lock:
            if not self.opened.wait_for(
                    lambda: len(self.watch_opens) >= n, timeout):
                raise AssertionError(
                    f"{len(self.watch_opens)} Watch streams opened, not "
                    f"{n}, within {timeout} s")

    def Get(self, request, context):
        self.get_started.set()
        if request.key.startswith("slow/"):
            time.sleep(int(request.key[5:]) / 1000)
            return kv_pb2.GetReply(entry=kv_pb2.Entry(
                key=request.key, value=b"late", version=7))
        while context.is_active():
            time.sleep(0.02)
        self.get_cancelled.set()
        return kv_pb2.GetReply()


class ImportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="lrpc-grpc-import-")
        out = os.path.join(cls.tmp, "py")
        os.mkdir(out)
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run(
            [_need("PROTOC"), "-I", _need("PROTO_DIR"), "-I", here,
             f"--python_out={out}", f"--grpc_python_out={out}",
             f"--plugin=protoc-gen-grpc_python={_need('GRPC_PYTHON_PLUGIN')}",
             "kv.proto", "common.proto"],
            check=True, timeout=60)
        sys.path.insert(0, out)
        global grpc, kv_pb2, empty_pb2
        import grpc  # noqa: F811
        import kv_pb2  # noqa: F811
        from google.protobuf import empty_pb2  # noqa: F811
        open(os.path.join(cls.tmp, "force"), "w").close()

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self) -> None:
        self.store = FakeStore()
        handlers = {
            "Watch": grpc.unary_stream_rpc_method_handler(
                self.store.Watch,
                request_deserializer=empty_pb2.Empty.FromString,
                response_serializer=kv_pb2.StoreEvent.SerializeToString),
            "Get": grpc.unary_unary_rpc_method_handler(
                self.store.Get,
                request_deserializer=kv_pb2.GetRequest.FromString,
                response_serializer=kv_pb2.GetReply.SerializeToString),
        }
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("kv.Store", handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.addCleanup(self.server.stop, 0)
        self.run_dir = tempfile.mkdtemp(dir=self.tmp)
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def env(self):
        env = dict(os.environ)
        env["LRPC_FORCE_FS_FILE"] = os.path.join(self.tmp, "force")
        env["LRPC_RUNTIME_DIR"] = self.run_dir
        return env

    def start(self, argv, ready: str) -> Proc:
        p = Proc(argv, self.env())
        self.procs.append(p)
        p.ready_line = p.wait_for(ready, timeout=20)
        return p

    def gateway(self, *args: str) -> Proc:
        return self.start([_need("KV_GATEWAY"), "import", "--service",
                           "lrpc.example.kv", "--connect",
                           f"127.0.0.1:{self.port}", "--transport",
                           "socket", *args], "importing")

    def client(self, *args: str) -> Proc:
        p = Proc([_need("KV_CLIENT"), "--transport", "socket", *args],
                 self.env())
        self.procs.append(p)
        return p

    def exit_status(self, p: Proc, timeout: float) -> int:
        try:
            return p.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"{p.argv[:2]} still runs after {timeout} s")

    def rest(self, p: Proc) -> str:
        """Everything @p printed so far that was not waited for (still
        there for wait_for)."""
        while not p.lines.empty():
            p.seen.append(p.lines.get())
        return "\n".join(p.seen)

    # --- Watch ----------------------------------------------------------

    def test_watch_ends(self) -> None:
        s = self.store
        s.watch_plans = ["first", "once", "refuse", "refuse", "last"]
        gw = self.gateway()
        s.wait_opens(1)
        watcher = self.client("watch", "3")
        watcher.wait_for("watching")
        time.sleep(0.3)          # its connection is set up
        s.send_a.set()
        watcher.wait_for("changed: w/a is now version 1")
        # Open a while: its end is the remote's doing, not a refusal.
        time.sleep(max(0.0, s.watch_opens[0] + 1.2 - time.monotonic()))
        s.end_first.set()
        line = gw.wait_for("the remote Watch stream ended")
        self.assertIn("kv.Store: ", line)
        self.assertIn("(OK)", line)
        self.assertIn("events are lost until it is open again (1 so far)",
                      line)
        watcher.wait_for("changed: w/b is now version 2")
        watcher.wait_for("changed: w/c is now version 3")
        self.assertEqual(self.exit_status(watcher, 10), 0)
        s.wait_opens(5)
        with s.lock:
            opens, ends = list(s.watch_opens), list(s.watch_ends)
        # At once after a stream that was open a while (the gateway used
        # to wait a second) ...
        self.assertLess(opens[1] - ends[0], 0.5, (opens, ends))
        # ... then longer each time: 100, 200, 400 ms.
        waits = [opens[k + 1] - ends[k] for k in (1, 2, 3)]
        for w, least in zip(waits, (0.1, 0.2, 0.4)):
            self.assertGreaterEqual(w, least * 0.9, waits)
        self.assertLess(waits[0], waits[1], waits)
        self.assertLess(waits[1], waits[2], waits)
        for n, rest in ((2, "(OK); events are lost until it is open again "
                            "(2 so far), opening it again in 100 ms"),
                        (3, "(UNAVAILABLE: not now); events are lost until "
                            "it is open again (3 so far), opening it again "
                            "in 200 ms"),
                        (4, "(UNAVAILABLE: not now); events are lost until "
                            "it is open again (4 so far), opening it again "
                            "in 400 ms")):
            self.assertIn(rest, gw.wait_for(f"({n} so far)"))
        gw.wait_for("kv.Store: the remote Watch stream is open again")
        self.assertEqual(gw.stop(), 0, self.rest(gw))

    # --- shutdown -------------------------------------------------------

    def test_shutdown_waits_for_calls(self) -> None:
        gw = self.gateway()
        get = self.client("get", "slow/1500")
        self.assertTrue(self.store.get_started.wait(10))
        t0 = time.monotonic()
        gw.p.send_signal(signal.SIGTERM)
        # Meanwhile new calls are refused.
        busy = subprocess.run([_need("KV_CLIENT"), "--transport", "socket",
                               "get", "other"], env=self.env(),
                              capture_output=True, text=True, timeout=20)
        self.assertNotEqual(busy.returncode, 0)
        self.assertIn("busy", (busy.stdout + busy.stderr).lower())
        get.wait_for('get slow/1500 = "late" (plain, version 7)')
        self.assertEqual(self.exit_status(get, 10), 0, self.rest(get))
        self.assertEqual(self.exit_status(gw, 10), 0, self.rest(gw))
        self.assertGreater(time.monotonic() - t0, 1.0)

    def test_shutdown_bounded(self) -> None:
        gw = self.gateway("--shutdown-wait", "1")
        get = self.client("get", "forever")
        self.assertTrue(self.store.get_started.wait(10))

        t0 = time.monotonic()
        gw.p.send_signal(signal.SIGTERM)
        self.assertEqual(self.exit_status(gw, 10), 0, self.rest(gw))
        took = time.monotonic() - t0
        self.assertGreater(took, 0.9)
        self.assertLess(took, 4)
        gw.wait_for("1 calls still under way: cancelled")
        self.assertTrue(self.store.get_cancelled.wait(5))
        self.assertNotEqual(self.exit_status(get, 10), 0)
        get.wait_for("get: ")


if __name__ == "__main__":
    unittest.main()
