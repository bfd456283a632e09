"""Stream methods through the gRPC gateway's export side (docs/remote.md).

A Python client (protoc --python_out and grpc_python_plugin on the
feed.proto the build generated) calls feed-server through
feed-grpc-gateway export over 127.0.0.1 (plaintext, loopback): a stream
method is a server-streaming rpc whose messages are the lrpc items in
order, ending with OK or the typed error's status; a cancel and a
deadline reach the lrpc handler's abandon handler.
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
    def start(cls, argv, ready: str) -> Proc:
        env = dict(os.environ)
        env["LRPC_FORCE_FS_FILE"] = os.path.join(cls.tmp, "force")
        env["LRPC_RUNTIME_DIR"] = os.path.join(cls.tmp, "run")
        p = Proc(argv, env)
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
        self.server.wait_for("abandoned", timeout=5)


if __name__ == "__main__":
    unittest.main()
