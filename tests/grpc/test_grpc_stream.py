"""Stream methods through the gRPC gateway (docs/remote.md).

Export: a Python client (protoc --python_out and grpc_python_plugin on
the feed.proto the build generated) calls feed-server through
feed-grpc-gateway export over 127.0.0.1 (plaintext, loopback): a stream
method is a server-streaming rpc whose messages are the lrpc items in
order, ending with OK or the typed error's status; a cancel and a
deadline reach the lrpc handler's abandon handler.

Import: feed-client, a C client with the generated stubs, reads the same
streams from feed-grpc-gateway import, which forwards them to the export
gateway (lrpc -> gRPC -> lrpc): the items in order, the typed error, a
cancel, a client gone and a deadline reaching the real server's abandon
handler, and a paused reader holding the real server back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from test_grpc_gateway import Proc, _need

# The name the import gateway serves feed.Feed under.
IMPORTED = "lrpc.test.feed-imported"


class StreamTest(unittest.TestCase):
    procs = []

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="lrpc-grpc-stream-")
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
                bad.append(f"{' '.join(p.argv[:2])}: exit status "
                           f"{p.p.returncode}: {p.seen}")
        cls.procs = []
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if bad:
            raise AssertionError("\n".join(bad))

    @classmethod
    def env(cls):
        env = dict(os.environ)
        env["LRPC_FORCE_FS_FILE"] = os.path.join(cls.tmp, "force")
        env["LRPC_RUNTIME_DIR"] = os.path.join(cls.tmp, "run")
        return env

    @classmethod
    def start(cls, argv, ready: str) -> Proc:
        p = Proc(argv, cls.env())
        cls.procs.append(p)
        p.ready_line = p.wait_for(ready)
        return p

    @classmethod
    def _setup(cls) -> None:
        out = os.path.join(cls.tmp, "py")
        os.mkdir(out)
        os.mkdir(os.path.join(cls.tmp, "run"))
        open(os.path.join(cls.tmp, "force"), "w").close()
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run(
            [_need("PROTOC"), "-I", _need("PROTO_DIR"), "-I", here,
             f"--python_out={out}", f"--grpc_python_out={out}",
             f"--plugin=protoc-gen-grpc_python={_need('GRPC_PYTHON_PLUGIN')}",
             "feed.proto", "rpc_status.proto"],
            check=True, timeout=60)
        sys.path.insert(0, out)
        global grpc, feed_pb2, feed_pb2_grpc, rpc_status_pb2
        import grpc  # noqa: F811
        import feed_pb2  # noqa: F811
        import feed_pb2_grpc  # noqa: F811
        import rpc_status_pb2  # noqa: F811
        cls.server = cls.start([_need("FEED_SERVER"), "lrpc.test.feed"],
                               "serving")
        ex = cls.start([_need("FEED_GATEWAY"), "export", "--service",
                        "lrpc.test.feed", "--listen", "127.0.0.1:0"],
                       "on port")
        cls.port = int(ex.ready_line.rsplit(" ", 1)[1])
        cls.start([_need("FEED_GATEWAY"), "import", "--service",
                   IMPORTED, "--connect", f"127.0.0.1:{cls.port}"],
                  "importing")

    def stub(self):
        ch = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.addCleanup(ch.close)
        return feed_pb2_grpc.FeedStub(ch)

    def count(self, n: int, fail: bool = False):
        return self.stub().Count(feed_pb2.CountRequest(n=n, fail=fail),
                                 timeout=30)

    def check_items(self, items, n: int) -> None:
        self.assertEqual([(i.seq, i.text) for i in items],
                         [(k, f"item {k}") for k in range(n)])

    def test_items(self) -> None:
        for n in (0, 1, 5000):
            with self.subTest(n=n):
                self.check_items(list(self.count(n)), n)

    def test_slow_reader(self) -> None:
        """A reader that pauses is not dropped: the items wait within
        the bound (the lrpc window, then the gateway's queue)."""
        it = self.count(500)
        first = next(it)
        time.sleep(0.5)
        self.check_items([first] + list(it), 500)

    def test_flow_control(self) -> None:
        """A reader that stops holds the lrpc server back: what it sent
        is what was read, plus gRPC's own buffers and one lrpc window,
        not what the server could have made in the meantime."""
        size = 16384
        it = self.stub().Forever(feed_pb2.ForeverRequest(size=size),
                                 timeout=30)
        for k in range(5):
            item = next(it)
            self.assertEqual((item.seq, len(item.data)), (k, size))
        time.sleep(1)
        it.cancel()
        line = self.server.wait_for("abandoned", timeout=5)
        sent = int(line.rsplit(" ", 1)[1])
        # gRPC's HTTP/2 windows and the client library's read-ahead take
        # some MiB of these (about 400 items here); without the bound, the
        # gateway takes everything the server makes (80000 and more).
        self.assertLess(sent, 16 * 1024 * 1024 // size + 64 + 5, line)

    def test_typed_error(self) -> None:
        it = self.count(3, fail=True)
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for item in it:
                got.append(item)
        self.check_items(got, 3)
        err = cm.exception
        self.assertEqual(err.code(), grpc.StatusCode.FAILED_PRECONDITION,
                         err.details())
        self.assertEqual(err.details(), "stopped on request")
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                status = rpc_status_pb2.Status.FromString(value)
                lerr = feed_pb2.LrpcError.FromString(
                    status.details[0].value)
                self.assertEqual(lerr.name, "feed.FeedError.STOPPED")
                self.assertEqual(lerr.code, 1)
                return
        self.fail(f"no status details in {err}")

    def test_cancel(self) -> None:
        it = self.stub().Hold(feed_pb2.HoldRequest(n=3), timeout=30)
        self.assertEqual([next(it).seq for _ in range(3)], [0, 1, 2])
        self.server.wait_for("holding 3")
        it.cancel()
        line = self.server.wait_for("abandoned", timeout=5)
        self.assertIn("cancel", line.lower())

    def test_deadline(self) -> None:
        t0 = time.monotonic()
        it = self.stub().Hold(feed_pb2.HoldRequest(n=2), timeout=0.5)
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for item in it:
                got.append(item.seq)
        self.assertEqual(got, [0, 1])
        self.assertEqual(cm.exception.code(),
                         grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - t0, 3)
        self.server.wait_for("holding 2")
        self.server.wait_for("abandoned", timeout=5)

    # --- import: an lrpc client of the import gateway --------------------

    def client(self, *args: str, code: int = 0) -> list:
        r = subprocess.run([_need("FEED_CLIENT"), IMPORTED, *args],
                           env=self.env(), capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        return r.stdout.splitlines()

    def test_import_items(self) -> None:
        for n in (0, 1, 5000):
            with self.subTest(n=n):
                self.assertEqual(self.client("count", str(n)),
                                 [f"items {n}", "end ok"])

    def test_import_typed_error(self) -> None:
        """The typed error after some items is the same typed error, with
        its message, for the lrpc client."""
        self.assertEqual(self.client("count", "3", "fail", code=1),
                         ["items 3",
                          "end 1 feed.FeedError.STOPPED stopped on request"])

    def test_import_cancel(self) -> None:
        self.assertEqual(self.client("hold", "6", "cancel"),
                         ["got 6", "closed"])
        self.server.wait_for("holding 6")
        line = self.server.wait_for("abandoned", timeout=5)
        self.assertIn("cancel", line.lower())

    def test_import_client_gone(self) -> None:
        p = Proc([_need("FEED_CLIENT"), IMPORTED, "hold", "7", "wait"],
                 self.env())
        try:
            p.wait_for("got 7")
            self.server.wait_for("holding 7")
            p.p.kill()
            p.p.wait(timeout=5)
        finally:
            p.stop()
        self.server.wait_for("abandoned", timeout=5)

    def test_import_deadline(self) -> None:
        """The lrpc caller's deadline travels on as the gRPC deadline (the
        real server sees it, not lrpc's 25 s default) and ends the
        stream there too."""
        t0 = time.monotonic()
        self.assertEqual(self.client("hold", "8", "deadline", "1500"),
                         ["got 8", "end Connection timed out"])
        self.assertLess(time.monotonic() - t0, 5)
        line = self.server.wait_for("holding 8")
        left = int(line.split()[3])
        # Each hop rounds the time left a little (lrpc's wire, gRPC's
        # grpc-timeout header); without the deadline it would be 30 s.
        self.assertLess(left, 1700, line)
        self.assertGreater(left, 0, line)
        self.server.wait_for("abandoned", timeout=5)

    def test_import_flow_control(self) -> None:
        """A local reader that stops holds the real server back through
        both gateways: what it sent is what was read plus the lrpc windows
        (the local client's, export's), the item import holds and gRPC's
        buffers between the gateways."""
        size = 16384
        p = Proc([_need("FEED_CLIENT"), IMPORTED, "forever", str(size),
                  "5", "1"], self.env())
        try:
            p.wait_for("got 5")
            self.assertEqual(p.p.wait(timeout=15), 0)
        finally:
            p.stop()
        line = self.server.wait_for("abandoned", timeout=5)
        sent = int(line.rsplit(" ", 1)[1])
        self.assertLess(sent, 16 * 1024 * 1024 // size + 2 * 64 + 1 + 5,
                        line)

    def test_import_shutdown_paused_reader(self) -> None:
        """A stream whose local reader stopped, with an item waiting in the
        gateway for room, is cancelled at shutdown like any call, within
        --shutdown-wait, not waited for."""
        name = IMPORTED + "-2"
        gw = Proc([_need("FEED_GATEWAY"), "import", "--service", name,
                   "--connect", f"127.0.0.1:{self.port}",
                   "--shutdown-wait", "0.5"], self.env())
        reader = None
        try:
            gw.wait_for("importing")
            reader = Proc([_need("FEED_CLIENT"), name, "forever", "16384",
                           "5", "30"], self.env())
            reader.wait_for("got 5")
            time.sleep(0.5)      # the windows fill up
            t0 = time.monotonic()
            gw.p.terminate()
            self.assertEqual(gw.p.wait(timeout=10), 0)
            self.assertLess(time.monotonic() - t0, 1.4)
            gw.wait_for("1 calls still under way: cancelled")
            self.server.wait_for("abandoned", timeout=5)
        finally:
            if reader:
                reader.stop()
            gw.stop()
        self.assertNotIn("did not end", "\n".join(gw.seen))


if __name__ == "__main__":
    unittest.main()
