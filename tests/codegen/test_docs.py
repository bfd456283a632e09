"""The documentation shows the example IDL as it is, and names only what
the generator makes of it."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unittest
from typing import List, Set, Tuple

from idltest import SOURCE_ROOT, run_gen

DOCS = os.path.join(SOURCE_ROOT, "docs")
EXAMPLE = os.path.join(SOURCE_ROOT, "idl", "example")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def code_blocks(markdown: str) -> List[Tuple[str, str]]:
    """The fenced code blocks of @markdown as (info string, text), the
    text with its final newline and without the fences."""
    blocks = []
    lines = markdown.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = re.match(r"(```+)(.*)\n", lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(1), m.group(2).strip()
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip("\n") != fence:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError("unterminated code block: " + info)
        blocks.append((info, "".join(body)))
        i += 1
    return blocks


class CodeBlocksTest(unittest.TestCase):
    def test_blocks(self) -> None:
        text = "a\n```idl\nmodule m;\n\n```\nb\n```\nx\n```\n"
        self.assertEqual(code_blocks(text),
                         [("idl", "module m;\n\n"), ("", "x\n")])

    def test_unterminated(self) -> None:
        with self.assertRaises(AssertionError):
            code_blocks("```c\nint x;\n")


class IdlDocTest(unittest.TestCase):
    """docs/idl.md opens with idl/example/kv.idl, which examples/kv is
    built from, and the common.idl it imports: both verbatim."""

    maxDiff = None

    def setUp(self) -> None:
        self.blocks = code_blocks(read(os.path.join(DOCS, "idl.md")))

    def test_first_block_is_kv_idl(self) -> None:
        self.assertEqual(self.blocks[0][0], "idl")
        self.assertEqual(self.blocks[0][1],
                         read(os.path.join(EXAMPLE, "kv.idl")),
                         "docs/idl.md's first code block and "
                         "idl/example/kv.idl differ: copy the file into "
                         "the doc")

    def test_second_block_is_common_idl(self) -> None:
        self.assertEqual(self.blocks[1][0], "idl")
        self.assertEqual(self.blocks[1][1],
                         read(os.path.join(EXAMPLE, "common.idl")))


class RpcDocNamesTest(unittest.TestCase):
    """Every kv_/KV_ name docs/rpc.md uses is one the generator makes from
    idl/example/kv.idl."""

    def test_names_exist(self) -> None:
        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out)
        r = run_gen([os.path.join(EXAMPLE, "kv.idl"), "-o", out,
                     "--backend", "c-types", "--backend", "c-client",
                     "--backend", "c-server"])
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        generated: Set[str] = set()
        for name in os.listdir(out):
            generated |= set(re.findall(r"\w+",
                                        read(os.path.join(out, name))))
        used = set(re.findall(r"\b(?:kv|KV)_\w+",
                              read(os.path.join(DOCS, "rpc.md"))))
        self.assertTrue(used)
        self.assertEqual(sorted(used - generated), [])


if __name__ == "__main__":
    unittest.main()
