"""The corpus in nasty/: valid IDL at the edges of the language (doc
comments full of comment markers and trigraphs, names next to the C
library's, string[N] everywhere, the widest union tags, the deepest
nesting and the extreme values, CR and CRLF line ends).  The generated C
of each file, fuzz harness included, compiles with -Wall -Wextra -Werror
-pedantic as C11 (its headers also as C++11), links against liblrpc and
runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unittest

from idltest import HERE, SOURCE_ROOT, check_text, run_gen
from test_golden import C_BACKENDS, C_FLAGS, CXX_FLAGS

NASTY = os.path.join(HERE, "nasty")


def corpus():
    return sorted(n for n in os.listdir(NASTY) if n.endswith(".idl"))


def main_c(stem: str, desc_names) -> str:
    """A program that includes every header and reads every interface's
    descriptor, so the descriptors and stubs are linked in."""
    lines = [f'#include "{stem}-client.h"', f'#include "{stem}-server.h"',
             "#include <stdio.h>", "", "int", "main(void)", "{"]
    for d in desc_names:
        lines.append(f'\tprintf("%s %u\\n", {d}.name, '
                     f'(unsigned){d}.n_methods);')
    lines += ["\treturn 0;", "}", ""]
    return "\n".join(lines)


class NastyCorpusTest(unittest.TestCase):
    def test_corpus_is_there(self) -> None:
        self.assertGreaterEqual(len(corpus()), 5)

    def test_generated_c_compiles_links_and_runs(self) -> None:
        cc, cxx = shutil.which("cc"), shutil.which("c++")
        lib = os.environ.get("LRPC_LIB")
        if not cc:
            self.skipTest("no C compiler")
        include = os.path.join(SOURCE_ROOT, "include")
        for idl in corpus():
            stem = idl[:-4]
            with self.subTest(idl=idl), tempfile.TemporaryDirectory() as out:
                args = [idl, "-o", out, "--backend", "c-fuzz"]
                for b in C_BACKENDS:
                    args += ["--backend", b]
                r = run_gen(args, cwd=NASTY)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                with open(os.path.join(NASTY, idl), encoding="utf-8") as f:
                    model, diags = check_text(f.read())
                self.assertIsNotNone(model, diags.render())
                descs = [i.names.desc for i in model.main.interfaces]
                with open(os.path.join(out, "main.c"), "w",
                          encoding="utf-8") as f:
                    f.write(main_c(stem, descs))
                srcs = sorted(n for n in os.listdir(out) if n.endswith(".c"))
                exe = os.path.join(out, "main")
                cmd = [cc, *C_FLAGS, "-I", include, "-I", out, *srcs]
                if lib:
                    cmd += [lib, f"-Wl,-rpath,{os.path.dirname(lib)}",
                            "-o", exe]
                else:
                    cmd += ["-c"]
                r = subprocess.run(cmd, cwd=out, capture_output=True,
                                   text=True, timeout=300)
                self.assertEqual(r.returncode, 0, r.stderr)
                if lib:
                    r = subprocess.run([exe], capture_output=True,
                                       text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(len(r.stdout.splitlines()), len(descs))
                if cxx:
                    src = os.path.join(out, "all.cc")
                    with open(src, "w", encoding="utf-8") as f:
                        for part in ("types", "client", "server"):
                            f.write(f'#include "{stem}-{part}.h"\n')
                    r = subprocess.run([cxx, *CXX_FLAGS, "-I", include, "-I",
                                        out, "-c", src, "-o", os.devnull],
                                       cwd=out, capture_output=True,
                                       text=True, timeout=300)
                    self.assertEqual(r.returncode, 0, r.stderr)

    def test_embedded_idl_text_stands_alone(self) -> None:
        """The IDL text each interface's tables carry (idl_text.py) checks
        on its own and hashes like the original, nasty docs and names
        included."""
        from lrpc_gen.idl_text import interface_idl
        for idl in corpus():
            with open(os.path.join(NASTY, idl), encoding="utf-8",
                      newline="") as f:
                model, diags = check_text(f.read())
            self.assertIsNotNone(model, diags.render())
            for iface in model.main.interfaces:
                with self.subTest(idl=idl, interface=iface.name):
                    text = interface_idl(model, model.main, iface)
                    copy, diags = check_text(text)
                    self.assertIsNotNone(copy, text + diags.render())
                    twin = [i for i in copy.main.interfaces
                            if i.name == iface.name][0]
                    self.assertEqual(twin.hashes, iface.hashes)

    def test_fixed_string_arrays_round_trip(self) -> None:
        """string[N] (and string[N][M], optional string[N], bytes[N]) as
        parameters, results and event arguments: the C the stubs build
        encodes, decodes to the same strings and encodes to the same
        bytes."""
        cc, lib = shutil.which("cc"), os.environ.get("LRPC_LIB")
        if not cc or not lib:
            self.skipTest("needs a C compiler and LRPC_LIB")
        include = os.path.join(SOURCE_ROOT, "include")
        with tempfile.TemporaryDirectory() as out:
            r = run_gen(["strings.idl", "-o", out, "--backend", "c-types"],
                        cwd=NASTY)
            self.assertEqual((r.returncode, r.stderr), (0, ""))
            with open(os.path.join(out, "main.c"), "w",
                      encoding="utf-8") as f:
                f.write(ROUND_TRIP)
            exe = os.path.join(out, "main")
            r = subprocess.run(
                [cc, *C_FLAGS, "-I", include, "-I", out, "main.c",
                 "strings-types.c", lib,
                 f"-Wl,-rpath,{os.path.dirname(lib)}", "-o", exe],
                cwd=out, capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([exe], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual((r.returncode, r.stdout), (0, "ok 3\n"),
                             r.stderr)


ROUND_TRIP = r"""
#include <stdio.h>
#include <string.h>

#include "strings-types.h"

static int
round_trip(const lrpc_rpc_type *t, const void *in, void *out)
{
	static unsigned char a[4096], b[4096];
	static unsigned char space[4096];
	lrpc_arena arena;
	size_t n, m;

	lrpc_arena_init(&arena, space, sizeof(space), 0);
	if (lrpc_rpc_encode(t, in, a, sizeof(a), &n) != 0 || n > sizeof(a))
		return 1;
	if (lrpc_rpc_decode(t, a, n, out, &arena) != 0)
		return 2;
	if (lrpc_rpc_encode(t, out, b, sizeof(b), &m) != 0 || m != n ||
	    memcmp(a, b, n) != 0)
		return 3;
	return 0;
}

static int
same(const char *x, const char *y)
{
	return x && y && strcmp(x, y) == 0;
}

int
main(void)
{
	const strings_string_array2 maybe = { "m0", "m1" };
	struct strings_fixed_set__req set = {
		.names = { "a", "bb", "" },
		.blobs = { { (const uint8_t *)"xy", 2 }, { NULL, 0 } },
		.grid = { { "g00", "g01" }, { "g10", "g11" } },
	}, set2;
	struct strings_fixed_get__rep get = {
		.names = { "r0", "r1", "r2" },
		.maybe = &maybe,
	}, get2;
	struct strings_fixed_told__req told = {
		.words = { "w0", "w1", "w2", "w3", "w4" },
		.maybe = NULL,
		.grid = { { "a", "b" }, { "c", "d" } },
	}, told2;
	int r, ok = 0;

	if ((r = round_trip(strings_fixed__methods[0].request, &set, &set2)))
		return 10 + r;
	ok += same(set2.names[1], "bb") && same(set2.names[2], "") &&
	      same(set2.grid[1][0], "g10") && set2.blobs[0].len == 2;
	if ((r = round_trip(strings_fixed__methods[1].reply, &get, &get2)))
		return 20 + r;
	ok += same(get2.names[2], "r2") && get2.maybe &&
	      same((*get2.maybe)[1], "m1");
	if ((r = round_trip(strings_fixed__methods[4].request, &told, &told2)))
		return 30 + r;
	ok += same(told2.words[4], "w4") && !told2.maybe &&
	      same(told2.grid[1][1], "d");
	printf("ok %d\n", ok);
	return 0;
}
"""


if __name__ == "__main__":
    unittest.main()
