"""Checker: parsed files -> the frozen model.

Loads the input and its imports (through an injected ``FileSystem``, so this
module stays free of I/O), resolves names, checks every rule listed in
docs/idl.md, and computes the facts back ends need.  Every problem goes into
the shared ``Diagnostics``; checking carries on after an error so one run
reports as much as it can.  A model is returned only when there were none.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from typing import (Dict, Iterable, List, Optional, Protocol, Sequence, Set,
                    Tuple, Union)

from . import ast
from . import model as m
from .errors import Diagnostic, Diagnostics, Location
from .naming import (ANON_DESC, C_KEYWORDS, C_LIBRARY, C_MACROS,
                     CXX_KEYWORDS, STUB_ARGS, Namer, case_macro, field_name,
                     method_member, stub_parameters, type_internal, upper)
from .parser import KEYWORDS, PRIMITIVES, parse

Key = Tuple[str, str]        # (module, name)

# The role of the C names only the generated code uses (``kv_entry__type``).
_INTERNAL = "internal"

_MODULE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class FileSystem(Protocol):
    """What the checker needs from the outside world."""

    def read(self, path: str) -> bytes:
        """The file's bytes; raises OSError."""

    def exists(self, path: str) -> bool:
        """True if ``path`` names a readable file."""

    def canonical(self, path: str) -> str:
        """A spelling that is equal for equal files (e.g. realpath)."""


@dataclass(frozen=True)
class Result:
    model: Optional[m.Model]
    files: Tuple[str, ...]        # every IDL file read, in load order


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes of ``text``."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


# --- loading ---------------------------------------------------------------

@dataclass
class _Unit:
    path: str
    canon: str
    file: Optional[ast.File]
    imports: List[Tuple[ast.Import, Optional["_Unit"]]] = field(
        default_factory=list)


class _Loader:
    def __init__(self, fs: FileSystem, include_dirs: Sequence[str],
                 diags: Diagnostics) -> None:
        self.fs = fs
        self.include_dirs = list(include_dirs)
        self.diags = diags
        self.units: Dict[str, _Unit] = {}
        self.order: List[_Unit] = []
        self.stack: List[_Unit] = []

    def candidates(self, importer: str, name: str) -> List[str]:
        dirs = [posixpath.dirname(importer)] + self.include_dirs
        return [posixpath.normpath(posixpath.join(d, name)) for d in dirs]

    def load(self, path: str,
             via: Optional[ast.Import] = None) -> Optional[_Unit]:
        canon = self.fs.canonical(path)
        for i, u in enumerate(self.stack):
            if u.canon == canon:
                chain = [x.path for x in self.stack[i:]] + [path]
                assert via is not None
                self.diags.error(via.loc, "import cycle: "
                                 + " -> ".join(chain))
                return None
        if canon in self.units:
            return self.units[canon]
        try:
            data = self.fs.read(path)
        except OSError as e:
            reason = e.strerror or str(e)
            self.diags.error(via.loc if via else None,
                             f"cannot read '{path}': {reason}")
            return None
        unit = _Unit(path, canon, self.decode_and_parse(path, data))
        self.stack.append(unit)
        if unit.file is not None:
            for imp in unit.file.imports:
                unit.imports.append((imp, self.load_import(unit, imp)))
        self.stack.pop()
        self.units[canon] = unit
        self.order.append(unit)
        return unit

    def load_import(self, unit: _Unit, imp: ast.Import) -> Optional[_Unit]:
        if not imp.path.endswith(".idl"):
            self.diags.error(imp.loc, f"imported file '{imp.path}' must "
                                      f"end in '.idl'")
            return None
        cands = self.candidates(unit.path, imp.path)
        for cand in cands:
            if self.fs.exists(cand):
                return self.load(cand, imp)
        where = ", ".join(f"'{posixpath.dirname(c) or '.'}'" for c in cands)
        self.diags.error(imp.loc, f"cannot find imported file '{imp.path}' "
                                  f"(looked in {where})")
        return None

    def decode_and_parse(self, path: str, data: bytes) -> Optional[ast.File]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            head = data[:e.start]
            line = head.count(b"\n") + 1
            col = len(head[head.rfind(b"\n") + 1:].decode("utf-8",
                                                           "replace")) + 1
            self.diags.sources.add(path, data.decode("utf-8", "replace"))
            self.diags.error(Location(path, line, col),
                             "file is not valid UTF-8")
            return None
        if text.startswith("\ufeff"):
            text = text[1:]     # editors add a BOM; it means nothing here
        self.diags.sources.add(path, text)
        return parse(text, path, self.diags)


# --- checking --------------------------------------------------------------

@dataclass
class _Mod:
    """A module while it is being checked."""

    name: str
    unit: _Unit
    file: ast.File
    namer: Namer
    decls: Dict[str, ast.Decl] = field(default_factory=dict)
    imports: Dict[str, "_Mod"] = field(default_factory=dict)
    import_files: List[str] = field(default_factory=list)
    broken_import: bool = False


def _kind_of(decl: ast.Decl) -> str:
    return {ast.Const: "constant", ast.Enum: "enum", ast.Struct: "struct",
            ast.Union_: "union", ast.ErrorDecl: "error",
            ast.Interface: "interface"}[type(decl)]


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


class _Checker:
    def __init__(self, diags: Diagnostics) -> None:
        self.d = diags
        self.mods: Dict[str, _Mod] = {}
        self.order: List[_Mod] = []
        # C name -> (what declares it, where, what the name is for it;
        # None when it is the declaration's own name).
        self.cnames: Dict[str, Tuple[str, Location, Optional[str]]] = {}
        self.consts: Dict[Key, m.Const] = {}
        self.enums: Dict[Key, m.Enum] = {}
        self.errors: Dict[Key, m.ErrorDecl] = {}
        self.members: Dict[Key, Tuple[m.Field, ...]] = {}
        self.member_edges: Dict[Key, List[Tuple[Key, Location]]] = {}
        self.tags: Dict[Key, m.Primitive] = {}
        self.methods: Dict[Key, List[m.Method]] = {}
        self.versions: Dict[Key, int] = {}
        self.depths: Dict[Key, int] = {}
        self.cyclic: Set[Key] = set()

    def error(self, loc: Optional[Location], msg: str,
              notes: Tuple[Diagnostic, ...] = ()) -> None:
        self.d.error(loc, msg, notes)

    # --- modules and scopes -----------------------------------------------

    def add_units(self, units: Sequence[_Unit]) -> None:
        by_unit: Dict[str, _Mod] = {}
        for unit in units:
            f = unit.file
            if f is None:
                continue
            if f.module is None:
                self.error(f.start, "missing module declaration; a file "
                                    "must start with 'module NAME;'")
                continue
            name = f.module.name
            if not self.check_module_name(name):
                continue
            if name.text in self.mods:
                prev = self.mods[name.text]
                self.error(name.loc, f"module '{name.text}' is already "
                                     f"declared in '{prev.unit.path}'")
                continue
            mod = _Mod(name.text, unit, f, Namer(name.text))
            self.mods[name.text] = mod
            self.order.append(mod)
            by_unit[unit.canon] = mod
        for mod in self.order:
            for imp, dep in mod.unit.imports:
                target = by_unit.get(dep.canon) if dep else None
                if target is None:
                    mod.broken_import = True
                else:
                    mod.imports[target.name] = target
                    if target.unit.path not in mod.import_files:
                        mod.import_files.append(target.unit.path)
            self.declare(mod)

    def check_module_name(self, name: ast.Name) -> bool:
        t = name.text
        if (not t[0].isalpha() or not set(t) <= _MODULE_NAME_CHARS
                or "__" in t or t.endswith("_")):
            self.error(name.loc, f"module name '{t}' must be lower case "
                                 f"letters, digits and single underscores "
                                 f"(it becomes the C prefix)")
            return False
        return self.check_name(name, "module", top=True)

    def check_name(self, name: ast.Name, what: str, top: bool,
                   c_name: Optional[str] = None,
                   keywords_ok: bool = False) -> bool:
        """Reject names the generator or C/C++ reserve.

        ``keywords_ok`` is for method names, which never stand alone in C
        (see naming.method_member)."""
        t = name.text
        reason = None
        if t.startswith("_"):
            reason = "is reserved: names starting with '_' belong to the " \
                     "generator"
        elif t.lower().startswith("lrpc"):
            reason = "is reserved: names starting with 'lrpc' belong to " \
                     "the generator"
        elif "__" in t:
            reason = "is reserved: C and C++ reserve names containing '__'"
        elif keywords_ok:
            pass
        elif t in C_KEYWORDS:
            reason = "is a C keyword"
        elif t in CXX_KEYWORDS:
            reason = "is a C++ keyword"
        elif t in C_MACROS:
            reason = "is a macro of the C library"
        elif c_name is not None and c_name in C_LIBRARY:
            reason = ("is" if c_name == t else f"becomes '{c_name}' in C, "
                      f"which is") + " a name of the C library the " \
                "generated code uses"
        elif top and t in PRIMITIVES:
            reason = "is a built-in type name"
        elif top and t in KEYWORDS:
            reason = "is an IDL keyword"
        elif c_name is not None and c_name != t:
            if c_name in C_KEYWORDS or c_name in CXX_KEYWORDS \
                    or c_name in C_MACROS:
                reason = f"becomes '{c_name}' in C, which is reserved there"
        if reason:
            self.error(name.loc, f"{what} name '{t}' {reason}")
            return False
        return True

    @staticmethod
    def _owner(prev: Tuple[str, Location, Optional[str]]) -> str:
        """How to refer to an earlier claim: "the C name of constant 'X'",
        "used as the tag macro of union case 'U.x'"."""
        if prev[2] is None:
            return f"the C name of {prev[0]}"
        if prev[2] == _INTERNAL:
            return f"used inside the generated code of {prev[0]}"
        return f"used as the {prev[2]} of {prev[0]}"

    def claim(self, c_name: str, what: str, loc: Location,
              role: Optional[str] = None) -> bool:
        """Register a global C identifier (``role`` says what it is for
        ``what``, None for its own name); report a clash with an earlier
        one."""
        prev = self.cnames.get(c_name)
        if role is None:
            head = f"{what} would be named '{c_name}' in C"
        elif role == _INTERNAL:
            head = f"{what} needs '{c_name}' inside the generated C code"
        else:
            head = f"{what} needs '{c_name}' in C for its {role}"
        if prev is None and ANON_DESC.fullmatch(c_name):
            self.error(loc, f"{head}, which is reserved for the descriptors "
                            f"of types without a name")
            return False
        if prev is not None:
            self.error(loc, f"{head}, which is already "
                            + self._owner(prev),
                       (Diagnostics.note(prev[1], f"{prev[0]} is declared "
                                                  f"here"),))
            return False
        self.cnames[c_name] = (what, loc, role)
        return True

    def check_local(self, name: ast.Name, what: str, c_name: str) -> bool:
        """A field or parameter must not be named like a global C name: in
        a parameter list it would hide the type or function from the rest
        of it, and in a C++ struct it changes the meaning of a type."""
        prev = self.cnames.get(c_name)
        if prev is None:
            return True
        shown = f"'{c_name}'" if c_name == name.text \
            else f"'{name.text}', which becomes '{c_name}' in C,"
        self.error(name.loc, f"{what} name {shown} is also "
                             + self._owner(prev),
                   (Diagnostics.note(prev[1], f"{prev[0]} is declared "
                                              f"here"),))
        return False

    def declare(self, mod: _Mod) -> None:
        namer = mod.namer
        for decl in mod.file.decls:
            name = decl.name
            kind = _kind_of(decl)
            prev = mod.decls.get(name.text)
            if prev is not None:
                self.error(name.loc, f"duplicate name '{name.text}'",
                           (Diagnostics.note(prev.name.loc, f"'{name.text}'"
                                             f" is first declared here"),))
                continue
            mod.decls[name.text] = decl
            if not self.check_name(name, kind, top=True):
                continue
            what = f"{kind} '{name.text}'"
            if isinstance(decl, ast.Const):
                self.claim(namer.const_name(name.text), what, name.loc)
            elif isinstance(decl, ast.Interface):
                self.declare_interface(mod, decl)
            else:
                c_name = namer.type_name(name.text)
                if not self.claim(c_name, what, name.loc):
                    continue
                if not isinstance(decl, ast.ErrorDecl) and not all(
                        self.claim(c, what, name.loc,
                                   _INTERNAL)
                        for c in type_internal(c_name, kind)):
                    continue
                if isinstance(decl, ast.Union_):
                    seen_cases: Set[str] = set()
                    for case in decl.cases:
                        if case.name.text in seen_cases:
                            continue    # a duplicate, reported by check
                        seen_cases.add(case.name.text)
                        self.claim(case_macro(c_name, case.name.text),
                                   f"union case '{name.text}."
                                   f"{case.name.text}'", case.name.loc,
                                   "tag macro")
                if isinstance(decl, (ast.Enum, ast.ErrorDecl)):
                    seen: Set[str] = set()
                    for mem in decl.members:
                        if mem.name.text in seen:
                            continue    # a duplicate, reported by check
                        seen.add(mem.name.text)
                        self.claim(namer.member_name(name.text,
                                                     mem.name.text),
                                   f"'{name.text}.{mem.name.text}'",
                                   mem.name.loc)

    def declare_interface(self, mod: _Mod, decl: ast.Interface) -> None:
        iname = decl.name.text
        for c, role in mod.namer.interface(iname).roles():
            if not self.claim(c, f"interface '{iname}'", decl.name.loc,
                              role):
                return
        seen: Set[str] = set()
        for meth in decl.methods:
            if meth.name.text in seen:
                continue        # reported as a duplicate method later
            seen.add(meth.name.text)
            names = mod.namer.method(iname, meth.name.text)
            what = f"method '{iname}.{meth.name.text}'"
            for c, role in names.roles(meth.kind):
                if not self.claim(c, what, meth.name.loc,
                                  None if c == names.function else role):
                    break

    # --- name lookup ------------------------------------------------------

    def lookup(self, mod: _Mod, q: ast.QName,
               what: str) -> Optional[Tuple[_Mod, ast.Decl]]:
        target = mod
        if q.module is not None and q.module.text != mod.name:
            imported = mod.imports.get(q.module.text)
            if imported is None:
                if not mod.broken_import:
                    self.error(q.loc, f"unknown module '{q.module.text}' "
                                      f"(is it imported?)")
                return None
            target = imported
        decl = target.decls.get(q.name.text)
        if decl is None:
            self.error(q.loc, f"undefined {what} '{q}'")
            return None
        return target, decl

    def int_value(self, mod: _Mod, e: ast.SizeExpr,
                  what: str) -> Optional[int]:
        if isinstance(e, ast.IntLit):
            return e.value
        found = self.lookup(mod, e, "constant")
        if found is None:
            return None
        target, decl = found
        const = self.consts.get((target.name, decl.name.text))
        if not isinstance(decl, ast.Const):
            self.error(e.loc, f"{what} must be an integer or an integer "
                              f"constant, and '{e}' is "
                              f"{_article(_kind_of(decl))}")
            return None
        if const is None:
            return None         # the constant itself is in error
        if not const.type.is_integer:
            self.error(e.loc, f"{what} must be an integer, and constant "
                              f"'{e}' is {const.type.name}")
            return None
        assert isinstance(const.value, int)
        return const.value

    # --- types ------------------------------------------------------------

    def resolve(self, mod: _Mod, t: ast.TypeExpr) -> Optional[m.Type]:
        if isinstance(t, ast.PrimType):
            return m.Primitive(t.name)
        if isinstance(t, ast.NamedType):
            return self.resolve_named(mod, t)
        if isinstance(t, ast.ArrayType):
            elem = self.resolve(mod, t.element)
            size = None
            if t.size is not None:
                size = self.int_value(mod, t.size, "an array size")
                if size is None:
                    return None
                if size < 1:
                    self.error(t.size.loc, f"array size must be at least "
                                           f"1, not {size}")
                    return None
                if size > m.MAX_FIXED_ARRAY:
                    self.error(t.size.loc, f"array size {size} is above "
                                           f"the limit of "
                                           f"{m.MAX_FIXED_ARRAY}")
                    return None
            return None if elem is None else m.Array(elem, size)
        if isinstance(t, ast.OptionalType):
            if isinstance(t.inner, ast.OptionalType):
                self.error(t.inner.loc, "'optional optional' is not "
                                        "allowed")
                return None
            inner = self.resolve(mod, t.inner)
            return None if inner is None else m.Optional_(inner)
        if isinstance(t, ast.MapType):
            key = self.resolve(mod, t.key)
            value = self.resolve(mod, t.value)
            if key is not None and not self.is_map_key(key):
                self.error(t.key.loc, f"map key must be an integer, string "
                                      f"or enum type, not "
                                      f"'{m.type_text(key, mod.name)}'")
                return None
            if key is None or value is None:
                return None
            return m.Map(key, value)
        return self.resolve_bounded(mod, t)

    def resolve_named(self, mod: _Mod,
                      t: ast.NamedType) -> Optional[m.Type]:
        found = self.lookup(mod, t.qname, "type")
        if found is None:
            return None
        target, decl = found
        kind = {ast.Struct: "struct", ast.Union_: "union",
                ast.Enum: "enum"}.get(type(decl))
        if kind is None:
            self.error(t.loc, f"'{t.qname}' is "
                              f"{_article(_kind_of(decl))}, not a type")
            return None
        name = decl.name.text
        return m.Ref(kind, target.name, name, target.namer.type_name(name))

    @staticmethod
    def is_map_key(t: m.Type) -> bool:
        if isinstance(t, m.Primitive):
            return t.is_integer or t.name == "string"
        return isinstance(t, m.Ref) and t.kind == "enum"

    def resolve_bounded(self, mod: _Mod,
                        t: ast.BoundedType) -> Optional[m.Type]:
        inner = self.resolve(mod, t.inner)
        if t.attr.arg is None:
            self.error(t.attr.loc, "'@max' needs a value, as in '@max(64)'")
            return None
        n = self.int_value(mod, t.attr.arg, "'@max'")
        if n is None or inner is None:
            return None
        if not 1 <= n <= m.MAX_BOUND:
            self.error(t.attr.loc, f"'@max({n})' is out of range "
                                   f"(1..{m.MAX_BOUND})")
            return None
        shown = m.type_text(inner, mod.name)
        if isinstance(inner, m.Array) and inner.size is not None:
            self.error(t.attr.loc, f"'@max' does not apply to the "
                                   f"fixed-size array '{shown}'")
            return None
        if isinstance(inner, (m.Primitive, m.Array, m.Map)) and (
                not isinstance(inner, m.Primitive)
                or inner.name in ("string", "bytes")):
            if inner.max is not None:
                self.error(t.attr.loc, f"'{shown}' already has a '@max' "
                                       f"bound")
                return None
            return replace(inner, max=n)
        self.error(t.attr.loc, f"'@max' applies to string, bytes, T[] and "
                               f"map, not '{shown}'")
        return None

    # --- attributes and ordinals ------------------------------------------

    def attrs(self, mod: _Mod, attrs: Iterable[ast.Attr], allowed: str,
              where: str) -> Dict[str, Tuple[int, Location]]:
        out: Dict[str, Tuple[int, Location]] = {}
        seen: Set[str] = set()
        for a in attrs:
            n = a.name.text
            if n not in ("since", "version", "max"):
                self.error(a.loc, f"unknown attribute '@{n}'")
            elif n != allowed:
                self.error(a.loc, f"'@{n}' is not allowed on {where}")
            elif n in seen:
                self.error(a.loc, f"duplicate attribute '@{n}'")
            elif a.arg is None:
                self.error(a.loc, f"'@{n}' needs a value, as in '@{n}(2)'")
            else:
                seen.add(n)
                v = self.int_value(mod, a.arg, f"'@{n}'")
                if v is None:
                    continue
                if not 1 <= v <= m.MAX_VERSION:
                    self.error(a.loc, f"'@{n}({v})' is out of range "
                                      f"(1..{m.MAX_VERSION})")
                    continue
                out[n] = (v, a.loc)
        return out

    def ordinals(self, items: Sequence[Tuple[ast.Name,
                                             Optional[ast.IntLit]]],
                 what: str, hi: int) -> Dict[str, int]:
        out: Dict[str, int] = {}
        seen: Dict[int, ast.Name] = {}
        for name, lit in items:
            if lit is None:
                self.error(name.loc, f"{what} '{name.text}' has no "
                                     f"ordinal; add '@N' before the ';'")
            elif lit.value > hi:
                self.error(lit.loc, f"ordinal @{lit.value} of {what} "
                                    f"'{name.text}' is out of range "
                                    f"(0..{hi})")
            elif lit.value in seen:
                prev = seen[lit.value]
                self.error(lit.loc, f"duplicate ordinal @{lit.value}: "
                                    f"{what} '{name.text}' and "
                                    f"'{prev.text}'",
                           (Diagnostics.note(prev.loc, f"'{prev.text}' "
                                             f"has @{lit.value}"),))
            else:
                seen[lit.value] = name
                out[name.text] = lit.value
        return out

    def unique(self, names: Sequence[ast.Name], what: str,
               c_name=field_name) -> Set[str]:
        """Check member names in one scope; returns the good ones."""
        seen: Dict[str, ast.Name] = {}
        seen_c: Dict[str, ast.Name] = {}
        good: Set[str] = set()
        for n in names:
            c = c_name(n.text)
            if n.text in seen:
                self.error(n.loc, f"duplicate {what} name '{n.text}'",
                           (Diagnostics.note(seen[n.text].loc,
                                             f"'{n.text}' is first declared"
                                             f" here"),))
                continue
            seen[n.text] = n
            if c in seen_c:
                prev = seen_c[c]
                self.error(n.loc, f"{what} names '{n.text}' and "
                                  f"'{prev.text}' both become '{c}' in C",
                           (Diagnostics.note(prev.loc, f"'{prev.text}' is "
                                             f"declared here"),))
                continue
            seen_c[c] = n
            good.add(n.text)
        return good

    # --- declarations -----------------------------------------------------

    def check_const(self, mod: _Mod, c: ast.Const) -> None:
        t = self.resolve(mod, c.type)
        if t is None:
            return
        name = c.name.text
        if not isinstance(t, m.Primitive) or not (
                t.is_integer or t.name in ("bool", "string")) or (
                t.max is not None):
            self.error(c.type.loc, f"constant '{name}' must have an integer "
                                   f"type, bool or string, not "
                                   f"'{m.type_text(t, mod.name)}'")
            return
        v = c.value
        value: Union[int, bool, str]
        if t.is_integer:
            if not isinstance(v, ast.IntLit):
                self.error(v.loc, f"constant '{name}' of type {t.name} "
                                  f"needs an integer value")
                return
            lo, hi = t.range
            if not lo <= v.value <= hi:
                self.error(v.loc, f"value {v.value} is out of range for "
                                  f"{t.name} ({lo}..{hi})")
                return
            value = v.value
        elif t.name == "bool":
            if not isinstance(v, ast.BoolLit):
                self.error(v.loc, f"constant '{name}' of type bool needs "
                                  f"'true' or 'false'")
                return
            value = v.value
        else:
            if not isinstance(v, ast.StrLit):
                self.error(v.loc, f"constant '{name}' of type string needs "
                                  f"a string value")
                return
            if "\0" in v.value:
                self.error(v.loc, "a string constant cannot contain NUL")
                return
            value = v.value
        self.consts[(mod.name, name)] = m.Const(
            name, mod.namer.const_name(name), t, value, c.doc, c.name.loc)

    def members_of(self, mod: _Mod, decl: Union[ast.Enum, ast.ErrorDecl],
                   what: str, lo: int, hi: int,
                   range_text: str) -> Optional[List[m.Member]]:
        name = decl.name.text
        if not decl.members:
            self.error(decl.name.loc, f"{_kind_of(decl)} '{name}' has no "
                                      f"{what}s")
            return None
        good = self.unique([x.name for x in decl.members], what,
                           c_name=upper)
        out = []
        by_value: Dict[int, ast.Name] = {}
        ok = True
        for mem in decl.members:
            self.check_name(mem.name, what, top=False)
            if mem.value is None:
                self.error(mem.name.loc, f"{what} '{mem.name.text}' needs an"
                                         f" explicit value ('"
                                         f"{mem.name.text} = N')")
                ok = False
                continue
            v = mem.value.value
            if not lo <= v <= hi:
                self.error(mem.value.loc, f"value {v} of {what} "
                                          f"'{mem.name.text}' is out of "
                                          f"range {range_text}")
                ok = False
                continue
            if v in by_value:
                prev = by_value[v]
                self.error(mem.value.loc, f"{what} '{mem.name.text}' "
                                          f"repeats the value {v} of "
                                          f"'{prev.text}'",
                           (Diagnostics.note(prev.loc, f"'{prev.text}' is "
                                             f"declared here"),))
                ok = False
                continue
            by_value[v] = mem.name
            if mem.name.text in good:
                out.append(m.Member(
                    mem.name.text,
                    mod.namer.member_name(name, mem.name.text), v, mem.doc,
                    mem.name.loc))
        return out if ok and len(out) == len(decl.members) else None

    def check_enum(self, mod: _Mod, e: ast.Enum) -> None:
        name = e.name.text
        if e.base is None:
            self.error(e.name.loc, f"enum '{name}' needs an underlying "
                                   f"integer type, as in 'enum {name} : "
                                   f"u8'")
            return
        base = self.resolve(mod, e.base)
        if base is None:
            return
        if not isinstance(base, m.Primitive) or not base.is_integer:
            self.error(e.base.loc, f"the underlying type of enum '{name}' "
                                   f"must be an integer type, not "
                                   f"'{m.type_text(base, mod.name)}'")
            return
        lo, hi = base.range
        members = self.members_of(mod, e, "enumerator", lo, hi,
                                  f"for {base.name} ({lo}..{hi})")
        if members is not None:
            self.enums[(mod.name, name)] = m.Enum(
                name, mod.namer.type_name(name), base, tuple(members),
                e.doc, e.name.loc)

    def check_error(self, mod: _Mod, e: ast.ErrorDecl) -> None:
        hi = (1 << 31) - 1
        codes = self.members_of(mod, e, "error code", 1, hi,
                                f"(error codes are 1..{hi})")
        if codes is not None:
            name = e.name.text
            self.errors[(mod.name, name)] = m.ErrorDecl(
                name, mod.namer.type_name(name), tuple(codes), e.doc,
                e.name.loc)

    def check_fields(self, mod: _Mod, key: Key,
                     fields: Sequence[ast.Field], what: str,
                     hi: int) -> None:
        good = self.unique([f.name for f in fields], what)
        ords = self.ordinals([(f.name, f.ordinal) for f in fields], what, hi)
        out = []
        edges: List[Tuple[Key, Location]] = []
        for f in fields:
            c_name = field_name(f.name.text)
            ok = self.check_name(f.name, what, top=False, c_name=c_name) \
                and self.check_local(f.name, what, c_name)
            attrs = self.attrs(mod, f.attrs, "since", f"a {what}")
            t = self.resolve(mod, f.type)
            if t is None or not ok:
                continue
            for ref in _refs(t):
                if ref.kind != "enum":
                    edges.append(((ref.module, ref.name), f.name.loc))
            if f.name.text in good and f.name.text in ords:
                since = attrs.get("since", (1, None))[0]
                out.append(m.Field(f.name.text, c_name, t,
                                   ords[f.name.text], since, f.doc,
                                   f.name.loc))
        out.sort(key=lambda x: x.ordinal)
        self.members[key] = tuple(out)
        self.member_edges[key] = edges

    def check_struct(self, mod: _Mod, s: ast.Struct) -> None:
        self.check_fields(mod, (mod.name, s.name.text), s.fields, "field",
                          m.MAX_ORDINAL)

    def check_union(self, mod: _Mod, u: ast.Union_) -> None:
        name = u.name.text
        key = (mod.name, name)
        if u.tag is None:
            self.error(u.name.loc, f"union '{name}' needs a tag type, as in "
                                   f"'union {name} : u8'")
            return
        tag = self.resolve(mod, u.tag)
        if tag is None:
            return
        if not isinstance(tag, m.Primitive) or not tag.is_integer or \
                tag.is_signed or tag.name == "u64":
            self.error(u.tag.loc, f"the tag type of union '{name}' must be "
                                  f"u8, u16 or u32, not "
                                  f"'{m.type_text(tag, mod.name)}'")
            return
        if not u.cases:
            self.error(u.name.loc, f"union '{name}' has no cases")
            return
        self.tags[key] = tag
        self.check_fields(mod, key, u.cases, "union case", tag.range[1])

    def check_interface(self, mod: _Mod, i: ast.Interface) -> None:
        iname = i.name.text
        key = (mod.name, iname)
        attrs = self.attrs(mod, i.attrs, "version", "an interface")
        version = attrs.get("version", (1, None))[0]
        self.versions[key] = version
        good = self.unique([x.name for x in i.methods], "method",
                           c_name=method_member)
        ords = self.ordinals([(x.name, x.ordinal) for x in i.methods],
                             "method", m.MAX_ORDINAL)
        methods = []
        for meth in i.methods:
            built = self.check_method(mod, iname, version, meth)
            if built is not None and meth.name.text in good \
                    and meth.name.text in ords:
                methods.append(replace(built,
                                       ordinal=ords[meth.name.text]))
        methods.sort(key=lambda x: x.ordinal)
        self.methods[key] = methods
        self.check_field_versions(iname, version, methods)

    def check_field_versions(self, iname: str, version: int,
                             methods: Sequence[m.Method]) -> None:
        """A field newer than an interface that carries it could never be
        sent by that interface; that is a mistake in either number."""
        seen: Set[Key] = set()
        todo = [r for meth in methods for p in meth.params + meth.results
                for r in _refs(p.type) if r.kind != "enum"]
        while todo:
            ref = todo.pop(0)
            k = (ref.module, ref.name)
            if k in seen or k in self.cyclic:
                continue
            seen.add(k)
            for f in self.members.get(k, ()):
                if f.since > version:
                    self.error(f.loc, f"'{ref.name}.{f.name}' is "
                                      f"@since({f.since}) but interface "
                                      f"'{iname}', which uses "
                                      f"'{ref.name}', is at version "
                                      f"{version}")
                todo.extend(r for r in _refs(f.type) if r.kind != "enum")

    def check_method(self, mod: _Mod, iname: str, version: int,
                     meth: ast.Method) -> Optional[m.Method]:
        name = meth.name.text
        ok = self.check_name(meth.name, "method", top=False,
                             keywords_ok=True)
        kind_text = {"call": "method", "oneway": "oneway method",
                     "event": "event"}[meth.kind]
        attrs = self.attrs(mod, meth.attrs, "since", f"a {kind_text}")
        since = version
        if "since" in attrs:
            since, loc = attrs["since"]
            if since > version:
                self.error(loc, f"'@since({since})' is above the version "
                                f"of interface '{iname}' ({version})")
                ok = False
        else:
            since = 1
        if meth.kind != "call" and meth.results is not None:
            assert meth.arrow is not None
            self.error(meth.arrow, f"{kind_text} '{name}' cannot have a "
                                   f"reply")
            ok = False
        if meth.kind != "call" and meth.raises:
            assert meth.raises_loc is not None
            self.error(meth.raises_loc, f"{kind_text} '{name}' cannot "
                                        f"raise errors")
            ok = False
        everything = list(meth.params) + list(meth.results or ())
        distinct = self.unique([p.name for p in everything], "parameter")
        params = self.params(mod, iname, version, since, meth.params)
        results = self.params(mod, iname, version, since,
                              meth.results or ())
        raises = self.raises(mod, meth) if meth.kind == "call" else ()
        if params is None or results is None or raises is None or not ok:
            return None
        if len(distinct) == len(everything) and \
                not self.check_stub_parameters(iname, meth, params, results):
            return None
        depth = 1 + max((_type_depth(p.type, self.depths)
                         for p in params + results), default=0)
        return m.Method(name, meth.kind, 0, since, params, results, raises,
                        depth, mod.namer.method(iname, name), meth.doc,
                        meth.name.loc)

    def check_stub_parameters(self, iname: str, meth: ast.Method,
                              params: Sequence[m.Param],
                              results: Sequence[m.Param]) -> bool:
        """Parameters and results (as ``ret_<name>``) share the parameter
        lists of the generated functions with each other and with the
        functions' own parameters; no two may end up with one C name."""
        everything = list(params) + list(results)
        reported: Set[Tuple[str, int, int]] = set()
        ok = True
        for what, names in stub_parameters(
                meth.kind, [p.c_name for p in params],
                [p.c_name for p in results]):
            seen: Dict[str, int] = {}
            for c, i in names:
                j = seen.setdefault(c, i)
                if j == i:
                    continue
                # i: the later IDL name; j: the earlier one, or -1 for the
                # function's own parameter (which may come first or last).
                i, j = max(i, j), min(i, j)
                if (c, i, j) in reported:
                    continue        # the same pair in another function
                reported.add((c, i, j))
                ok = False
                p = everything[i]
                role = "result" if i >= len(params) else "parameter"
                shown = f"'{p.name}'" if c == p.c_name \
                    else f"'{p.name}' (as '{c}')"
                where = f"the generated {what} of '{iname}.{meth.name.text}'"
                if j < 0:
                    self.error(p.loc, f"{role} {shown} collides with the "
                                      f"parameter '{c}' that {where} has "
                                      f"of its own")
                    continue
                q = everything[j]
                q_role = "result" if j >= len(params) else "parameter"
                self.error(p.loc, f"{role} {shown} and {q_role} '{q.name}' "
                                  f"are both named '{c}' in {where}",
                           (Diagnostics.note(q.loc, f"{q_role} '{q.name}' "
                                             f"is declared here"),))
        return ok

    def params(self, mod: _Mod, iname: str, version: int, since: int,
               params: Sequence[ast.Param]
               ) -> Optional[Tuple[m.Param, ...]]:
        out = []
        ok = True
        newest: Optional[Tuple[int, ast.Name]] = None
        for p in params:
            c_name = field_name(p.name.text)
            if not self.check_name(p.name, "parameter", top=False,
                                   c_name=c_name):
                ok = False
            elif c_name in STUB_ARGS:
                self.error(p.name.loc, f"parameter name '{p.name.text}' is "
                                       f"used by the generated C functions")
                ok = False
            elif not self.check_local(p.name, "parameter", c_name):
                ok = False
            attrs = self.attrs(mod, p.attrs, "since", "a parameter")
            p_since = since
            if "since" in attrs:
                p_since, loc = attrs["since"]
                if p_since > version:
                    self.error(loc, f"'@since({p_since})' is above the "
                                    f"version of interface '{iname}' "
                                    f"({version})")
                    ok = False
                elif p_since < since:
                    self.error(loc, f"parameter '{p.name.text}' cannot be "
                                    f"older (@since({p_since})) than its "
                                    f"method (@since({since}))")
                    ok = False
            if newest is not None and p_since < newest[0]:
                self.error(p.name.loc, f"parameter '{p.name.text}' "
                                       f"(version {p_since}) follows "
                                       f"'{newest[1].text}' (version "
                                       f"{newest[0]}); parameters added "
                                       f"later must come last")
                ok = False
            if newest is None or p_since > newest[0]:
                newest = (p_since, p.name)
            t = self.resolve(mod, p.type)
            if t is None:
                ok = False
                continue
            out.append(m.Param(p.name.text, c_name, t, p_since, p.name.loc))
        return tuple(out) if ok else None

    def raises(self, mod: _Mod,
               meth: ast.Method) -> Optional[Tuple[m.ErrorRef, ...]]:
        out: List[m.ErrorRef] = []
        ok = True
        values: Dict[int, str] = {}
        for q in meth.raises:
            found = self.lookup(mod, q, "error")
            if found is None:
                ok = False
                continue
            target, decl = found
            if not isinstance(decl, ast.ErrorDecl):
                self.error(q.loc, f"'{q}' is {_article(_kind_of(decl))}, "
                                  f"not an error")
                ok = False
                continue
            ref = m.ErrorRef(target.name, decl.name.text,
                             target.namer.type_name(decl.name.text))
            if ref in out:
                self.error(q.loc, f"error '{q}' is listed twice")
                ok = False
                continue
            out.append(ref)
            err = self.errors.get((target.name, decl.name.text))
            if err is None:
                ok = False
                continue
            for code in err.codes:
                if code.value in values:
                    self.error(q.loc, f"'{q}.{code.name}' and "
                                      f"'{values[code.value]}' share the "
                                      f"value {code.value}, so a caller "
                                      f"could not tell them apart")
                    ok = False
                else:
                    values[code.value] = f"{decl.name.text}.{code.name}" \
                        if q.module is None else f"{q}.{code.name}"
        return tuple(out) if ok else None

    # --- whole-program checks ---------------------------------------------

    def check_all(self) -> None:
        # Constants first: array sizes and attributes may name them.
        for mod in self.order:
            for d in mod.file.decls:
                if isinstance(d, ast.Const) and \
                        mod.decls.get(d.name.text) is d:
                    self.check_const(mod, d)
        for mod in self.order:
            for d in mod.file.decls:
                if mod.decls.get(d.name.text) is not d:
                    continue            # a duplicate, already reported
                if isinstance(d, ast.Enum):
                    self.check_enum(mod, d)
                elif isinstance(d, ast.ErrorDecl):
                    self.check_error(mod, d)
        for mod in self.order:
            for d in mod.file.decls:
                if mod.decls.get(d.name.text) is not d:
                    continue
                if isinstance(d, ast.Struct):
                    self.check_struct(mod, d)
                elif isinstance(d, ast.Union_):
                    self.check_union(mod, d)
        self.check_cycles()
        self.check_depths()
        # Interfaces last: method depths need the type depths.
        for mod in self.order:
            for d in mod.file.decls:
                if isinstance(d, ast.Interface) and \
                        mod.decls.get(d.name.text) is d:
                    self.check_interface(mod, d)
        self.check_method_depths()

    def check_cycles(self) -> None:
        state: Dict[Key, int] = {}      # 1: on the stack, 2: done
        stack: List[Key] = []
        reported: Set[frozenset] = set()

        def visit(k: Key) -> None:
            state[k] = 1
            stack.append(k)
            for target, loc in self.member_edges.get(k, ()):
                if state.get(target) == 1:
                    cycle = stack[stack.index(target):]
                    self.cyclic.update(cycle)
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        path = " -> ".join(n for _, n in cycle + [target])
                        self.error(loc, f"recursive type: {path}; a type "
                                        f"cannot contain itself, not even "
                                        f"through optional, arrays or maps")
                elif target not in state:
                    visit(target)
            stack.pop()
            state[k] = 2

        for k in self.member_edges:
            if k not in state:
                visit(k)

    def check_depths(self) -> None:
        for k in self.member_edges:
            self.decl_depth(k)
        for mod in self.order:
            for d in mod.file.decls:
                k = (mod.name, d.name.text)
                if k not in self.depths or k in self.cyclic:
                    continue
                depth = self.depths[k]
                inner = max((self.depths.get(t, 0)
                             for t, _ in self.member_edges[k]), default=0)
                if depth > m.MAX_DEPTH and inner <= m.MAX_DEPTH:
                    self.error(d.name.loc, f"{_kind_of(d)} '{d.name.text}' "
                                           f"nests {depth} levels deep; the"
                                           f" limit is {m.MAX_DEPTH}")

    def decl_depth(self, k: Key) -> int:
        if k in self.depths:
            return self.depths[k]
        if k in self.cyclic or k not in self.members:
            self.depths[k] = 0
            return 0
        self.depths[k] = 0      # guards against cycles still in the graph
        for t, _ in self.member_edges.get(k, ()):
            self.decl_depth(t)
        depth = 1 + max((_type_depth(f.type, self.depths)
                         for f in self.members[k]), default=0)
        self.depths[k] = depth
        return depth

    def check_method_depths(self) -> None:
        for (mname, iname), methods in self.methods.items():
            for meth in methods:
                named = [self.depths.get((r.module, r.name), 0)
                         for p in meth.params + meth.results
                         for r in _refs(p.type)]
                if meth.depth > m.MAX_DEPTH and \
                        max(named, default=0) <= m.MAX_DEPTH:
                    self.error(meth.loc, f"the messages of '{iname}."
                                         f"{meth.name}' nest {meth.depth} "
                                         f"levels deep; the limit is "
                                         f"{m.MAX_DEPTH}")

    # --- building the model -----------------------------------------------

    def canonical_type(self, t: m.Type, version: int) -> str:
        """Wire-relevant shape of a type; names do not matter on the wire,
        so they are left out."""
        if isinstance(t, m.Primitive):
            return t.name + (f"@max({t.max})" if t.max is not None else "")
        if isinstance(t, m.Array):
            size = "" if t.size is None else str(t.size)
            bound = f"@max({t.max})" if t.max is not None else ""
            return f"{self.canonical_type(t.element, version)}[{size}]{bound}"
        if isinstance(t, m.Optional_):
            return "?" + self.canonical_type(t.inner, version)
        if isinstance(t, m.Map):
            bound = f"@max({t.max})" if t.max is not None else ""
            return (f"map<{self.canonical_type(t.key, version)},"
                    f"{self.canonical_type(t.value, version)}>{bound}")
        key = (t.module, t.name)
        if t.kind == "enum":
            e = self.enums[key]
            values = ",".join(str(v) for v in e.values)
            return f"enum:{e.base.name}{{{values}}}"
        fields = ",".join(
            f"@{f.ordinal}:{self.canonical_type(f.type, version)}"
            for f in self.members[key] if f.since <= version)
        if t.kind == "union":
            return f"union:{self.tags[key].name}{{{fields}}}"
        return f"struct{{{fields}}}"

    def canonical(self, mod: str, iname: str, version: int,
                  methods: Sequence[m.Method]) -> str:
        lines = [f"interface {mod}.{iname} {version}"]
        for meth in methods:
            if meth.since > version:
                continue
            params = ",".join(self.canonical_type(p.type, version)
                              for p in meth.params if p.since <= version)
            results = ",".join(self.canonical_type(p.type, version)
                               for p in meth.results if p.since <= version)
            codes = sorted({c.value for r in meth.raises
                            for c in self.errors[(r.module, r.name)].codes})
            lines.append(f"@{meth.ordinal} {meth.kind} ({params})->"
                         f"({results}) raises{{"
                         f"{','.join(str(c) for c in codes)}}}")
        return "\n".join(lines) + "\n"

    def build(self) -> m.Model:
        modules = []
        ids: Dict[int, str] = {}
        for mod in self.order:
            modules.append(self.build_module(mod, ids))
        return m.Model(modules[-1], tuple(modules))

    def build_module(self, mod: _Mod, ids: Dict[int, str]) -> m.Module:
        consts, enums, structs, unions, errors, ifaces = \
            [], [], [], [], [], []
        for d in mod.file.decls:
            k = (mod.name, d.name.text)
            c_name = mod.namer.type_name(d.name.text)
            if isinstance(d, ast.Const):
                consts.append(self.consts[k])
            elif isinstance(d, ast.Enum):
                enums.append(self.enums[k])
            elif isinstance(d, ast.ErrorDecl):
                errors.append(self.errors[k])
            elif isinstance(d, ast.Struct):
                structs.append(m.Struct(d.name.text, c_name,
                                        self.members[k], self.depths[k],
                                        d.doc, d.name.loc))
            elif isinstance(d, ast.Union_):
                unions.append(m.Union_(d.name.text, c_name, self.tags[k],
                                       self.members[k], self.depths[k],
                                       d.doc, d.name.loc))
            else:
                ifaces.append(self.build_interface(mod, d, ids))
        assert mod.file.module is not None
        return m.Module(
            mod.name, mod.unit.path, mod.namer.prefix, mod.file.module.doc,
            tuple(mod.imports), tuple(mod.import_files), tuple(consts),
            tuple(enums), tuple(structs), tuple(unions), tuple(errors),
            tuple(ifaces), self.type_order(mod))

    def build_interface(self, mod: _Mod, d: ast.Interface,
                        ids: Dict[int, str]) -> m.Interface:
        k = (mod.name, d.name.text)
        version = self.versions[k]
        methods = self.methods[k]
        texts = tuple(self.canonical(mod.name, d.name.text, v, methods)
                      for v in range(1, version + 1))
        full = f"{mod.name}.{d.name.text}"
        iid = fnv1a32(full)
        if iid in ids:
            # Astronomically unlikely, but the selector would misroute.
            self.error(d.name.loc, f"interface id 0x{iid:08x} of '{full}' "
                                   f"collides with '{ids[iid]}'; rename "
                                   f"one of them")
        ids[iid] = full
        return m.Interface(d.name.text, version, iid,
                           tuple(fnv1a32(t) for t in texts), texts,
                           tuple(methods), mod.namer.interface(d.name.text),
                           d.doc, d.name.loc)

    def type_order(self, mod: _Mod) -> Tuple[str, ...]:
        """Enums, structs and unions with each one after what it uses."""
        out: List[str] = []
        done: Set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            done.add(name)
            for t, _ in self.member_edges.get((mod.name, name), ()):
                if t[0] == mod.name:
                    visit(t[1])
            out.append(name)

        for d in mod.file.decls:
            if isinstance(d, (ast.Enum, ast.Struct, ast.Union_)):
                visit(d.name.text)
        return tuple(out)


def _refs(t: m.Type) -> List[m.Ref]:
    if isinstance(t, m.Ref):
        return [t]
    if isinstance(t, m.Array):
        return _refs(t.element)
    if isinstance(t, m.Optional_):
        return _refs(t.inner)
    if isinstance(t, m.Map):
        return _refs(t.key) + _refs(t.value)
    return []


def _type_depth(t: m.Type, depths: Dict[Key, int]) -> int:
    if isinstance(t, m.Primitive):
        return 0
    if isinstance(t, m.Ref):
        return depths.get((t.module, t.name), 0) if t.kind != "enum" else 0
    if isinstance(t, m.Array):
        return 1 + _type_depth(t.element, depths)
    if isinstance(t, m.Optional_):
        return 1 + _type_depth(t.inner, depths)
    return 1 + max(_type_depth(t.key, depths), _type_depth(t.value, depths))


def check(path: str, include_dirs: Sequence[str], fs: FileSystem,
          diags: Diagnostics) -> Result:
    """Load ``path`` and its imports, check them, and build the model.

    ``Result.model`` is None when ``diags`` holds errors.
    """
    loader = _Loader(fs, include_dirs, diags)
    main = loader.load(path)
    files = tuple(u.path for u in loader.order)
    if main is None or main.file is None:
        return Result(None, files)
    checker = _Checker(diags)
    checker.add_units(loader.order)
    if diags.has_errors:
        # Scope errors (missing modules, clashing names) would only cause
        # a cascade of follow-up errors below.
        if not checker.order or checker.order[-1].unit is not main:
            return Result(None, files)
    checker.check_all()
    if diags.has_errors:
        return Result(None, files)
    return Result(checker.build(), files)
