#!/usr/bin/env python3
"""Write the seed corpora of the hand-written fuzz targets.

    tests/fuzz/gen-seeds.py [TESTS_FUZZ_DIR]

Each seed is real traffic in the target's input format (see the comment
at the top of each fuzz-*.c): valid hellos, welcomes with the fds a server
attaches, records cut at various points, ring images of honest records,
RPC messages of every kind.  The encoders are docs/wire.md's tables; the
interface hash comes from the generator itself.  The corpora of the
generated harnesses come from gen-idl-seeds.c, that of rpc-roundtrip from
test-rpc-roundtrip (LRPC_TEST_CORPUS_OUT).
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "codegen"))

HELLO_MAGIC, WELCOME_MAGIC = 0x4850524C, 0x5750524C
REQUEST, RESPONSE, EVENT = 1, 2, 3
BEST, SOCKET, SHM = 0, 1, 2
K_REQUEST, K_REPLY, K_ERROR, K_ONEWAY, K_EVENT, K_HELLO, K_HELLO_REPLY, \
    K_CANCEL = range(1, 9)


def hello(transport=SOCKET, max_msg=4096, magic=HELLO_MAGIC, version=1):
    return struct.pack("<IHHII16x", magic, version, transport, max_msg, 0)


def welcome(transport, status=0, max_msg=4096, n_fds=0):
    return struct.pack("<IHHiIIIQ", WELCOME_MAGIC, 1, transport, status,
                       max_msg, n_fds, 0, 0)


def record(payload=b"", msg_id=1, kind=REQUEST, seq=1, error=0):
    size = 24 + len(payload)
    raw = struct.pack("<IiiIQ", size, msg_id, error, kind, seq) + payload
    return raw + b"\0" * (-len(raw) % 8)


def chunks(data, cut):
    """Length-prefixed chunks of at most ``cut`` (<= 255) bytes."""
    out = b""
    for i in range(0, len(data), cut):
        part = data[i:i + cut]
        out += bytes([len(part)]) + part
    return out


def rpc_header(call_id, method, kind, version=1, status=0, hash_=0):
    return struct.pack("<QHHHHiI", call_id, method, kind, version, 0,
                       status, hash_)


def params(*fields):
    """A parameter list: u32 body size, u16 count, the fields."""
    body = struct.pack("<H", len(fields)) + b"".join(fields)
    return struct.pack("<I", len(body)) + body


def rt_types():
    from lrpc_gen.__main__ import OsFileSystem
    from lrpc_gen.errors import Diagnostics
    from lrpc_gen.frontend import check
    from lrpc_gen.hashing import fnv1a32
    res = check(os.path.join(ROOT, "tests", "integration", "rpc-types.idl"),
                [], OsFileSystem(), Diagnostics())
    iface = res.model.main.interfaces[0]
    return fnv1a32("rt.Types"), iface.hashes[0]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def framer():
    recs = (record(b"ping", seq=1) + record(b"", seq=2) +
            record(bytes(range(200)), seq=3) + record(b"x" * 1000, seq=4))
    setup = REQUEST | (2 << 2)   # requests, 4096 bytes at most
    write("framer", "records-whole", bytes([setup]) + chunks(recs, 255))
    write("framer", "records-1-byte", bytes([setup]) + chunks(recs[:200], 1))
    write("framer", "records-7-bytes", bytes([setup]) + chunks(recs, 7))
    write("framer", "any-kind", bytes([2 << 2]) + chunks(
        record(b"a", kind=RESPONSE) + record(b"b", kind=EVENT), 13))
    write("framer", "too-large", bytes([setup]) + chunks(
        struct.pack("<IiiIQ", 5000, 1, 0, REQUEST, 1), 24))
    write("framer", "wrong-kind", bytes([setup]) + chunks(
        record(b"r", kind=RESPONSE), 255))


def ring_record(payload, rtype=1):
    raw = struct.pack("<II", len(payload), rtype) + payload
    return raw + b"\0" * (-len(raw) % 8)


def shm_ring():
    def msg(kind, n=40):
        return ring_record(struct.pack("<IiiIQ", 24 + n, 1, 0, kind, 1) +
                           bytes(n))

    for chan, kind in ((0, REQUEST), (1, RESPONSE), (2, EVENT)):
        img = msg(kind) + msg(kind, 100) + msg(kind, 0)
        image = bytes([0]) + struct.pack("<H", len(img)) + img
        setup = 1 | (chan << 3)
        write("shm-ring", f"fresh-chan{chan}", bytes([setup]) + image)
        mid = bytes([setup | 4, 40]) + struct.pack("<H", 3000) * 40
        write("shm-ring", f"mid-stream-chan{chan}", mid + image)
        pad = ring_record(bytes(64), 2)
        image2 = bytes([0]) + struct.pack("<H", len(pad + img)) + pad + img
        write("shm-ring", f"pad-chan{chan}", bytes([setup]) + image2)
    write("shm-ring", "hostile-consumer",
          bytes([1 | (3 << 3), 0]) + struct.pack("<I", 0) +
          struct.pack("<H", 1000) * 8 + bytes([1]) + struct.pack("<Q", 1 << 40)
          + struct.pack("<H", 100) * 8)


def fd_kinds(*kinds):
    return bytes([len(kinds)]) + bytes(kinds)


def client_welcome():
    # Kinds (fuzz-client-welcome.c): 0 control page, 1 shm memfd, 6
    # eventfd (non-blocking), 8 stream socket.
    w = welcome(SOCKET, n_fds=2)
    write("client-welcome", "socket",
          bytes([1]) + bytes([32]) + w + fd_kinds(0, 8))
    w = welcome(SHM, n_fds=3)
    write("client-welcome", "shm", bytes([2]) + bytes([32]) + w +
          fd_kinds(1, 6, 6))
    write("client-welcome", "best-shm", bytes([0]) + bytes([32]) + w +
          fd_kinds(1, 6, 6))
    w = welcome(SOCKET, n_fds=2)
    write("client-welcome", "split", bytes([1]) + bytes([10]) + w[:10] +
          fd_kinds(0, 8) + bytes([22]) + w[10:] + fd_kinds())
    write("client-welcome", "refused", bytes([1]) + bytes([32]) +
          welcome(SOCKET, status=-13) + fd_kinds())
    write("client-welcome", "refused-with-fds", bytes([1]) + bytes([32]) +
          welcome(SOCKET, status=-13) + fd_kinds(0))


def rpc_messages(iface, hash_):
    """(name, payload after the core header) of rt.Types messages."""
    i32, u32, u64 = (lambda v: struct.pack("<i", v),
                     lambda v: struct.pack("<I", v),
                     lambda v: struct.pack("<Q", v))
    return [
        ("hello", rpc_header(1, 0, K_HELLO, 1, 0, hash_)),
        ("hello-bad-hash", rpc_header(1, 0, K_HELLO, 1, 0, hash_ ^ 1)),
        ("add", rpc_header(2, 1, K_REQUEST) + params(i32(2), i32(40))),
        ("add-deadline", rpc_header(3, 1, K_REQUEST, hash_=100) +
         params(i32(-1), i32(1))),
        ("fail", rpc_header(4, 2, K_REQUEST) + params(u32(7))),
        ("fail-errno", rpc_header(5, 2, K_REQUEST) + params(u32(22))),
        ("seq", rpc_header(6, 4, K_REQUEST) + params(u64(99))),
        ("poke", rpc_header(0, 5, K_ONEWAY) + params(u32(1))),
        ("poke-as-call", rpc_header(7, 5, K_REQUEST) + params(u32(1))),
        ("add-as-oneway", rpc_header(8, 1, K_ONEWAY) +
         params(i32(1), i32(1))),
        ("emit", rpc_header(9, 6, K_REQUEST) + params(u32(2))),
        ("counters", rpc_header(10, 9, K_REQUEST) + params()),
        ("bounded", rpc_header(11, 10, K_REQUEST) +
         params(u32(5) + b"hello")),
        ("bounded-too-long", rpc_header(12, 10, K_REQUEST) +
         params(u32(9) + b"123456789")),
        ("blob", rpc_header(13, 11, K_REQUEST) +
         params(u32(3) + b"\x00\x01\x02")),
        ("cancel", rpc_header(2, 0, K_CANCEL)),
        ("no-such-method", rpc_header(14, 77, K_REQUEST) + params()),
        ("reply-kind", rpc_header(15, 1, K_REPLY) + params(i32(1))),
        ("truncated-header", rpc_header(16, 1, K_REQUEST)[:10]),
    ]


def rpc_message(iface, hash_):
    msgs = rpc_messages(iface, hash_)
    def entry(which, payload):
        return bytes([which]) + struct.pack("<H", len(payload)) + payload
    for name, payload in msgs:
        first = entry(0, msgs[0][1]) if name != "hello" else b""
        write("rpc-message", name, first + entry(0, payload))
    write("rpc-message", "unserved", entry(1, rpc_header(1, 0, K_HELLO)))
    write("rpc-message", "echo", entry(2, b"raw echo payload"))
    # As replies reaching the client (the same bytes, other kinds).
    write("rpc-message", "as-reply", entry(0, rpc_header(2, 1, K_REPLY) +
                                           params(struct.pack("<i", 42))))
    write("rpc-message", "as-error", entry(0, rpc_header(
        2, 2, K_ERROR, status=7) + struct.pack("<I", 3) + b"bad"))


def server_handshake(iface, hash_):
    for tr, setup in ((SOCKET, 0), (SHM, 1)):
        name = "socket" if tr == SOCKET else "shm"
        write("server-handshake", f"hello-{name}",
              bytes([setup]) + chunks(hello(tr), 32))
        write("server-handshake", f"hello-best-{name}",
              bytes([setup]) + chunks(hello(BEST, 1 << 20), 32))
        write("server-handshake", f"hello-1-byte-{name}",
              bytes([setup]) + chunks(hello(tr), 1))
    write("server-handshake", "hello-wrong-transport",
          bytes([0]) + chunks(hello(SHM), 32))
    write("server-handshake", "hello-bad-version",
          bytes([0]) + chunks(hello(version=2), 32))
    write("server-handshake", "hello-bad-magic",
          bytes([0]) + chunks(hello(magic=0x11111111), 32))
    traffic = record(b"echo me", msg_id=1, seq=1)
    seq = 2
    for _, payload in rpc_messages(iface, hash_)[:8]:
        traffic += record(payload, msg_id=iface, seq=seq)
        seq += 1
    write("server-handshake", "hello-then-calls",
          bytes([0]) + chunks(hello(SOCKET) + traffic, 200))
    write("server-handshake", "hello-then-garbage",
          bytes([0]) + chunks(hello(SOCKET) + b"\xff" * 40, 255))
    write("server-handshake", "hello-then-data-shm",
          bytes([1]) + chunks(hello(SHM) + traffic[:64], 255))


def main():
    iface, hash_ = rt_types()
    # rt.Types's id as a signed core id.
    iface_signed = struct.unpack("<i", struct.pack("<I", iface))[0]
    framer()
    shm_ring()
    client_welcome()
    rpc_message(iface, hash_)
    server_handshake(iface_signed, hash_)


if __name__ == "__main__":
    main()
