"""Parser: tokens -> ``ast.File`` by recursive descent.

The grammar is in docs/idl.md.  A syntax error stops parsing of that file
(later errors would mostly be consequences of the first); the file is then
left out of checking, while other files are still checked.
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

from . import ast
from .errors import Diagnostics, Location
from .lexer import Token, TokenKind, tokenize
from .model import MAX_DEPTH
from .suggest import hint

PRIMITIVES = frozenset([
    "bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64",
    "f32", "f64", "string", "bytes", "fd",
])

# Words with a meaning in some position.  They are only keywords where that
# meaning applies, but a declaration may not be named after one (see check).
KEYWORDS = frozenset([
    "module", "import", "const", "enum", "struct", "union", "error",
    "interface", "oneway", "event", "raises", "optional", "map", "true",
    "false",
])

_DECL_WORDS = ("const", "enum", "struct", "union", "error", "interface")

# Levels of optional, map and array a type may spell out.  Each level adds
# one to the nesting depth the checker limits to model.MAX_DEPTH, so a type
# this deep can never be valid; it is refused here already, before any
# stage recurses through it (docs/idl.md, "Limits").  Types between the two
# limits get the checker's message, which says where the depth comes from.
MAX_TYPE_NESTING = 100


class _SyntaxError(Exception):
    def __init__(self, loc: Location, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        # Where the declaration with the error starts (None: the file).
        self.begin: Optional[Location] = None


class _Parser:
    def __init__(self, tokens: List[Token], path: str) -> None:
        self.toks = tokens
        self.i = 0
        self.path = path
        self.nesting = 0        # type levels open (see MAX_TYPE_NESTING)
        # Syntax errors of earlier declarations (file() goes on after
        # each, at the next declaration).
        self.errors: List[_SyntaxError] = []

    # --- token helpers ----------------------------------------------------

    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else self.toks[-1]

    def next(self) -> Token:
        tok = self.peek()
        if tok.kind is not TokenKind.EOF:
            self.i += 1
        return tok

    def is_punct(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind is TokenKind.PUNCT and tok.text == text

    def is_word(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind is TokenKind.IDENT and tok.text == text

    def fail(self, tok: Token, message: str) -> "_SyntaxError":
        return _SyntaxError(tok.loc, message)

    def expected(self, what: str) -> "_SyntaxError":
        tok = self.peek()
        return self.fail(tok, f"expected {what} but found {tok.describe()}")

    def expect_punct(self, text: str) -> Token:
        if not self.is_punct(text):
            raise self.expected(f"'{text}'")
        return self.next()

    def expect_name(self, what: str) -> ast.Name:
        tok = self.peek()
        if tok.kind is not TokenKind.IDENT:
            raise self.expected(what)
        self.next()
        return ast.Name(tok.text, tok.loc)

    def expect_int(self, what: str) -> ast.IntLit:
        tok = self.peek()
        if tok.kind is not TokenKind.INT:
            raise self.expected(what)
        self.next()
        assert isinstance(tok.value, int)
        return ast.IntLit(tok.value, tok.loc)

    def docs(self) -> ast.Doc:
        lines = []
        while self.peek().kind is TokenKind.DOC:
            value = self.next().value
            assert isinstance(value, str)
            lines.append(value)
        return tuple(lines)

    def no_docs(self) -> None:
        tok = self.peek()
        if tok.kind is TokenKind.DOC:
            raise self.fail(tok, "doc comment is not followed by a "
                                 "declaration it could document")

    # --- file level -------------------------------------------------------

    def file(self) -> ast.File:
        start = self.peek().loc
        doc = self.docs()
        module = None
        if self.is_word("module"):
            loc = self.next().loc
            name = self.expect_name("a module name")
            self.expect_punct(";")
            module = ast.Module(name, doc, loc)
            doc = ()
        imports = []
        while self.is_word("import"):
            if doc:
                raise self.fail(self.peek(), "an import cannot have a doc "
                                             "comment")
            self.next()
            tok = self.peek()
            if tok.kind is not TokenKind.STRING:
                raise self.expected("a quoted file name")
            self.next()
            self.expect_punct(";")
            assert isinstance(tok.value, str)
            imports.append(ast.Import(tok.value, tok.loc))
        decls = []
        while self.peek().kind is not TokenKind.EOF:
            begin = self.i
            try:
                decls.append(self.top_decl(doc))
            except _SyntaxError as e:
                e.begin = self.toks[begin].loc
                self.errors.append(e)
                self.skip_declaration(begin)
            doc = ()
        if self.errors:
            raise self.errors.pop(0)
        return ast.File(self.path, module, tuple(imports), tuple(decls),
                        start)

    def top_decl(self, doc: ast.Doc) -> ast.Decl:
        doc_tok = self.peek()
        if not doc:
            doc = self.docs()
        tok = self.peek()
        if tok.kind is TokenKind.EOF:
            raise self.fail(doc_tok, "doc comment is not followed by a "
                                     "declaration it could document")
        if self.is_word("module"):
            raise self.fail(tok, "the module declaration must come "
                                 "first, and only once")
        if self.is_word("import"):
            raise self.fail(tok, "imports must come before all "
                                 "declarations")
        return self.decl(doc)

    def skip_declaration(self, begin: int) -> None:
        """After a syntax error in the declaration that starts at token
        ``begin``, move to the start of the next one, so that the errors
        of later declarations are reported too: past the ';' or '}' at
        which the declaration's braces close (at or after the error), then
        to a declaration keyword or a doc comment.  A file whose braces do
        not balance again is not read further: what follows would only
        give errors caused by the first."""
        toks = self.toks
        failed_at = max(self.i, begin)
        depth = 0
        i = begin
        while toks[i].kind is not TokenKind.EOF:
            t = toks[i]
            i += 1
            if t.kind is not TokenKind.PUNCT:
                continue
            if t.text == "{":
                depth += 1
            elif t.text == "}":
                depth -= 1
            if t.text in ";}" and depth <= 0 and i > failed_at:
                break
        while toks[i].kind is TokenKind.PUNCT and toks[i].text in ";}":
            i += 1
        if depth > 0 or not (toks[i].kind is TokenKind.DOC or (
                toks[i].kind is TokenKind.IDENT
                and toks[i].text in _DECL_WORDS)):
            i = len(toks) - 1       # the EOF token
        self.i = i

    def decl(self, doc: ast.Doc) -> ast.Decl:
        tok = self.peek()
        if tok.kind is TokenKind.IDENT and tok.text in _DECL_WORDS:
            self.next()
            return getattr(self, "decl_" + tok.text)(doc, tok.loc)
        e = self.expected("a declaration (const, enum, struct, union, "
                          "error or interface)")
        if tok.kind is TokenKind.IDENT:
            e.message += hint(tok.text, _DECL_WORDS)
        raise e

    def decl_const(self, doc: ast.Doc, loc: Location) -> ast.Const:
        type_ = self.type_expr()
        name = self.expect_name("a constant name")
        self.expect_punct("=")
        value = self.value()
        self.expect_punct(";")
        return ast.Const(name, type_, value, doc, loc)

    def value(self) -> ast.Value:
        tok = self.peek()
        if tok.kind is TokenKind.STRING:
            self.next()
            assert isinstance(tok.value, str)
            return ast.StrLit(tok.value, tok.loc)
        if self.is_word("true") or self.is_word("false"):
            self.next()
            return ast.BoolLit(tok.text == "true", tok.loc)
        if tok.kind is TokenKind.IDENT:
            return self.qname("a value")
        return self.signed_int("a value")

    def signed_int(self, what: str) -> ast.IntLit:
        if self.is_punct("-"):
            loc = self.next().loc
            lit = self.expect_int("an integer after '-'")
            return ast.IntLit(-lit.value, loc)
        return self.expect_int(what)

    def members(self, what: str) -> Tuple[ast.Member, ...]:
        """``{ NAME = value, ... }`` of enums and errors."""
        self.expect_punct("{")
        members = []
        while not self.is_punct("}"):
            doc = self.docs()
            attrs = self.attrs()
            name = self.expect_name(f"{what} name or '}}'")
            value = None
            if self.is_punct("="):
                self.next()
                value = self.signed_int("an integer value")
            members.append(ast.Member(name, value, doc, attrs))
            if not self.is_punct(","):
                self.no_docs()
                break
            self.next()
        self.expect_punct("}")
        return tuple(members)

    def decl_enum(self, doc: ast.Doc, loc: Location) -> ast.Enum:
        name = self.expect_name("an enum name")
        base = None
        if self.is_punct(":"):
            self.next()
            base = self.type_expr()
        return ast.Enum(name, base, self.members("an enumerator"), doc, loc)

    def decl_error(self, doc: ast.Doc, loc: Location) -> ast.ErrorDecl:
        name = self.expect_name("an error name")
        return ast.ErrorDecl(name, self.members("an error code"), doc, loc)

    def fields(self) -> Tuple[ast.Field, ...]:
        self.expect_punct("{")
        fields = []
        while not self.is_punct("}"):
            doc = self.docs()
            attrs = self.attrs()
            type_ = self.type_expr()
            name = self.expect_name("a field name")
            ordinal = self.ordinal()
            self.expect_punct(";")
            fields.append(ast.Field(name, type_, ordinal, attrs, doc))
        self.no_docs()
        self.expect_punct("}")
        return tuple(fields)

    def decl_struct(self, doc: ast.Doc, loc: Location) -> ast.Struct:
        name = self.expect_name("a struct name")
        return ast.Struct(name, self.fields(), doc, loc)

    def decl_union(self, doc: ast.Doc, loc: Location) -> ast.Union_:
        name = self.expect_name("a union name")
        tag = None
        if self.is_punct(":"):
            self.next()
            tag = self.type_expr()
        return ast.Union_(name, tag, self.fields(), doc, loc)

    def decl_interface(self, doc: ast.Doc, loc: Location) -> ast.Interface:
        name = self.expect_name("an interface name")
        attrs = self.attrs()
        self.expect_punct("{")
        methods = []
        while not self.is_punct("}"):
            methods.append(self.method())
        self.expect_punct("}")
        return ast.Interface(name, attrs, tuple(methods), doc, loc)

    def method(self) -> ast.Method:
        doc = self.docs()
        attrs = self.attrs()
        loc = self.peek().loc
        kind = "call"
        # "oneway" and "event" are modifiers only when a name follows, so
        # a method may still be called "event".
        for word in ("oneway", "event"):
            if self.is_word(word) and self.peek(1).kind is TokenKind.IDENT:
                self.next()
                kind = word
                break
        name = self.expect_name("a method name or '}'")
        params = self.params()
        results = None
        arrow = None
        stream = None
        if self.is_punct("->"):
            arrow = self.next().loc
            # "stream" is a keyword only here, before the result list.
            if self.is_word("stream") and self.is_punct("(", 1):
                stream = self.next().loc
            results = self.params()
        raises: List[ast.QName] = []
        raises_loc = None
        if self.is_word("raises"):
            raises_loc = self.next().loc
            raises.append(self.qname("an error name"))
            while self.is_punct(","):
                self.next()
                raises.append(self.qname("an error name"))
        ordinal = self.ordinal()
        self.expect_punct(";")
        return ast.Method(name, kind, params, results, arrow, tuple(raises),
                          raises_loc, ordinal, attrs, doc, loc, stream)

    def params(self) -> Tuple[ast.Param, ...]:
        self.expect_punct("(")
        params = []
        while not self.is_punct(")"):
            attrs = self.attrs()
            type_ = self.type_expr()
            name = self.expect_name("a parameter name")
            params.append(ast.Param(name, type_, attrs))
            if not self.is_punct(","):
                break
            self.next()
        self.expect_punct(")")
        return tuple(params)

    def ordinal(self) -> Optional[ast.IntLit]:
        """``@N`` before a ';'; missing ordinals are reported by check."""
        if not self.is_punct("@"):
            if self.is_punct(";"):
                return None
            raise self.expected("an ordinal '@N' or ';'")
        self.next()
        return self.expect_int("an ordinal number after '@'")

    def attrs(self) -> Tuple[ast.Attr, ...]:
        attrs = []
        while self.is_punct("@"):
            attrs.append(self.attr())
        return tuple(attrs)

    def attr(self) -> ast.Attr:
        loc = self.expect_punct("@").loc
        name = self.expect_name("an attribute name")
        arg: Optional[ast.SizeExpr] = None
        items: List[ast.AttrEntry] = []
        if self.is_punct("("):
            self.next()
            items.append(self.attr_entry())
            while self.is_punct(","):
                self.next()
                items.append(self.attr_entry())
            self.expect_punct(")")
            # One plain value is the common case (@since(2)); lists are
            # for the attributes that take several (@access).
            if len(items) == 1 and not isinstance(items[0], ast.AttrItem):
                arg = items.pop()
        return ast.Attr(name, arg, loc, tuple(items))

    def attr_entry(self) -> ast.AttrEntry:
        if self.peek().kind is TokenKind.IDENT and self.is_punct(":", 1):
            key = self.expect_name("an attribute key")
            self.next()
            tok = self.peek()
            value: Union[ast.IntLit, ast.StrLit, ast.QName]
            if tok.kind is TokenKind.STRING:
                self.next()
                assert isinstance(tok.value, str)
                value = ast.StrLit(tok.value, tok.loc)
            elif tok.kind is TokenKind.IDENT:
                value = self.qname("a value")
            else:
                value = self.signed_int(f"a value for '{key.text}'")
            return ast.AttrItem(key, value, key.loc)
        if self.peek().kind is TokenKind.IDENT:
            return self.qname("an attribute argument")
        return self.signed_int("an attribute argument")

    # --- types ------------------------------------------------------------

    def qname(self, what: str) -> ast.QName:
        first = self.expect_name(what)
        if self.is_punct("."):
            self.next()
            second = self.expect_name("a name after '.'")
            return ast.QName(first, second)
        return ast.QName(None, first)

    def nest(self, tok: Token) -> None:
        """Enter one more level of a type at ``tok``."""
        self.nesting += 1
        if self.nesting > MAX_TYPE_NESTING:
            raise self.fail(tok, f"type nests more than "
                                 f"{MAX_TYPE_NESTING} levels deep; the "
                                 f"limit is {MAX_DEPTH}")

    def type_expr(self) -> ast.TypeExpr:
        outer = self.nesting
        try:
            return self.type_levels()
        finally:
            self.nesting = outer

    def type_levels(self) -> ast.TypeExpr:
        if self.is_word("optional") and (
                self.peek(1).kind is TokenKind.IDENT):
            self.nest(self.peek())
            loc = self.next().loc
            return ast.OptionalType(self.type_expr(), loc)
        t = self.base_type()
        while True:
            if self.is_punct("["):
                self.nest(self.peek())
                loc = self.next().loc
                size: Optional[ast.SizeExpr] = None
                if not self.is_punct("]"):
                    if self.peek().kind is TokenKind.IDENT:
                        size = self.qname("an array size")
                    else:
                        size = self.signed_int("an array size or ']'")
                self.expect_punct("]")
                t = ast.ArrayType(t, size, loc)
            elif self.is_punct("@"):
                # A type is always followed by a name, so '@' here can
                # only be a type attribute.
                attr = self.attr()
                if attr.name.text not in ("max", "kind"):
                    raise _SyntaxError(attr.loc, f"'@{attr.name.text}' "
                                       f"cannot follow a type; only "
                                       f"'@max(N)' and '@kind(K)' can")
                t = ast.BoundedType(t, attr, attr.loc)
            else:
                return t

    def base_type(self) -> ast.TypeExpr:
        tok = self.peek()
        if tok.kind is not TokenKind.IDENT:
            raise self.expected("a type")
        if tok.text in PRIMITIVES and not self.is_punct(".", 1):
            self.next()
            return ast.PrimType(tok.text, tok.loc)
        if tok.text == "map" and self.is_punct("<", 1):
            self.nest(tok)
            self.next()
            self.next()
            key = self.type_expr()
            self.expect_punct(",")
            value = self.type_expr()
            self.expect_punct(">")
            return ast.MapType(key, value, tok.loc)
        qname = self.qname("a type")
        return ast.NamedType(qname, tok.loc)


def parse(text: str, path: str, diags: Diagnostics) -> Optional[ast.File]:
    """Parse one file; returns None (with errors in ``diags``) on failure."""
    before = len(diags.items)
    tokens = tokenize(text, path, diags)
    lexed = [d.loc for d in diags.items[before:] if d.loc is not None]
    parser = _Parser(tokens, path)
    try:
        parsed = parser.file()
        errors = []
    except _SyntaxError as e:
        parsed = None
        errors = [e] + parser.errors
    for err in errors:
        # Next to errors of the lexer, a syntax error is reported only when
        # its declaration has none (from its start to the error): where it
        # has one, the syntax error is most likely its consequence.
        start = err.begin or tokens[0].loc
        if not any(start <= loc <= err.loc for loc in lexed):
            diags.error(err.loc, err.message)
    return None if lexed else parsed
