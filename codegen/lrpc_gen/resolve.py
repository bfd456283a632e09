"""Resolution: what a name used in a declaration refers to.

Turns qualified names into the declarations of a ``Scope``, integer
arguments (array sizes, ``@max``, ``@since``) into values, and type
expressions into model types, reporting names that are undefined, not
imported, or of the wrong kind.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, Optional, Tuple

from . import ast
from . import model as m
from .errors import Diagnostics
from .naming import OPTIONAL_TOKEN
from .parser import PRIMITIVES
from .suggest import closest, hint
from .scope import Key, Mod, article, kind_of


class Resolver:
    def __init__(self, diags: Diagnostics,
                 consts: Dict[Key, m.Const]) -> None:
        self.d = diags
        # The checker fills this table, and checks every constant before
        # anything else, so that sizes and attributes may name constants.
        self.consts = consts

    def lookup(self, mod: Mod, q: ast.QName,
               what: str) -> Optional[Tuple[Mod, ast.Decl]]:
        target = mod
        if q.module is not None and q.module.text != mod.name:
            imported = mod.imports.get(q.module.text)
            if imported is None:
                if not mod.broken_import:
                    self.d.error(q.loc, f"unknown module '{q.module.text}' "
                                        f"(is it imported?)"
                                 + hint(q.module.text,
                                        list(mod.imports) + [mod.name]))
                return None
            target = imported
        decl = target.decls.get(q.name.text)
        if decl is None:
            self.d.error(q.loc, f"undefined {what} '{q}'"
                         + undefined_hint(mod, target, q, what))
            return None
        return target, decl

    def int_value(self, mod: Mod, e: ast.SizeExpr,
                  what: str) -> Optional[int]:
        if isinstance(e, ast.IntLit):
            return e.value
        found = self.lookup(mod, e, "constant")
        if found is None:
            return None
        target, decl = found
        const = self.consts.get((target.name, decl.name.text))
        if not isinstance(decl, ast.Const):
            self.d.error(e.loc, f"{what} must be an integer or an integer "
                                f"constant, and '{e}' is "
                                f"{article(kind_of(decl))}")
            return None
        if const is None:
            return None         # the constant itself is in error
        if not const.type.is_integer:
            self.d.error(e.loc, f"{what} must be an integer, and constant "
                                f"'{e}' is {const.type.name}")
            return None
        assert isinstance(const.value, int)
        return const.value

    def type(self, mod: Mod, t: ast.TypeExpr) -> Optional[m.Type]:
        """The model type of ``t``, or None after reporting why not."""
        if isinstance(t, ast.PrimType):
            return m.Primitive(t.name)
        if isinstance(t, ast.NamedType):
            return self.named(mod, t)
        if isinstance(t, ast.ArrayType):
            return self.array(mod, t)
        if isinstance(t, ast.OptionalType):
            if isinstance(t.inner, ast.OptionalType):
                self.d.error(t.inner.loc, "'optional optional' is not "
                                          "allowed")
                return None
            inner = self.type(mod, t.inner)
            return None if inner is None else m.Optional_(inner)
        if isinstance(t, ast.MapType):
            return self.map(mod, t)
        return self.bounded(mod, t)

    def named(self, mod: Mod, t: ast.NamedType) -> Optional[m.Type]:
        found = self.lookup(mod, t.qname, "type")
        if found is None:
            return None
        target, decl = found
        kind = {ast.Struct: "struct", ast.Union_: "union",
                ast.Enum: "enum"}.get(type(decl))
        if kind is None:
            self.d.error(t.loc, f"'{t.qname}' is "
                                f"{article(kind_of(decl))}, not a type")
            return None
        name = decl.name.text
        return m.Ref(kind, target.name, name, target.namer.type_name(name))

    def array(self, mod: Mod, t: ast.ArrayType) -> Optional[m.Type]:
        elem = self.type(mod, t.element)
        size = None
        if t.size is not None:
            size = self.int_value(mod, t.size, "an array size")
            if size is None:
                return None
            if size < 1:
                self.d.error(t.size.loc, f"array size must be at least "
                                         f"1, not {size}")
                return None
            if size > m.MAX_FIXED_ARRAY:
                self.d.error(t.size.loc, f"array size {size} is above "
                                         f"the limit of "
                                         f"{m.MAX_FIXED_ARRAY}")
                return None
        if elem is None:
            return None
        tok = self.token(mod, elem)
        return m.Array(elem, size, None,
                       mod.namer.list_type(tok) if size is None
                       else mod.namer.array_type(tok, size))

    def map(self, mod: Mod, t: ast.MapType) -> Optional[m.Type]:
        key = self.type(mod, t.key)
        value = self.type(mod, t.value)
        if key is not None and not is_map_key(key):
            self.d.error(t.key.loc, f"map key must be an integer, string "
                                    f"or enum type, not "
                                    f"'{m.type_text(key, mod.name)}'")
            return None
        if key is None or value is None:
            return None
        return m.Map(key, value, None, mod.namer.map_type(
            self.token(mod, key), self.token(mod, value)))

    def token(self, mod: Mod, t: m.Type) -> str:
        """How ``t`` appears in the names of collections of ``mod``
        (naming.py, "Collections")."""
        if isinstance(t, m.Primitive):
            return t.name
        if isinstance(t, m.Optional_):
            return OPTIONAL_TOKEN + self.token(mod, t.inner)
        if isinstance(t, m.Ref) and t.module != mod.name:
            return t.c_name
        return mod.namer.token(t.c_name)

    def fd_kind(self, mod: Mod, t: ast.BoundedType) -> Optional[m.Type]:
        """``fd @kind(K)``: what the receiver checks the fd is."""
        inner = self.type(mod, t.inner)
        arg = t.attr.arg
        kinds = ", ".join(m.FD_KINDS)
        if inner is None:
            return None
        if not isinstance(inner, m.Primitive) or inner.name != "fd":
            self.d.error(t.attr.loc, f"'@kind' applies to fd, not "
                                     f"'{m.type_text(inner, mod.name)}'")
            return None
        if inner.kind is not None:
            self.d.error(t.attr.loc, "this fd already has a '@kind'")
            return None
        if not isinstance(arg, ast.QName) or str(arg) not in m.FD_KINDS:
            self.d.error(t.attr.loc, f"'@kind' takes one of {kinds}, as "
                                     f"in '@kind(memfd)'")
            return None
        return replace(inner, kind=str(arg))

    def bounded(self, mod: Mod, t: ast.BoundedType) -> Optional[m.Type]:
        if t.attr.name.text == "kind":
            return self.fd_kind(mod, t)
        inner = self.type(mod, t.inner)
        if t.attr.arg is None:
            self.d.error(t.attr.loc, "'@max' needs a value, as in "
                                     "'@max(64)'")
            return None
        n = self.int_value(mod, t.attr.arg, "'@max'")
        if n is None or inner is None:
            return None
        if not 1 <= n <= m.MAX_BOUND:
            self.d.error(t.attr.loc, f"'@max({n})' is out of range "
                                     f"(1..{m.MAX_BOUND})")
            return None
        shown = m.type_text(inner, mod.name)
        if isinstance(inner, m.Array) and inner.size is not None:
            self.d.error(t.attr.loc, f"'@max' does not apply to the "
                                     f"fixed-size array '{shown}'")
            return None
        if isinstance(inner, (m.Primitive, m.Array, m.Map)) and (
                not isinstance(inner, m.Primitive)
                or inner.name in ("string", "bytes")):
            if inner.max is not None:
                self.d.error(t.attr.loc, f"'{shown}' already has a '@max' "
                                         f"bound")
                return None
            return replace(inner, max=n)
        self.d.error(t.attr.loc, f"'@max' applies to string, bytes, T[] "
                                 f"and map, not '{shown}'")
        return None


# What each kind of use can name, for "did you mean".
_ANY = (ast.Const, ast.Enum, ast.ErrorDecl, ast.Struct, ast.Union_,
        ast.Interface)
_USABLE = {"type": (ast.Struct, ast.Union_, ast.Enum),
           "constant": (ast.Const,), "error": (ast.ErrorDecl,)}


def undefined_hint(mod: Mod, target: Mod, q: ast.QName, what: str) -> str:
    """"; did you mean ..." for an undefined name: a declaration of the
    right kind spelt alike, a built-in type, or the same name in an
    imported module (which must be qualified)."""
    if q.module is None:
        for name in sorted(mod.imports):
            decl = mod.imports[name].decls.get(q.name.text)
            if isinstance(decl, _USABLE.get(what, _ANY)):
                return f"; did you mean '{name}.{q.name.text}'?"
    kinds = _USABLE.get(what, _ANY)
    names = [n for n, d in target.decls.items() if isinstance(d, kinds)]
    if what == "type" and q.module is None:
        names += sorted(PRIMITIVES)
    c = closest(q.name.text, names)
    if c is None:
        return ""
    return f"; did you mean '{c}'?" if q.module is None \
        else f"; did you mean '{q.module.text}.{c}'?"


def is_map_key(t: m.Type) -> bool:
    if isinstance(t, m.Primitive):
        return t.is_integer or t.name == "string"
    return isinstance(t, m.Ref) and t.kind == "enum"
