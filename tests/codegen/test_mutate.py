"""Randomized mutation of valid IDL: whatever the input, lrpc-gen exits 0
with C that compiles, or 1 with a ``file:line:col: error:`` line, and never
with an internal error (exit 3, a traceback).

Seeded (LRPC_MUTATE_SEED, default below) and bounded: at most MAX_RUNS
mutants or MAX_SECONDS of generating, whichever comes first, and the C of
the first MAX_COMPILES mutants that generate is compiled.  A failure
prints the seed, the mutant's number and its text, so it can be replayed
with the same seed (LRPC_MUTATE_RUNS raises the count for a longer hunt).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import unittest
from typing import Callable, List

from idltest import DATA, HERE, SOURCE_ROOT
from lrpc_gen import __main__ as cli
from test_golden import C_BACKENDS

SEED = int(os.environ.get("LRPC_MUTATE_SEED", "20261207"))
MAX_RUNS = int(os.environ.get("LRPC_MUTATE_RUNS", "400"))
MAX_SECONDS = float(os.environ.get("LRPC_MUTATE_SECONDS", "4"))
MAX_COMPILES = int(os.environ.get("LRPC_MUTATE_COMPILES", "6"))

ERROR_LINE = re.compile(r"^\S+:\d+:\d+: error: ", re.M)

# Tokens worth inserting: the language's words and punctuation, numbers at
# the limits, names the checker refuses, and text that is hard on lexers
# and on the C the generator writes.
VOCABULARY = [
    "module", "import", "const", "enum", "struct", "union", "error",
    "interface", "oneway", "event", "raises", "optional", "map", "true",
    "false", "bool", "i8", "u16", "u32", "u64", "f32", "string", "bytes",
    ";", ",", "{", "}", "(", ")", "[", "]", "<", ">", "=", ":", ".", "@",
    "-", "->", "@0", "@65535", "@65536", "@since(2)", "@version(3)",
    "@max(1)", "@max(0)", "@removed", "@deprecated", "[]", "[2]",
    "[65537]", "map<u8, ", "optional ",
    "0", "-1", "255", "256", "65535", "65536", "4294967296",
    "18446744073709551615", "18446744073709551616", "0x", "09",
    "__x", "_x", "lrpc_x", "int8", "size", "INT8_MAX", "errno", "class",
    "delete", "T", "x", "Entry", "common.Stamp", "nope.X",
    '"', '"a"', '"*/"', '"\\q"', "/*", "*/", "//", "/// doc */ ??/\n",
    "\r", "\r\n", "\f", "\u2028", "\x00", "\t", "\\", "??/", "\ufeff",
    "é",
]

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|\S")


def sources() -> List[str]:
    """Valid IDL to start from: the golden cases and the nasty corpus."""
    out = []
    for d in (DATA, os.path.join(HERE, "nasty")):
        for name in sorted(os.listdir(d)):
            if name.endswith(".idl") and not name.startswith("bad-"):
                with open(os.path.join(d, name), encoding="utf-8",
                          newline="") as f:
                    out.append(f.read())
    return out


def _spans(text: str):
    return [(m.start(), m.end()) for m in WORD.finditer(text)]


def mutate(rng: random.Random, text: str) -> str:
    """One to three random edits of ``text``."""
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(MUTATIONS)(rng, text)
    return text


def _insert(rng: random.Random, text: str) -> str:
    at = rng.randint(0, len(text))
    word = rng.choice(VOCABULARY)
    return text[:at] + rng.choice(["", " "]) + word + " " + text[at:]


def _delete_token(rng: random.Random, text: str) -> str:
    spans = _spans(text)
    if not spans:
        return text
    a, b = rng.choice(spans)
    return text[:a] + text[b:]


def _replace_token(rng: random.Random, text: str) -> str:
    spans = _spans(text)
    if not spans:
        return text
    a, b = rng.choice(spans)
    if rng.random() < 0.5:
        c, d = rng.choice(spans)          # another token of the file
        word = text[c:d]
    else:
        word = rng.choice(VOCABULARY)
    return text[:a] + word + text[b:]


def _swap_tokens(rng: random.Random, text: str) -> str:
    spans = _spans(text)
    if len(spans) < 2:
        return text
    i = rng.randrange(len(spans) - 1)
    (a, b), (c, d) = spans[i], spans[i + 1]
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]


def _duplicate_line(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def _truncate(rng: random.Random, text: str) -> str:
    return text[:rng.randint(0, len(text))]


def _deepen(rng: random.Random, text: str) -> str:
    """Wrap a type-like word in many levels of optional, map or list."""
    spans = [(a, b) for a, b in _spans(text)
             if text[a:b] in ("u8", "u32", "string", "bytes", "bool")]
    if not spans:
        return text
    a, b = rng.choice(spans)
    n = rng.choice([2, 31, 33, 99, 101, 600])
    inner = text[a:b]
    kind = rng.randrange(3)
    if kind == 0:
        new = "map<u8, " * n + inner + ">" * n
    elif kind == 1:
        new = inner + "[]" * n
    else:
        new = "optional " + inner + "[]" * (n - 1)
    return text[:a] + new + text[b:]


MUTATIONS: List[Callable[[random.Random, str], str]] = [
    _insert, _insert, _delete_token, _replace_token, _replace_token,
    _swap_tokens, _duplicate_line, _truncate, _deepen,
]


class MutationTest(unittest.TestCase):
    def run_gen(self, work: str, text: str, n: int):
        path = os.path.join(work, f"m{n}.idl")
        with open(path, "w", encoding="utf-8", errors="surrogatepass",
                  newline="") as f:
            f.write(text)
        out = os.path.join(work, f"out{n}")
        args = [path, "-I", os.path.join(DATA, "inc"), "-o", out,
                "--backend", "model"]
        for b in C_BACKENDS:
            args += ["--backend", b]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            rc = cli.main(args)
        return rc, err.getvalue(), out

    def test_mutants_never_crash_the_generator(self) -> None:
        rng = random.Random(SEED)
        base = sources()
        self.assertGreater(len(base), 5)
        cc = shutil.which("cc")
        include = os.path.join(SOURCE_ROOT, "include")
        counts = {0: 0, 1: 0}
        compiled = 0
        start = time.monotonic()
        with tempfile.TemporaryDirectory() as work:
            for n in range(MAX_RUNS):
                if time.monotonic() - start > MAX_SECONDS:
                    break
                text = mutate(rng, rng.choice(base))
                rc, err, out = self.run_gen(work, text, n)
                why = f"seed {SEED}, mutant {n}:\n{text}\n--- stderr:\n{err}"
                self.assertIn(rc, (0, 1), why)
                self.assertNotIn("Traceback", err, why)
                self.assertNotIn("internal error", err, why)
                counts[rc] += 1
                if rc == 1:
                    self.assertRegex(err, ERROR_LINE, why)
                    self.assertFalse(os.path.exists(out), why)
                    continue
                self.assertEqual(err, "", why)
                if cc and compiled < MAX_COMPILES:
                    compiled += 1
                    srcs = sorted(os.path.join(out, x)
                                  for x in os.listdir(out)
                                  if x.endswith(".c"))
                    r = subprocess.run(
                        [cc, "-std=c11", "-Wall", "-Wextra", "-Werror",
                         "-pedantic", "-fsyntax-only", "-I", include,
                         "-I", out, *srcs],
                        capture_output=True, text=True, timeout=120)
                    self.assertEqual(r.returncode, 0, why + r.stderr)
                shutil.rmtree(out)
        if os.environ.get("LRPC_MUTATE_VERBOSE"):
            print(f"\n{n + 1} mutants: {counts[0]} generated, "
                  f"{counts[1]} refused, {compiled} compiled")
        # Both outcomes happen, or the mutations are not doing their job.
        self.assertGreater(counts[0], 0, counts)
        self.assertGreater(counts[1], 0, counts)


if __name__ == "__main__":
    unittest.main()
