"""Lexer: text -> tokens."""

from __future__ import annotations

import unittest
from typing import List, Tuple

from lrpc_gen.errors import Diagnostics
from lrpc_gen.lexer import Token, TokenKind, tokenize


def lex(text: str) -> Tuple[List[Token], List[Tuple[int, int, str]]]:
    diags = Diagnostics()
    toks = tokenize(text, "t.idl", diags)
    errs = [(d.loc.line, d.loc.col, d.message) for d in diags.items]
    return toks, errs


def kinds_texts(text: str) -> List[Tuple[str, str]]:
    toks, errs = lex(text)
    assert not errs, errs
    return [(t.kind.name, t.text) for t in toks]


class LexerTest(unittest.TestCase):
    def test_words_and_punctuation(self) -> None:
        self.assertEqual(
            kinds_texts("get(string key) -> (Entry e) @0;"),
            [("IDENT", "get"), ("PUNCT", "("), ("IDENT", "string"),
             ("IDENT", "key"), ("PUNCT", ")"), ("PUNCT", "->"),
             ("PUNCT", "("), ("IDENT", "Entry"), ("IDENT", "e"),
             ("PUNCT", ")"), ("PUNCT", "@"), ("INT", "0"), ("PUNCT", ";"),
             ("EOF", "")])

    def test_map_closing_angles_are_two_tokens(self) -> None:
        texts = [t for _, t in kinds_texts("map<u8,map<u8,u8>>")]
        self.assertEqual(texts[-3:], [">", ">", ""])

    def test_locations_are_one_based_lines_and_columns(self) -> None:
        toks, _ = lex("module kv;\n  struct\tX")
        locs = [(t.text, t.loc.line, t.loc.col) for t in toks]
        self.assertEqual(locs, [("module", 1, 1), ("kv", 1, 8),
                                (";", 1, 10), ("struct", 2, 3),
                                ("X", 2, 10), ("", 2, 11)])

    def test_columns_count_code_points(self) -> None:
        toks, _ = lex('"é" x')
        self.assertEqual(toks[1].loc.col, 5)

    def test_integers(self) -> None:
        toks, errs = lex("0 42 0x1F 0XffFF 18446744073709551615")
        self.assertEqual(errs, [])
        self.assertEqual([t.value for t in toks[:-1]],
                         [0, 42, 31, 0xFFFF, (1 << 64) - 1])

    def test_integer_errors(self) -> None:
        for text, message in [
                ("0x", "invalid integer literal '0x'"),
                ("0x1g", "invalid integer literal '0x1g'"),
                ("12ab", "invalid integer literal '12ab'"),
                ("1_000", "invalid integer literal '1_000'"),
                ("0x1_0", "invalid integer literal '0x1_0'"),
                ("007", "leading zeros are not allowed in '007' "
                        "(octal is not supported)"),
                ("18446744073709551616",
                 "integer literal '18446744073709551616' is too large")]:
            with self.subTest(text=text):
                _, errs = lex(text)
                self.assertEqual(errs, [(1, 1, message)])

    def test_comments_are_skipped(self) -> None:
        self.assertEqual(kinds_texts("a // b\n/* c\n d */ e //// f\n"),
                         [("IDENT", "a"), ("IDENT", "e"), ("EOF", "")])

    def test_block_comment_keeps_line_numbers(self) -> None:
        toks, _ = lex("/*\n\n*/ x")
        self.assertEqual((toks[0].loc.line, toks[0].loc.col), (3, 4))

    def test_doc_comments(self) -> None:
        toks, _ = lex("/// First line.\n///   indented\n///\nx")
        docs = [t.value for t in toks if t.kind is TokenKind.DOC]
        self.assertEqual(docs, ["First line.", "  indented", ""])

    def test_strings_and_escapes(self) -> None:
        toks, errs = lex(r'"a\"b\\c\n\t\r\0\x41é"')
        self.assertEqual(errs, [])
        self.assertEqual(toks[0].value, 'a"b\\c\n\t\r\0Aé')

    def test_string_errors(self) -> None:
        for text, col, message in [
                ('"abc', 1, "unterminated string literal"),
                ('"a\nb"', 1, "unterminated string literal"),
                (r'"\q"', 2, "unknown escape sequence '\\q'"),
                (r'"\x8f"', 2, "'\\x' needs two hex digits below 80 "
                               "(write other characters as UTF-8 text)"),
                ('"a\x01"', 3, "control character in string literal")]:
            with self.subTest(text=text):
                _, errs = lex(text)
                self.assertEqual(errs[0], (1, col, message))

    def test_unterminated_comment(self) -> None:
        _, errs = lex("x /* never")
        self.assertEqual(errs, [(1, 3, "unterminated comment")])

    def test_every_bad_character_is_reported(self) -> None:
        _, errs = lex("a # b $\n€")
        self.assertEqual(errs, [(1, 3, "unexpected character '#'"),
                                (1, 7, "unexpected character '$'"),
                                (2, 1, "unexpected character '€'")])

    def test_describe(self) -> None:
        toks, _ = lex('x "s" 1 ; /// d\n')
        self.assertEqual([t.describe() for t in toks],
                         ["'x'", 'string "s"', "'1'", "';'", "doc comment",
                          "end of file"])


if __name__ == "__main__":
    unittest.main()
