"""Syntax tree produced by the parser.

Nodes mirror the source closely and carry a ``Location`` each; names are not
resolved yet.  The front end (frontend.py) turns this tree into the
frozen model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

from .errors import Location

Doc = Tuple[str, ...]


@dataclass(frozen=True)
class Name:
    text: str
    loc: Location


@dataclass(frozen=True)
class QName:
    """``Name`` or ``module.Name``."""

    module: Optional[Name]
    name: Name

    @property
    def loc(self) -> Location:
        return self.module.loc if self.module else self.name.loc

    def __str__(self) -> str:
        if self.module:
            return f"{self.module.text}.{self.name.text}"
        return self.name.text


@dataclass(frozen=True)
class IntLit:
    value: int            # sign already applied
    loc: Location


@dataclass(frozen=True)
class StrLit:
    value: str
    loc: Location


@dataclass(frozen=True)
class BoolLit:
    value: bool
    loc: Location


Value = Union[IntLit, StrLit, BoolLit, QName]
SizeExpr = Union[IntLit, QName]    # array sizes and attribute arguments


@dataclass(frozen=True)
class AttrItem:
    """``key: value`` in an attribute's list, as in ``@access(uid: 0)``."""

    key: Name
    value: Union[IntLit, StrLit, QName]
    loc: Location


# An entry of an attribute's list: a word, a number or ``key: value``.
AttrEntry = Union[IntLit, QName, AttrItem]


@dataclass(frozen=True)
class Attr:
    """``@name(arg)``; ``arg`` is None when written ``@name``.  An
    attribute given a list (``@access(owner, group: "wheel")``) has its
    entries in ``items`` and no ``arg``."""

    name: Name
    arg: Optional[SizeExpr]
    loc: Location
    items: Tuple[AttrEntry, ...] = ()


# --- types -----------------------------------------------------------------

@dataclass(frozen=True)
class PrimType:
    name: str
    loc: Location


@dataclass(frozen=True)
class NamedType:
    qname: QName
    loc: Location


@dataclass(frozen=True)
class ArrayType:
    element: "TypeExpr"
    size: Optional[SizeExpr]     # None for T[]
    loc: Location                # the '['


@dataclass(frozen=True)
class OptionalType:
    inner: "TypeExpr"
    loc: Location


@dataclass(frozen=True)
class MapType:
    key: "TypeExpr"
    value: "TypeExpr"
    loc: Location


@dataclass(frozen=True)
class BoundedType:
    """``T @max(N)``: a length bound on string, bytes, T[] or map."""

    inner: "TypeExpr"
    attr: Attr
    loc: Location


TypeExpr = Union[PrimType, NamedType, ArrayType, OptionalType, MapType,
                 BoundedType]


def type_text(t: TypeExpr) -> str:
    """The type as it would be written in IDL, for messages."""
    if isinstance(t, PrimType):
        return t.name
    if isinstance(t, NamedType):
        return str(t.qname)
    if isinstance(t, ArrayType):
        if t.size is None:
            size = ""
        elif isinstance(t.size, IntLit):
            size = str(t.size.value)
        else:
            size = str(t.size)
        return f"{type_text(t.element)}[{size}]"
    if isinstance(t, OptionalType):
        return f"optional {type_text(t.inner)}"
    if isinstance(t, MapType):
        return f"map<{type_text(t.key)}, {type_text(t.value)}>"
    arg = t.attr.arg
    shown = "" if arg is None else (
        str(arg.value) if isinstance(arg, IntLit) else str(arg))
    return f"{type_text(t.inner)} @max({shown})"


# --- declarations ----------------------------------------------------------

@dataclass(frozen=True)
class Module:
    name: Name
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Import:
    path: str
    loc: Location           # the string literal


@dataclass(frozen=True)
class Const:
    name: Name
    type: TypeExpr
    value: Value
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Member:
    """An enumerator or an error code: ``attrs NAME = value``."""

    name: Name
    value: Optional[IntLit]
    doc: Doc
    attrs: Tuple["Attr", ...] = ()


@dataclass(frozen=True)
class Enum:
    name: Name
    base: Optional[TypeExpr]
    members: Tuple[Member, ...]
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class ErrorDecl:
    name: Name
    members: Tuple[Member, ...]
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Field:
    """A struct field or a union case: ``attrs type name @ordinal;``."""

    name: Name
    type: TypeExpr
    ordinal: Optional[IntLit]
    attrs: Tuple[Attr, ...]
    doc: Doc


@dataclass(frozen=True)
class Struct:
    name: Name
    fields: Tuple[Field, ...]
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Union_:
    name: Name
    tag: Optional[TypeExpr]
    cases: Tuple[Field, ...]
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Param:
    name: Name
    type: TypeExpr
    attrs: Tuple[Attr, ...]


@dataclass(frozen=True)
class Method:
    name: Name
    kind: str                          # "call", "oneway" or "event"
    params: Tuple[Param, ...]
    results: Optional[Tuple[Param, ...]]   # None when there is no "->"
    arrow: Optional[Location]
    raises: Tuple[QName, ...]
    raises_loc: Optional[Location]
    ordinal: Optional[IntLit]
    attrs: Tuple[Attr, ...]
    doc: Doc
    loc: Location                      # the first token (modifier or name)
    # "-> stream (...)": the results are the items of a streamed reply.
    stream: Optional[Location] = None


@dataclass(frozen=True)
class Interface:
    name: Name
    attrs: Tuple[Attr, ...]
    methods: Tuple[Method, ...]
    doc: Doc
    loc: Location


Decl = Union[Const, Enum, ErrorDecl, Struct, Union_, Interface]


@dataclass(frozen=True)
class File:
    path: str
    module: Optional[Module]
    imports: Tuple[Import, ...]
    decls: Tuple[Decl, ...]
    start: Location           # the first token, for file-level errors
