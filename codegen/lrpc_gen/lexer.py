"""Lexer: IDL source text -> tokens.

Words (keywords, type names and identifiers alike) are all ``IDENT`` tokens;
the parser decides from context which words are keywords.  This keeps words
such as ``error`` or ``event`` usable as field names.

Errors are collected and lexing continues after each one, so a file with
several bad characters reports all of them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import List, Union

from .errors import Diagnostics, Location

# Literals are limited to what fits a u64 (or, negated, an i64); anything
# larger cannot be a valid value of any IDL type.
MAX_LITERAL = (1 << 64) - 1

# Single-character punctuation; "->" is the only two-character token.
PUNCTUATION = frozenset(";,{}()[]<>=:.@-")

_HEX = frozenset("0123456789abcdefABCDEF")

# Line breaks: LF, CR LF and a lone CR, as C compilers count lines.  Form
# feeds, vertical tabs and Unicode separators (U+2028) are not: they are
# blanks in code and ordinary characters in comments, for positions too.
LINE_BREAK = r"\r\n|\r|\n"
_LINE_BREAK = re.compile(LINE_BREAK)

_COMMON = re.compile(r"(?P<newline>\r\n|\r|\n)|[ \t\f\v]+"
                     r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
                     r"|(?P<punct>->|[;,{}()\[\]<>=:.@-])")

_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


class TokenKind(enum.Enum):
    IDENT = "identifier"
    INT = "integer"
    STRING = "string"
    DOC = "doc comment"
    PUNCT = "punctuation"
    EOF = "end of file"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str                 # source spelling (doc text for DOC)
    value: Union[int, str, None]
    loc: Location

    def describe(self) -> str:
        """How the token is named in an error message."""
        if self.kind is TokenKind.EOF:
            return "end of file"
        if self.kind is TokenKind.DOC:
            return "doc comment"
        if self.kind is TokenKind.STRING:
            return f"string {self.text}"
        return f"'{self.text}'"


def _is_word_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_word_char(c: str) -> bool:
    return _is_word_start(c) or ("0" <= c <= "9")


class _Lexer:
    def __init__(self, text: str, file: str, diags: Diagnostics) -> None:
        self.text = text
        self.file = file
        self.diags = diags
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: List[Token] = []

    def loc(self, pos: int) -> Location:
        return Location(self.file, self.line, pos - self.line_start + 1)

    def error(self, pos: int, message: str) -> None:
        self.diags.error(self.loc(pos), message)

    def newline(self, pos: int) -> None:
        """Record that text[pos] is a newline."""
        self.line += 1
        self.line_start = pos + 1

    def add(self, kind: TokenKind, start: int, text: str,
            value: Union[int, str, None] = None) -> None:
        self.tokens.append(Token(kind, text, value, self.loc(start)))

    def run(self) -> List[Token]:
        text = self.text
        n = len(text)
        tokens = self.tokens
        file = self.file
        while self.pos < n:
            # The common tokens in one regular expression: a large input
            # is mostly words, punctuation and blanks.
            match = _COMMON.match(text, self.pos)
            if match is not None:
                group = match.lastgroup
                if group == "word":
                    word = match.group()
                    tokens.append(Token(TokenKind.IDENT, word, word,
                                        Location(file, self.line,
                                                 self.pos - self.line_start
                                                 + 1)))
                elif group == "punct":
                    self.add(TokenKind.PUNCT, self.pos, match.group())
                elif group == "newline":
                    self.newline(match.end() - 1)
                self.pos = match.end()
                continue
            c = text[self.pos]
            if text.startswith("//", self.pos):
                self.line_comment()
            elif text.startswith("/*", self.pos):
                self.block_comment()
            elif "0" <= c <= "9":
                self.number()
            elif c == '"':
                self.string()
            else:
                shown = c if c.isprintable() else f"\\u{ord(c):04x}"
                self.error(self.pos, f"unexpected character '{shown}'")
                self.pos += 1
        self.add(TokenKind.EOF, self.pos, "")
        return self.tokens

    def line_comment(self) -> None:
        start = self.pos
        brk = _LINE_BREAK.search(self.text, start)
        end = brk.start() if brk else len(self.text)
        body = self.text[start:end]
        self.pos = end
        # "///" starts a doc comment, "////..." is an ordinary comment
        # (a common way to draw separator lines).
        if body.startswith("///") and not body.startswith("////"):
            doc = body[3:]
            if doc.startswith(" "):
                doc = doc[1:]
            self.add(TokenKind.DOC, start, doc.rstrip(), doc.rstrip())

    def block_comment(self) -> None:
        start = self.pos
        end = self.text.find("*/", start + 2)
        if end < 0:
            self.error(start, "unterminated comment")
            end = len(self.text)
            stop = end
        else:
            stop = end + 2
        for brk in _LINE_BREAK.finditer(self.text, start,
                                        min(stop, len(self.text))):
            self.newline(brk.end() - 1)
        self.pos = stop

    def number(self) -> None:
        text = self.text
        start = self.pos
        while self.pos < len(text) and _is_word_char(text[self.pos]):
            self.pos += 1
        spelling = text[start:self.pos]
        try:
            if spelling[:2] in ("0x", "0X"):
                digits = spelling[2:]
                if not digits or any(d not in _HEX for d in digits):
                    raise ValueError
                value = int(digits, 16)
            elif spelling.isdigit():
                if len(spelling) > 1 and spelling[0] == "0":
                    self.error(start, f"leading zeros are not allowed in "
                               f"'{spelling}' (octal is not supported)")
                    value = 0
                else:
                    value = int(spelling, 10)
            else:
                raise ValueError
        except ValueError:
            self.error(start, f"invalid integer literal '{spelling}'")
            value = 0
        if value > MAX_LITERAL:
            self.error(start, f"integer literal '{spelling}' is too large")
            value = 0
        self.add(TokenKind.INT, start, spelling, value)

    def string(self) -> None:
        text = self.text
        start = self.pos
        self.pos += 1
        out = []
        while True:
            if self.pos >= len(text) or text[self.pos] in "\r\n":
                self.error(start, "unterminated string literal")
                break
            c = text[self.pos]
            if c == '"':
                self.pos += 1
                break
            if c == "\\":
                self.escape(out)
                continue
            if ord(c) < 0x20 and c != "\t":
                self.error(self.pos, "control character in string literal")
            out.append(c)
            self.pos += 1
        self.add(TokenKind.STRING, start, text[start:self.pos], "".join(out))

    def escape(self, out: List[str]) -> None:
        text = self.text
        at = self.pos
        nxt = text[at + 1] if at + 1 < len(text) else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            self.pos += 2
            return
        if nxt == "x":
            digits = text[at + 2:at + 4]
            if (len(digits) == 2 and all(d in _HEX for d in digits)
                    and int(digits, 16) < 0x80):
                out.append(chr(int(digits, 16)))
                self.pos += 4
                return
            self.error(at, "'\\x' needs two hex digits below 80 "
                           "(write other characters as UTF-8 text)")
            self.pos += 2
            return
        shown = nxt if nxt and nxt not in "\r\n" else ""
        self.error(at, f"unknown escape sequence '\\{shown}'")
        self.pos += 1 if nxt in ("", "\r", "\n") else 2


def tokenize(text: str, file: str, diags: Diagnostics) -> List[Token]:
    """Split ``text`` into tokens, ending with one EOF token.

    Problems are reported into ``diags``; the returned list is still
    usable but the caller should not parse it if errors were added.
    """
    return _Lexer(text, file, diags).run()
