"""How diagnostics read: positions for every kind of line break, "did you
mean", every independent error in one run, and paths in outputs."""

from __future__ import annotations

import unittest

from idltest import check_text
from lrpc_gen.errors import Diagnostics
from lrpc_gen.lexer import TokenKind, tokenize


def rendered(text: str, **kw) -> str:
    return check_text(text, **kw)[1].render()


class LineBreakTest(unittest.TestCase):
    """LF, CR LF and a lone CR end a line; a form feed, a vertical tab and
    U+2028 do not, in code or in comments, for the position and for the
    line shown."""

    BODY = "struct S { Nope x @0; }"

    def test_positions_and_excerpts(self) -> None:
        for brk in ("\n", "\r\n", "\r"):
            text = brk.join(["module m;", "// one", "/* two", "three */",
                             self.BODY])
            with self.subTest(brk=repr(brk)):
                self.assertEqual(rendered(text),
                                 "test.idl:5:12: error: undefined type "
                                 "'Nope'\n" + self.BODY + "\n" + " " * 11
                                 + "^\n")

    def test_separators_that_are_not_line_breaks(self) -> None:
        for sep in ("\f", "\v", "\u2028", "\u2029", "\x85", "\x1c"):
            text = (f"module m;\n// a{sep}b\n/* c{sep}d */ struct S {{ "
                    f"Nope x @0; }}")
            with self.subTest(sep=repr(sep)):
                line = f"/* c{sep}d */ struct S {{ Nope x @0; }}"
                self.assertEqual(rendered(text),
                                 "test.idl:3:22: error: undefined type "
                                 "'Nope'\n" + line + "\n" + " " * 21
                                 + "^\n")

    def test_form_feed_is_a_blank_in_code(self) -> None:
        text = "module m;\n\fstruct S {\f Nope x @0; }"
        self.assertIn("test.idl:2:14: error: undefined type 'Nope'",
                      rendered(text))

    def test_separator_in_code_is_an_error_at_its_place(self) -> None:
        self.assertEqual(rendered("module m;\nstruct S {\u2028}"),
                         "test.idl:2:11: error: unexpected character "
                         "'\\u2028'\nstruct S {\u2028}\n          ^\n")

    def test_lone_cr_ends_a_doc_comment_and_a_string(self) -> None:
        toks = tokenize("/// doc\r\r\"x\r", "t.idl", Diagnostics())
        self.assertEqual((toks[0].kind, toks[0].value), (TokenKind.DOC,
                                                         "doc"))
        seen = []
        for brk in ("\n", "\r"):
            diags = Diagnostics()
            tokenize(f'const string S = "x{brk}y;', "t.idl", diags)
            seen.append([(str(d.loc), d.message) for d in diags.items])
        self.assertEqual(seen[0], [("t.idl:1:18",
                                    "unterminated string literal")])
        self.assertEqual(seen[1], seen[0])

    def test_not_utf8_after_cr_line_breaks(self) -> None:
        from lrpc_gen.load import load
        from idltest import MemoryFileSystem
        fs = MemoryFileSystem({})
        fs.files["x.idl"] = b"module m;\r// \xff\r"
        diags = Diagnostics()
        load("x.idl", [], fs, diags)
        self.assertEqual([str(d.loc) for d in diags.items], ["x.idl:2:4"])


if __name__ == "__main__":
    unittest.main()


class PathsInOutputsTest(unittest.TestCase):
    """Outputs name files as the input spells them: the main file by its
    base name, imports as the import statements do, never by the -I
    directory or an absolute path."""

    def test_model_and_c_have_no_absolute_paths(self) -> None:
        import os
        import tempfile
        from idltest import run_gen
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "src"))
            os.makedirs(os.path.join(d, "inc", "sub"))
            with open(os.path.join(d, "src", "kv.idl"), "w") as f:
                f.write('module kv;\nimport "sub/common.idl";\n'
                        'struct E { common.T t @0; }\n'
                        'interface I { f(E e) @0; }\n')
            with open(os.path.join(d, "inc", "sub", "common.idl"), "w") as f:
                f.write("module common;\nstruct T { u8 x @0; }\n")
            outs = []
            for idl, inc in ((os.path.join(d, "src", "kv.idl"),
                              os.path.join(d, "inc")),
                             ("kv.idl", os.path.join("..", "inc"))):
                out = os.path.join(d, f"out{len(outs)}")
                args = [idl, "-I", inc, "-o", out]
                for b in ("model", "c-types", "c-client", "c-server"):
                    args += ["--backend", b]
                r = run_gen(args, cwd=os.path.join(d, "src"))
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                texts = {}
                for name in sorted(os.listdir(out)):
                    with open(os.path.join(out, name)) as f:
                        texts[name] = f.read()
                    self.assertNotIn(d, texts[name], name)
                outs.append(texts)
            self.assertEqual(outs[0], outs[1])
            self.assertIn("import common file=sub/common.idl\n",
                          outs[0]["kv.model"])
            self.assertIn("module common file=sub/common.idl ",
                          outs[0]["kv.model"])
            self.assertIn("module kv file=kv.idl ", outs[0]["kv.model"])


class DidYouMeanTest(unittest.TestCase):
    def msg(self, text: str, **kw) -> str:
        from idltest import errors
        errs = errors(text, **kw)
        self.assertEqual(len(errs), 1, errs)
        return errs[0][2]

    def test_types(self) -> None:
        base = ("module m;\nstruct Entry { u8 x @0; }\n"
                "enum Kind : u8 { A = 0 }\n")
        for wrong, right in (("Entri", "Entry"), ("entry", "Entry"),
                             ("Etnry", "Entry"), ("Kidn", "Kind"),
                             ("u23", "u32"), ("strng", "string"),
                             ("boool", "bool"), ("byts", "bytes")):
            with self.subTest(wrong=wrong):
                self.assertEqual(
                    self.msg(base + f"struct S {{ {wrong} f @0; }}"),
                    f"undefined type '{wrong}'; did you mean '{right}'?")

    def test_too_far_or_wrong_kind_gets_no_hint(self) -> None:
        base = "module m;\nstruct Entry { u8 x @0; }\nconst u8 KIND = 1;\n"
        for wrong in ("Entrees", "x", "KINDS", "Kind"):
            with self.subTest(wrong=wrong):
                self.assertEqual(
                    self.msg(base + f"struct S {{ {wrong} f @0; }}"),
                    f"undefined type '{wrong}'")

    def test_constants_errors_and_modules(self) -> None:
        base = ("module m;\nimport \"common.idl\";\nconst u32 SIZE = 4;\n"
                "error Oops { BAD = 1 }\n")
        extra = {"common.idl": "module common;\nstruct Stamp { u8 x @0; }\n"
                               "const u8 LIMIT = 3;\n"}
        for body, expected in (
                ("struct S { u8[SIEZ] a @0; }",
                 "undefined constant 'SIEZ'; did you mean 'SIZE'?"),
                ("struct S { u8[common.LIMT] a @0; }",
                 "undefined constant 'common.LIMT'; did you mean "
                 "'common.LIMIT'?"),
                ("struct S { comon.Stamp a @0; }",
                 "unknown module 'comon' (is it imported?); did you mean "
                 "'common'?"),
                ("struct S { Stamp a @0; }",
                 "undefined type 'Stamp'; did you mean 'common.Stamp'?"),
                ("interface I { f() raises Oopss @0; }",
                 "undefined error 'Oopss'; did you mean 'Oops'?")):
            with self.subTest(body=body):
                self.assertEqual(self.msg(base + body, extra=extra),
                                 expected)

    def test_attributes(self) -> None:
        self.assertEqual(
            self.msg("module m;\ninterface I @vesion(2) { f() @0; }"),
            "unknown attribute '@vesion'; did you mean '@version'?")
        self.assertEqual(
            self.msg("module m;\nstruct S { @sinse(1) u8 x @0; }"),
            "unknown attribute '@sinse'; did you mean '@since'?")
        self.assertEqual(
            self.msg("module m;\nstruct S { @frobnicate(1) u8 x @0; }"),
            "unknown attribute '@frobnicate'")

    def test_declaration_keywords(self) -> None:
        self.assertEqual(
            self.msg("module m;\nstrcut S { u8 x @0; }"),
            "expected a declaration (const, enum, struct, union, error or "
            "interface) but found 'strcut'; did you mean 'struct'?")
        self.assertEqual(
            self.msg("module m;\ninterfce I { }"),
            "expected a declaration (const, enum, struct, union, error or "
            "interface) but found 'interfce'; did you mean 'interface'?")

    def test_distance(self) -> None:
        from lrpc_gen.suggest import closest, distance
        self.assertEqual(distance("ab", "ba"), 1)
        self.assertEqual(distance("kitten", "sitting"), 3)
        self.assertEqual(distance("abc", "abc"), 0)
        self.assertEqual(closest("Entyr", ["Entries", "Entry"]), "Entry")
        # Ties go to the alphabetically first, whatever the order given.
        self.assertEqual(closest("ab", ["ac", "aa"]), "aa")
        self.assertEqual(closest("ab", ["aa", "ac"]), "aa")


class IndependentErrorsTest(unittest.TestCase):
    def test_union_cases_are_checked_whatever_the_tag(self) -> None:
        from idltest import errors
        self.assertEqual(
            errors("module m;\nunion U { Nope a @0; u8 a @1; }\n"
                   "union V : i8 { Nop b @0; }\n"
                   "union W : Zz { u8 c @0; u8 d @0; }\n"),
            [(2, 7, "union 'U' needs a tag type, as in 'union U : u8'"),
             (2, 11, "undefined type 'Nope'"),
             (2, 25, "duplicate union case name 'a'"),
             (3, 11, "the tag type of union 'V' must be u8, u16 or u32, "
                     "not 'i8'"),
             (3, 16, "undefined type 'Nop'"),
             (4, 11, "undefined type 'Zz'"),
             (4, 31, "duplicate ordinal @0: union case 'd' and 'c'")])

    def test_syntax_errors_of_every_declaration(self) -> None:
        from idltest import errors
        self.assertEqual(
            [e[:2] for e in errors("module m;\nstruct A { u8 x @0 }\n"
                                   "struct B { u8 $y @0; }\n"
                                   "const u8 C = ;\n")],
            [(2, 20), (3, 15), (4, 14)])
