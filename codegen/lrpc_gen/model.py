"""The checked model: frozen dataclasses that back ends only read.

Everything a back end needs is computed once by the front end (C names,
ordinals, nesting depth, interface ids and hashes, dependency order), so
templates never compute facts of their own.

Every declaration has a ``kind`` ("constant", "enum", "error", "struct",
"union" or "interface", the words ``Ref.kind`` uses too), so back ends and
templates branch on a fact rather than on Python class names.

Iteration order is deterministic: modules dependencies-first, declarations
in source order, struct fields and union cases by ordinal, methods by
ordinal, and ``Module.type_order`` in dependency order for C headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Dict, Optional, Tuple, Union

from .errors import Location
from .naming import InterfaceNames, MethodNames

Doc = Tuple[str, ...]

INTEGER_RANGES: Dict[str, Tuple[int, int]] = {
    "i8": (-(1 << 7), (1 << 7) - 1),
    "i16": (-(1 << 15), (1 << 15) - 1),
    "i32": (-(1 << 31), (1 << 31) - 1),
    "i64": (-(1 << 63), (1 << 63) - 1),
    "u8": (0, (1 << 8) - 1),
    "u16": (0, (1 << 16) - 1),
    "u32": (0, (1 << 32) - 1),
    "u64": (0, (1 << 64) - 1),
}

# What an ``fd @kind(K)`` may ask for (checked on receive), and the value
# of each in lrpc_rpc_fd_kind (include/lrpc/rpc.h).
FD_KINDS = {"memfd": 1, "socket": 2, "pipe": 3, "file": 4}

# --- limits that keep decoding bounded (documented in docs/idl.md) ---------
MAX_DEPTH = 32                 # nesting of structs/unions/arrays/maps/optional
MAX_FIXED_ARRAY = 65536        # elements in T[N]
MAX_BOUND = (1 << 32) - 1      # @max(N): lengths travel as u32
MAX_ORDINAL = 65535            # field, case and method ordinals
MAX_VERSION = 65535            # interface versions and @since


@dataclass(frozen=True)
class Primitive:
    name: str                  # bool, i8..u64, f32, f64, string, bytes, fd
    max: Optional[int] = None  # @max(N) for string and bytes
    kind: Optional[str] = None  # @kind(K) for fd: one of FD_KINDS

    @property
    def is_integer(self) -> bool:
        return self.name in INTEGER_RANGES

    @property
    def is_signed(self) -> bool:
        return self.name.startswith("i")

    @property
    def range(self) -> Tuple[int, int]:
        return INTEGER_RANGES[self.name]


@dataclass(frozen=True)
class Array:
    element: "Type"
    size: Optional[int] = None   # T[N]; None for T[]
    max: Optional[int] = None    # @max(N) on T[]
    # The named C type (naming.Namer.list_type/array_type) of the module
    # where the type is written: kv_entry_list, kv_u8_array16.
    c_name: str = ""


@dataclass(frozen=True)
class Optional_:
    inner: "Type"


@dataclass(frozen=True)
class Map:
    key: "Type"
    value: "Type"
    max: Optional[int] = None
    c_name: str = ""             # naming.Namer.map_type: kv_string_u32_map


@dataclass(frozen=True)
class Ref:
    """A use of a named enum, struct or union; resolve with Model.lookup."""

    kind: str                  # "enum", "struct" or "union"
    module: str
    name: str
    c_name: str


Type = Union[Primitive, Array, Optional_, Map, Ref]
Collection = Union[Array, Map]


def c_shape(t: Type) -> Type:
    """``t`` without its ``@max`` bounds, at every level: what decides its
    C type, and so the one named C type every use of a collection shares."""
    if isinstance(t, Primitive):
        return Primitive(t.name)
    if isinstance(t, Array):
        return Array(c_shape(t.element), t.size, None, t.c_name)
    if isinstance(t, Map):
        return Map(c_shape(t.key), c_shape(t.value), None, t.c_name)
    if isinstance(t, Optional_):
        return Optional_(c_shape(t.inner))
    return t


def collection_kind(t: Collection) -> str:
    """"list", "array" or "map": the word for a collection in messages."""
    if isinstance(t, Map):
        return "map"
    return "list" if t.size is None else "array"


def type_text(t: Type, home: str = "") -> str:
    """IDL spelling of a model type; names outside ``home`` are qualified."""
    if isinstance(t, Primitive):
        return t.name + (f" @max({t.max})" if t.max is not None else "") \
            + (f" @kind({t.kind})" if t.kind is not None else "")
    if isinstance(t, Array):
        size = "" if t.size is None else str(t.size)
        bound = f" @max({t.max})" if t.max is not None else ""
        return f"{type_text(t.element, home)}[{size}]{bound}"
    if isinstance(t, Optional_):
        return f"optional {type_text(t.inner, home)}"
    if isinstance(t, Map):
        bound = f" @max({t.max})" if t.max is not None else ""
        return (f"map<{type_text(t.key, home)}, "
                f"{type_text(t.value, home)}>{bound}")
    return t.name if t.module == home else f"{t.module}.{t.name}"


@dataclass(frozen=True)
class Const:
    kind: ClassVar[str] = "constant"
    name: str
    c_name: str
    type: Primitive
    value: Union[int, bool, str]
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Member:
    """An enumerator or an error code."""

    name: str
    c_name: str
    value: int
    doc: Doc
    loc: Location
    since: int = 1                  # enumerators: the version that added it


@dataclass(frozen=True)
class Enum:
    kind: ClassVar[str] = "enum"
    name: str
    c_name: str
    base: Primitive
    members: Tuple[Member, ...]     # source order
    doc: Doc
    loc: Location

    @property
    def values(self) -> Tuple[int, ...]:
        return tuple(sorted(m.value for m in self.members))

    def values_at(self, version: int) -> Tuple[int, ...]:
        """The values a peer at ``version`` knows."""
        return tuple(sorted(m.value for m in self.members
                            if m.since <= version))

    @property
    def by_value(self) -> Tuple[Member, ...]:
        """The enumerators sorted by value, as the descriptor lists them."""
        return tuple(sorted(self.members, key=lambda m: m.value))


@dataclass(frozen=True)
class ErrorDecl:
    kind: ClassVar[str] = "error"
    name: str
    c_name: str
    codes: Tuple[Member, ...]       # source order
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Field:
    """A struct field or union case; for unions the ordinal is the tag."""

    name: str
    c_name: str
    type: Type
    ordinal: int
    since: int
    doc: Doc
    loc: Location
    # @removed: the field keeps its place on the wire (encoded as its
    # type's default, skipped when decoded) but has no C member.
    removed: bool = False


@dataclass(frozen=True)
class Struct:
    kind: ClassVar[str] = "struct"
    name: str
    c_name: str
    fields: Tuple[Field, ...]       # by ordinal (the wire order)
    depth: int
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Union_:
    kind: ClassVar[str] = "union"
    name: str
    c_name: str
    tag: Primitive
    cases: Tuple[Field, ...]        # by tag
    depth: int
    doc: Doc
    loc: Location


@dataclass(frozen=True)
class Param:
    name: str
    c_name: str
    type: Type
    since: int
    loc: Location


@dataclass(frozen=True)
class ErrorRef:
    module: str
    name: str
    c_name: str


@dataclass(frozen=True)
class Access:
    """A method's ``@access`` policy.  Root may always call; besides root,
    the caller passes if it matches any rule given.  ``root`` alone means
    nobody else; nothing at all means anyone the service admits."""

    root: bool = False              # "root": nobody but uid 0
    owner: bool = False             # the server's effective uid
    uids: Tuple[int, ...] = ()
    gids: Tuple[int, ...] = ()      # primary or supplementary group
    groups: Tuple[str, ...] = ()    # group names, resolved by the server

    def __bool__(self) -> bool:
        return bool(self.root or self.owner or self.uids or self.gids
                    or self.groups)

    @property
    def rules(self) -> bool:
        """Whether it says more than one of the words ``owner``/``root``
        (then the C table carries an lrpc_rpc_policy)."""
        return bool(self.uids or self.gids or self.groups)

    @property
    def word(self) -> str:
        """The lrpc_rpc_access word nearest to it that never lets in
        more than it does."""
        if not self:
            return "any"
        if self.owner and not self.rules:
            return "owner"
        return "root"

    def __str__(self) -> str:
        """The canonical spelling, as ``@access(...)`` takes it."""
        out = ["root"] if self.root else []
        if self.owner:
            out.append("owner")
        out += [f"uid: {u}" for u in self.uids]
        out += [f"gid: {g}" for g in self.gids]
        out += [f'group: "{g}"' for g in self.groups]
        return ", ".join(out)


@dataclass(frozen=True)
class Method:
    name: str
    kind: str                       # "call", "stream", "oneway", "event"
    ordinal: int
    since: int
    params: Tuple[Param, ...]       # wire order = source order
    results: Tuple[Param, ...]      # a stream's item; empty for oneway
                                    # and events
    raises: Tuple[ErrorRef, ...]
    depth: int                      # of the request/reply messages
    names: MethodNames
    doc: Doc
    loc: Location
    deprecated: bool = False        # @deprecated: stubs warn when used
    # @access: who may call it, checked by the server before the
    # handler; empty: anyone the service admits.
    access: Access = Access()


@dataclass(frozen=True)
class Interface:
    kind: ClassVar[str] = "interface"
    name: str
    version: int
    id: int                         # FNV-1a 32 of "module.Name"
    hashes: Tuple[int, ...]         # canonical-form hash for v = 1..version
    canonical: Tuple[str, ...]      # the hashed text, per version
    methods: Tuple[Method, ...]     # by ordinal
    names: InterfaceNames
    doc: Doc
    loc: Location

    @property
    def c_name(self) -> str:
        return self.names.base

    @property
    def hash(self) -> int:
        """Hash of the canonical form at the interface's own version."""
        return self.hashes[-1]


Decl = Union[Const, Enum, ErrorDecl, Struct, Union_, Interface]


@dataclass(frozen=True)
class Module:
    name: str
    file: str
    c_prefix: str
    doc: Doc
    imports: Tuple[str, ...]        # module names, source order
    # The files they came from, as the import statements spell them (and
    # ``file``: the main file's base name, or how the first import of the
    # module spells it), so that no output depends on where files are.
    import_files: Tuple[str, ...]
    consts: Tuple[Const, ...]
    enums: Tuple[Enum, ...]
    structs: Tuple[Struct, ...]
    unions: Tuple[Union_, ...]
    errors: Tuple[ErrorDecl, ...]
    interfaces: Tuple[Interface, ...]
    type_order: Tuple[str, ...]     # enums/structs/unions, dependencies first
    # The named C types of the lists, maps and fixed arrays the module's
    # declarations use (bounds stripped, see c_shape), in first-use order.
    collections: Tuple[Collection, ...]
    # C names of the named types and collections in the order a C header
    # defines them, each after what it needs.
    c_order: Tuple[str, ...]

    @property
    def ordered_types(self) -> Tuple[Union[Enum, Struct, Union_], ...]:
        """The declarations named by ``type_order``, in that order."""
        out = []
        for name in self.type_order:
            d = self.decl(name)
            assert isinstance(d, (Enum, Struct, Union_))
            out.append(d)
        return tuple(out)

    @property
    def c_ordered(self) -> Tuple[Union[Enum, Struct, Union_, Collection],
                                 ...]:
        """The types named by ``c_order``, in that order."""
        by_c: Dict[str, Union[Enum, Struct, Union_, Collection]] = {
            t.c_name: t for t in self.collections}
        for d in self.ordered_types:
            by_c[d.c_name] = d
        return tuple(by_c[c] for c in self.c_order)

    def decl(self, name: str) -> Optional[Decl]:
        return self._decls.get(name)

    @cached_property
    def _decls(self) -> Dict[str, Decl]:
        """Declarations by name, built once: looking each one up by a scan
        made generation quadratic in the number of declarations."""
        out: Dict[str, Decl] = {}
        for group in (self.consts, self.enums, self.structs, self.unions,
                      self.errors, self.interfaces):
            for d in group:
                out.setdefault(d.name, d)
        return out


@dataclass(frozen=True)
class Model:
    main: Module
    modules: Tuple[Module, ...]     # dependencies first; main is last

    def module(self, name: str) -> Module:
        return self._modules[name]

    @cached_property
    def _modules(self) -> Dict[str, Module]:
        return {m.name: m for m in self.modules}

    def lookup(self, ref: Union[Ref, ErrorRef]) -> Decl:
        d = self.module(ref.module).decl(ref.name)
        if d is None:
            raise KeyError(f"{ref.module}.{ref.name}")
        return d
