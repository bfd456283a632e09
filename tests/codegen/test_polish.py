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
