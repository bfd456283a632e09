"""Generated C names never redefine a name of the C library the generated
code includes (naming.py, creserved.py; docs/idl.md, "Names in C")."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import unittest
from typing import Set

from idltest import SOURCE_ROOT, errors
from lrpc_gen.creserved import C_RESERVED

# What generated code includes: <stem>-types.h has the first three and
# <lrpc/rpc.h> (and through it the rest), the sources <errno.h> and
# <string.h>; <limits.h> is what a user's file likely adds.
INCLUDES = ["stdbool.h", "stdint.h", "lrpc/rpc.h", "errno.h", "string.h",
            "stddef.h", "limits.h"]

# Every generated name is lower or upper case with digits and single
# underscores, starting with a letter (it starts with a module name).
GENERATABLE = re.compile(r"(?!lrpc|LRPC)([a-z][a-z0-9_]*|[A-Z][A-Z0-9_]*)\Z")


class LibraryNamesTest(unittest.TestCase):
    CASES = [
        ("int8", "struct T { u8 x @0; }", "struct 'T'", "int8_t",
         "<stdint.h>"),
        ("size", "struct T { u8 x @0; }", "struct 'T'", "size_t",
         "<stddef.h>"),
        ("uintptr", "union T : u8 { u8 x @0; }", "union 'T'", "uintptr_t",
         "<stdint.h>"),
        ("pid", "enum T : u8 { A = 0 }", "enum 'T'", "pid_t",
         "<sys/types.h>"),
        ("int8", "const u8 MAX = 1;", "constant 'MAX'", "INT8_MAX",
         "<stdint.h>"),
        ("uint32", "const u32 C = 1;", "constant 'C'", "UINT32_C",
         "<stdint.h>"),
        ("size", "const u8 MAX = 1;", "constant 'MAX'", "SIZE_MAX",
         "<stdint.h>"),
        ("int", "const u8 MAX = 1;", None, None, None),
        ("einval", "const u8 EINVAL = 1;", "constant 'EINVAL'", "EINVAL",
         "<errno.h>"),
        ("memcpy", "struct Memcpy { u8 x @0; }", "struct 'Memcpy'",
         "memcpy", "<string.h>"),
        # 'fd' is a built-in type since 1.3: refused as a module name, so
        # fd_set is out of reach.
        ("fd", "error Set { A = 1 }", None, None, None),
        ("pthread", "interface MutexT { f() @0; }", "interface 'MutexT'",
         "pthread_mutex_t", "<sys/types.h>"),
    ]

    def test_library_names_are_refused_at_the_declaration(self) -> None:
        for module, body, what, c_name, header in self.CASES:
            with self.subTest(module=module, body=body):
                errs = errors(f"module {module};\n{body}\n")
                if what is None:
                    # 'int' and 'fd' are refused as module names
                    # already.
                    self.assertEqual(len(errs), 1)
                    continue
                self.assertEqual(len(errs), 1, errs)
                line, col, msg = errs[0]
                self.assertEqual(line, 2)
                self.assertEqual(msg, f"{what} would be named '{c_name}' "
                                      f"in C, a name {header} already "
                                      f"declares")

    def test_roles_of_generated_names(self) -> None:
        """Macros and functions made for an interface, a method or a union
        case are checked too."""
        self.assertEqual(
            errors("module uint;\nunion Fast8 : u8 { u8 max @0; }\n"
                   "enum Least16 : u8 { MAX = 0 }\n"),
            [(2, 23, "union case 'Fast8.max' needs 'UINT_FAST8_MAX' in C "
                     "for its tag macro, a name <stdint.h> already "
                     "declares"),
             (3, 21, "'Least16.MAX' would be named 'UINT_LEAST16_MAX' in "
                     "C, a name <stdint.h> already declares")])
        self.assertEqual(
            errors("module int8;\ninterface I { f() @0; }\n"
                   "const u8 MIN = 0;\n"),
            [(3, 10, "constant 'MIN' would be named 'INT8_MIN' in C, a "
                     "name <stdint.h> already declares")])

    def test_fuzz_decoder_name_is_reserved(self) -> None:
        """<module>__fuzz_decoder, the fuzz harness's table function, is
        reachable through a name ending in '_'."""
        self.assertEqual(
            errors("module kv;\ninterface Kv_ { fuzzDecoder() @0; }\n"),
            [(2, 17, "method 'Kv_.fuzzDecoder' would be named "
                     "'kv__fuzz_decoder' in C, which is already used inside "
                     "the generated code of module 'kv'")])

    def test_fuzz_harness_names_are_reserved(self) -> None:
        """Every identifier of a c-fuzz harness that starts with a module's
        prefix is one the checker reserved (test_golden checks the other
        back ends the same way); the rest start with lrpc_ or LRPC_."""
        import tempfile
        from idltest import DATA, run_gen
        from lrpc_gen.__main__ import OsFileSystem
        from lrpc_gen.check import check_decls
        from lrpc_gen.errors import Diagnostics
        from lrpc_gen.load import load
        from lrpc_gen.naming import ANON_DESC
        from lrpc_gen.scope import declare
        noise = re.compile(r'/\*.*?\*/|"(?:\\.|[^"\\])*"', re.S)
        for case in ("kv", "types", "collections", "interface"):
            with self.subTest(case=case), \
                    tempfile.TemporaryDirectory() as out:
                diags = Diagnostics()
                cwd = os.getcwd()
                os.chdir(DATA)
                try:
                    loaded = load(f"{case}.idl", ["inc"], OsFileSystem(),
                                  diags)
                finally:
                    os.chdir(cwd)
                scope = declare(loaded.units, diags)
                check_decls(scope, diags)
                self.assertFalse(diags.has_errors, diags.render())
                r = run_gen([f"{case}.idl", "-I", "inc", "-o", out,
                             "--backend", "c-fuzz"], cwd=DATA)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(os.path.join(out, f"{case}-fuzz.c"),
                          encoding="utf-8") as f:
                    code = noise.sub(" ", f.read())
                mods = "|".join(re.escape(mod.name) for mod in scope.order)
                for c in set(re.findall(rf"\b(?:{mods})_\w*", code, re.I)):
                    if not ANON_DESC.fullmatch(c):
                        self.assertIn(c, scope.names.claimed)

    def test_case_matters(self) -> None:
        self.assertEqual(errors("module uint32;\nstruct Max { u8 x @0; }\n"
                                "const u8 T = 1;\n"), [])

    def test_list_covers_the_headers(self) -> None:
        """Every name the included headers declare (this machine's, with
        _GNU_SOURCE) that a generated name could be is on the list."""
        cc, clang = shutil.which("cc"), shutil.which("clang")
        if not cc:
            self.skipTest("no C compiler")
        src = "".join(f"#include <{h}>\n" for h in INCLUDES)
        flags = ["-x", "c", "-std=gnu11", "-D_GNU_SOURCE", "-I",
                 os.path.join(SOURCE_ROOT, "include")]
        names: Set[str] = set()
        r = subprocess.run([cc, "-E", "-dM", *flags, "-"], input=src,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        names.update(re.findall(r"^#define (\w+)", r.stdout, re.M))
        if clang:
            r = subprocess.run([clang, "-fsyntax-only", *flags, "-Xclang",
                                "-ast-dump=json", "-"], input=src,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            for d in json.loads(r.stdout).get("inner", []):
                if d.get("isImplicit"):
                    continue
                names.add(d.get("name", ""))
                if d["kind"] == "EnumDecl":
                    names.update(e.get("name", "")
                                 for e in d.get("inner", []))
        missing = sorted(n for n in names if GENERATABLE.match(n)
                         and "__" not in n and n not in C_RESERVED)
        self.assertEqual(missing, [], "add these to creserved.py")
        for n in ("int8_t", "size_t", "uintptr_t", "INT8_MAX", "UINT32_C",
                  "SIZE_MAX", "EINVAL", "memcpy", "ssize_t"):
            self.assertIn(n, names)


if __name__ == "__main__":
    unittest.main()
