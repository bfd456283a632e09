"""Inputs far beyond the limits: a diagnostic or a result, never an
internal error (docs/idl.md, "Limits that keep decoding bounded")."""

from __future__ import annotations

import unittest
from typing import Dict

from idltest import errors
from lrpc_gen.errors import Diagnostics
from lrpc_gen.frontend import check
from lrpc_gen.load import MAX_CHAIN_NOTES
from idltest import MemoryFileSystem


def _chain(n: int, last: str) -> Dict[str, str]:
    """c0.idl imports c1.idl ... imports c<n-1>.idl, whose body is
    ``last``; each declares a struct using the next one's."""
    files = {}
    for i in range(n - 1):
        files[f"c{i}.idl"] = (f"module c{i};\nimport \"c{i + 1}.idl\";\n"
                              f"struct S{i} {{ u8 x @0; }}\n")
    files[f"c{n - 1}.idl"] = f"module c{n - 1};\n{last}"
    return files


class DeepNestingTest(unittest.TestCase):
    def assert_too_deep(self, text: str, col: int) -> None:
        self.assertEqual(errors(text),
                         [(2, col, "type nests more than 100 levels deep; "
                                   "the limit is 32")])

    def test_nested_maps(self) -> None:
        for n in (500, 1000):
            t = "map<u8, " * n + "u8" + ">" * n
            with self.subTest(n=n):
                self.assert_too_deep(f"module d;\nstruct S {{ {t} x @0; }}",
                                     12 + 100 * 8)

    def test_nested_optional_lists(self) -> None:
        for n in (500, 1000):
            t = "optional u8" + "[]" * n
            with self.subTest(n=n):
                self.assert_too_deep(f"module d;\nstruct S {{ {t} x @0; }}",
                                     12 + 9 + 2 + 99 * 2)

    def test_nested_in_parameters_and_constants(self) -> None:
        t = "map<string, optional " * 600 + "u8" + ">" * 600
        self.assertEqual(len(errors(f"module d;\ninterface I {{ f({t} x) "
                                    f"@0; }}")), 1)
        self.assertEqual(len(errors(f"module d;\nconst {t} X = 1;")), 1)

    def test_just_below_the_parser_limit_gets_the_depth_error(self) -> None:
        t = "u8" + "[]" * 100
        self.assertEqual(errors(f"module d;\nstruct S {{ {t} x @0; }}"),
                         [(2, 8, "struct 'S' nests 101 levels deep; the "
                                 "limit is 32")])

    def test_long_chain_of_structs(self) -> None:
        n = 1500
        text = "module d;\n" + "".join(
            f"struct A{i} {{ A{i + 1} x @0; }}\n" for i in range(n)) + \
            f"struct A{n} {{ u8 x @0; }}\n"
        self.assertEqual(errors(text),
                         [(n + 2 - 32, 8, f"struct 'A{n - 32}' nests 33 "
                                          f"levels deep; the limit is 32")])

    def test_long_cycle_of_structs(self) -> None:
        n = 1500
        text = "module d;\n" + "".join(
            f"struct A{i} {{ A{(i + 1) % n} x @0; }}\n" for i in range(n))
        errs = errors(text)
        self.assertEqual(len(errs), 1)
        self.assertTrue(errs[0][2].startswith("recursive type: A0 -> A1 ->"))


class LongImportChainTest(unittest.TestCase):
    def run_chain(self, files: Dict[str, str]):
        diags = Diagnostics()
        result = check("c0.idl", [], MemoryFileSystem(files), diags)
        return result, diags

    def test_chain_of_500_imports_works(self) -> None:
        result, diags = self.run_chain(_chain(500, "struct S { u8 x @0; }\n"))
        self.assertEqual(diags.render(), "")
        self.assertIsNotNone(result.model)
        self.assertEqual(len(result.model.modules), 500)
        self.assertEqual(result.model.main.name, "c0")

    def test_chain_of_500_imports_through_the_c_back_ends(self) -> None:
        """Each module uses the next one's struct in an interface, so
        every back end walks the whole chain of modules."""
        from lrpc_gen import backends
        files = {}
        for i in range(500):
            nxt = (f'import "c{i + 1}.idl";\n'
                   f"interface I{i} {{ f(c{i + 1}.S s) @0; }}\n"
                   if i < 499 else "")
            files[f"c{i}.idl"] = (f"module c{i};\n{nxt}"
                                  f"struct S {{ u8 x @0; }}\n")
        result, diags = self.run_chain(files)
        self.assertEqual(diags.render(), "")
        ctx = backends.Context(source="c0.idl", stem="c0")
        out = {}
        for b in ("c-types", "c-client", "c-server", "c-fuzz", "model"):
            out.update(backends.load(b).generate(result.model, ctx))
        self.assertIn("c0-types.h", out)
        self.assertIn("/* --- Module c499 (imported from c499.idl) --- */",
                      out["c0-types.h"])

    def test_error_at_the_end_of_the_chain_names_the_chain(self) -> None:
        result, diags = self.run_chain(_chain(500, "struct S { u8 x @0 }\n"))
        self.assertIsNone(result.model)
        [d] = diags.sorted()
        self.assertEqual((d.loc.file, d.loc.line, d.message),
                         ("c499.idl", 2, "expected ';' but found '}'"))
        self.assertEqual(len(d.notes), MAX_CHAIN_NOTES + 1)
        self.assertEqual(str(d.notes[0].loc), "c498.idl:2:8")
        self.assertEqual(d.notes[0].message, "'c499.idl' is imported here")
        self.assertEqual(str(d.notes[1].loc), "c497.idl:2:8")
        self.assertEqual(d.notes[-1].message,
                         f"... and {499 - MAX_CHAIN_NOTES} more imports up "
                         f"to 'c0.idl'")

    def test_short_chain_is_shown_whole(self) -> None:
        result, diags = self.run_chain(_chain(3, "struct S { u8 x @0 }\n"))
        self.assertEqual(diags.render(),
                         "c2.idl:2:20: error: expected ';' but found '}'\n"
                         "struct S { u8 x @0 }\n"
                         "                   ^\n"
                         "c1.idl:2:8: note: 'c2.idl' is imported here\n"
                         "import \"c2.idl\";\n"
                         "       ^\n"
                         "c0.idl:2:8: note: 'c1.idl' is imported here\n"
                         "import \"c1.idl\";\n"
                         "       ^\n")


class InvalidTagTypeTest(unittest.TestCase):
    def test_union_with_bad_tag_used_in_struct(self) -> None:
        for use in ("U u @0;", "optional U u @0;", "U[] u @0;",
                    "map<u8, U> u @0;"):
            with self.subTest(use=use):
                self.assertEqual(
                    errors(f"module t;\nunion U : i8 {{ u8 a @0; }}\n"
                           f"struct S {{ {use} }}\n"
                           f"interface I {{ f(S s) -> (U u) @0; }}\n"),
                    [(2, 11, "the tag type of union 'U' must be u8, u16 "
                             "or u32, not 'i8'")])


if __name__ == "__main__":
    unittest.main()
