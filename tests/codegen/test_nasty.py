"""The corpus in nasty/: valid IDL at the edges of the language (doc
comments full of comment markers and trigraphs, names next to the C
library's, string[N] everywhere, the widest union tags, the deepest
nesting and the extreme values, CR and CRLF line ends).  The generated C
of each file compiles with -Wall -Wextra -Werror -pedantic as C11 (its
headers also as C++11), links against liblrpc and runs."""

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
                args = [idl, "-o", out]
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


if __name__ == "__main__":
    unittest.main()
