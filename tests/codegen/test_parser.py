"""Parser: tokens -> AST."""

from __future__ import annotations

import unittest
from typing import List, Optional, Tuple

from lrpc_gen import ast
from lrpc_gen.errors import Diagnostics
from lrpc_gen.parser import parse


def parse_ok(text: str) -> ast.File:
    diags = Diagnostics()
    f = parse(text, "t.idl", diags)
    assert f is not None and not diags.items, diags.items
    return f


def parse_err(text: str) -> Tuple[int, int, str]:
    diags = Diagnostics()
    f: Optional[ast.File] = parse(text, "t.idl", diags)
    assert f is None
    errs: List[Tuple[int, int, str]] = [
        (d.loc.line, d.loc.col, d.message) for d in diags.items]
    assert len(errs) == 1, errs
    return errs[0]


def field_type(text: str) -> ast.TypeExpr:
    f = parse_ok(f"module m; struct S {{ {text} x @0; }}")
    decl = f.decls[0]
    assert isinstance(decl, ast.Struct)
    return decl.fields[0].type


class ParserTest(unittest.TestCase):
    def test_module_imports_and_docs(self) -> None:
        f = parse_ok('/// The module.\nmodule kv;\nimport "a.idl";\n'
                     'import "b/c.idl";\n/// A const.\nconst u8 X = 1;')
        assert f.module is not None
        self.assertEqual(f.module.name.text, "kv")
        self.assertEqual(f.module.doc, ("The module.",))
        self.assertEqual([i.path for i in f.imports], ["a.idl", "b/c.idl"])
        self.assertEqual(f.decls[0].doc, ("A const.",))

    def test_module_is_optional_for_the_parser(self) -> None:
        # The checker reports a missing module, with the other errors.
        f = parse_ok("struct S { }")
        self.assertIsNone(f.module)

    def test_const_values(self) -> None:
        f = parse_ok('module m; const i8 A = -5; const string B = "x";'
                     'const bool C = true; const u32 D = 0x10;')
        values = [d.value for d in f.decls if isinstance(d, ast.Const)]
        self.assertEqual([(type(v).__name__, v.value) for v in values],
                         [("IntLit", -5), ("StrLit", "x"),
                          ("BoolLit", True), ("IntLit", 16)])

    def test_enum_and_error(self) -> None:
        f = parse_ok("module m; enum K : u8 { A = 0, /// doc\n B = -1, }"
                     "error E { X = 1 }")
        enum, err = f.decls
        assert isinstance(enum, ast.Enum) and isinstance(err, ast.ErrorDecl)
        self.assertEqual([(x.name.text, x.value.value if x.value else None,
                           x.doc) for x in enum.members],
                         [("A", 0, ()), ("B", -1, ("doc",))])
        self.assertEqual(ast.type_text(enum.base), "u8")
        self.assertEqual(err.members[0].name.text, "X")

    def test_struct_fields(self) -> None:
        f = parse_ok("module m; struct S { u8 a @0; @since(2) string b @7;"
                     " u8 c; }")
        s = f.decls[0]
        assert isinstance(s, ast.Struct)
        self.assertEqual([x.name.text for x in s.fields], ["a", "b", "c"])
        self.assertEqual(s.fields[1].ordinal.value, 7)
        self.assertIsNone(s.fields[2].ordinal)
        self.assertEqual(s.fields[1].attrs[0].name.text, "since")

    def test_type_syntax(self) -> None:
        for text in ["u8", "string", "bytes", "common.Stamp", "u8[]",
                     "u8[16]", "u8[MAX]", "u8[m.MAX]", "optional string",
                     "map<string, u64>", "map<u8, map<u8, u8>>",
                     "string @max(64)", "string @max(64)[] @max(8)",
                     "optional u8[4][]", "map<u8, optional bytes>"]:
            with self.subTest(text=text):
                self.assertEqual(ast.type_text(field_type(text)), text)

    def test_optional_binds_to_the_whole_type(self) -> None:
        t = field_type("optional u8[]")
        self.assertIsInstance(t, ast.OptionalType)

    def test_words_are_keywords_only_in_place(self) -> None:
        f = parse_ok("module m; struct S { u8 error @0; u8 event @1;"
                     " u8 map @2; u8 optional @3; }"
                     "interface I { event(u8 oneway) @0; oneway event() @1;"
                     " event oneway() @2; }")
        s, i = f.decls
        assert isinstance(s, ast.Struct) and isinstance(i, ast.Interface)
        self.assertEqual([x.name.text for x in s.fields],
                         ["error", "event", "map", "optional"])
        self.assertEqual([(x.kind, x.name.text) for x in i.methods],
                         [("call", "event"), ("oneway", "event"),
                          ("event", "oneway")])

    def test_methods(self) -> None:
        f = parse_ok("module m; interface I @version(2) {"
                     " get(string k) -> (u8 v) raises E, x.F @0;"
                     " oneway t(u8 a, @since(2) u8 b) @1;"
                     " event c() @2; d() -> () @3; }")
        i = f.decls[0]
        assert isinstance(i, ast.Interface)
        get, t, c, d = i.methods
        self.assertEqual(i.attrs[0].arg.value, 2)
        self.assertEqual([str(q) for q in get.raises], ["E", "x.F"])
        self.assertEqual([p.name.text for p in get.results or ()], ["v"])
        self.assertEqual(t.kind, "oneway")
        self.assertEqual(t.params[1].attrs[0].name.text, "since")
        self.assertIsNone(c.results)
        self.assertEqual(d.results, ())
        self.assertEqual((get.loc.line, get.loc.col), (1, 37))

    def test_union(self) -> None:
        f = parse_ok("module m; union U : u8 { i64 n @1; string s @2; }")
        u = f.decls[0]
        assert isinstance(u, ast.Union_)
        self.assertEqual([(c.name.text, c.ordinal.value) for c in u.cases],
                         [("n", 1), ("s", 2)])

    def test_syntax_errors(self) -> None:
        for text, expected in [
                ("module m; struct S { u8 a @0 }",
                 (1, 30, "expected ';' but found '}'")),
                ("module m; struct { }",
                 (1, 18, "expected a struct name but found '{'")),
                ("module m; foo X;",
                 (1, 11, "expected a declaration (const, enum, struct, "
                         "union, error or interface) but found 'foo'")),
                ("module m; struct S { u8 a @b; }",
                 (1, 28, "expected an ordinal number after '@' but found "
                         "'b'")),
                ("module m; struct S { string @since(2) a @0; }",
                 (1, 29, "'@since' cannot follow a type; only '@max(N)' "
                         "and '@kind(K)' can")),
                ("module m; const u8 X = 1; import \"a.idl\";",
                 (1, 27, "imports must come before all declarations")),
                ("module m; module n;",
                 (1, 11, "the module declaration must come first, and only "
                         "once")),
                ("module m; struct S { u8 a @0; /// dangling\n}",
                 (2, 1, "expected a type but found '}'")),
                ("module m; /// dangling",
                 (1, 11, "doc comment is not followed by a declaration it "
                         "could document")),
                ("module m; enum E : u8 { A = 1 /// x\n }",
                 (1, 31, "doc comment is not followed by a declaration it "
                         "could document")),
                ("module m; interface I { get() -> u8 @0; }",
                 (1, 34, "expected '(' but found 'u8'")),
                ("module m; const i8 X = -;",
                 (1, 25, "expected an integer after '-' but found ';'")),
                ("module m; struct S { map<u8 u8> x @0; }",
                 (1, 29, "expected ',' but found 'u8'")),
                ("module m",
                 (1, 9, "expected ';' but found end of file"))]:
            with self.subTest(text=text):
                self.assertEqual(parse_err(text), expected)

    def test_lexer_errors_stop_before_parsing(self) -> None:
        diags = Diagnostics()
        self.assertIsNone(parse("module m; # $", "t.idl", diags))
        self.assertEqual(len(diags.items), 2)


if __name__ == "__main__":
    unittest.main()
