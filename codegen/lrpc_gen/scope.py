"""Scopes: one module per loaded file, its imports and its declarations.

This stage registers what each name declares, without looking inside the
declarations yet, and claims every global C name the generator will emit
for them (from ``naming.py``), so a clash between two generated identifiers
is reported at the IDL names that cause it.  ``Names`` also holds the rules
every IDL name follows; the checker applies them to the inner names
(fields, parameters, enumerators) that this stage does not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, \
    Union

from . import ast
from .errors import Diagnostics, Location
from .creserved import C_RESERVED
from .load import Unit
from .naming import (ANON_DESC, C_KEYWORDS, C_LIBRARY, C_MACROS,
                     CXX_KEYWORDS, Namer, case_macro, module_internal,
                     type_internal)
from .parser import KEYWORDS, PRIMITIVES

Key = Tuple[str, str]        # (module, name)

# The role of the C names only the generated code uses (``kv_entry__type``).
INTERNAL = "internal"

_MODULE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def kind_of(decl: ast.Decl) -> str:
    """The word for a declaration in messages; for enums, structs and
    unions also the kind ``naming.type_table`` takes."""
    return {ast.Const: "constant", ast.Enum: "enum", ast.Struct: "struct",
            ast.Union_: "union", ast.ErrorDecl: "error",
            ast.Interface: "interface"}[type(decl)]


def article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


@dataclass
class Mod:
    """A module while it is being checked."""

    name: str
    unit: Unit
    file: ast.File
    namer: Namer
    decls: Dict[str, ast.Decl] = field(default_factory=dict)
    imports: Dict[str, "Mod"] = field(default_factory=dict)
    import_files: List[str] = field(default_factory=list)
    broken_import: bool = False


class Claim(NamedTuple):
    what: str               # "constant 'X'", "union case 'U.x'"
    loc: Location
    role: Optional[str]     # what the name is for ``what``; None: its own


# The module of lrpc.Service, served by every lrpc server.
BUILTIN_MODULE = "lrpc"


class Names:
    """The rules every IDL name follows, and every global C name claimed
    so far with what claimed it."""

    def __init__(self, diags: Diagnostics) -> None:
        self.d = diags
        self.claimed: Dict[str, Claim] = {}

    def check(self, name: ast.Name, what: str, top: bool,
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
            self.d.error(name.loc, f"{what} name '{t}' {reason}")
            return False
        return True

    @staticmethod
    def _owner(prev: Claim) -> str:
        """How to refer to an earlier claim: "the C name of constant 'X'",
        "used as the tag macro of union case 'U.x'"."""
        if prev.role is None:
            return f"the C name of {prev.what}"
        if prev.role == INTERNAL:
            return f"used inside the generated code of {prev.what}"
        return f"used as the {prev.role} of {prev.what}"

    def claim(self, c_name: str, what: str, loc: Location,
              role: Optional[str] = None) -> bool:
        """Register a global C identifier (``role`` says what it is for
        ``what``, None for its own name); report a clash with an earlier
        one."""
        prev = self.claimed.get(c_name)
        if role is None:
            head = f"{what} would be named '{c_name}' in C"
        elif role == INTERNAL:
            head = f"{what} needs '{c_name}' inside the generated C code"
        else:
            head = f"{what} needs '{c_name}' in C for its {role}"
        if prev is None and c_name in C_RESERVED:
            self.d.error(loc, f"{head}, {_library(c_name)}")
            return False
        if prev is None and "__t" in c_name \
                and ANON_DESC.fullmatch(c_name):
            self.d.error(loc, f"{head}, which is reserved for the "
                              f"descriptors of types without a name")
            return False
        if prev is not None:
            self.d.error(loc, f"{head}, which is already "
                              + self._owner(prev),
                         (Diagnostics.note(prev.loc, f"{prev.what} is "
                                                     f"declared here"),))
            return False
        self.claimed[c_name] = Claim(what, loc, role)
        return True

    def check_local(self, name: ast.Name, what: str, c_name: str) -> bool:
        """A field or parameter must not be named like a global C name: in
        a parameter list it would hide the type or function from the rest
        of it, and in a C++ struct it changes the meaning of a type."""
        prev = self.claimed.get(c_name)
        if prev is None:
            return True
        shown = f"'{c_name}'" if c_name == name.text \
            else f"'{name.text}', which becomes '{c_name}' in C,"
        self.d.error(name.loc, f"{what} name {shown} is also "
                               + self._owner(prev),
                     (Diagnostics.note(prev.loc, f"{prev.what} is declared "
                                                 f"here"),))
        return False


def _library(c_name: str) -> str:
    """Why a C library name may not be generated, for messages."""
    where = C_RESERVED[c_name]
    if where == "the compiler":
        return "a name the compiler predefines"
    return f"a name {where} already declares"


@dataclass
class Scope:
    names: Names
    mods: Dict[str, Mod] = field(default_factory=dict)
    # Imports before importers; the main module is last unless its file
    # failed to declare one.
    order: List[Mod] = field(default_factory=list)


def declare(units: Sequence[Unit], diags: Diagnostics) -> Scope:
    """A module for every parsed unit, with its imports linked and its
    declarations and their C names registered."""
    declarer = _Declarer(diags)
    declarer.add_units(units)
    return declarer.scope


class _Declarer:
    def __init__(self, diags: Diagnostics) -> None:
        self.d = diags
        self.names = Names(diags)
        self.scope = Scope(self.names)

    def add_units(self, units: Sequence[Unit]) -> None:
        by_unit: Dict[str, Mod] = {}
        for unit in units:
            mod = self.add_unit(unit)
            if mod is not None:
                by_unit[unit.canon] = mod
        for mod in self.scope.order:
            for imp, dep in mod.unit.imports:
                target = by_unit.get(dep.canon) if dep else None
                if target is None:
                    mod.broken_import = True
                else:
                    # As the import spells it: outputs never depend on
                    # where the files are (-I, an absolute input path).
                    if target.name not in mod.imports:
                        mod.import_files.append(imp.path)
                    mod.imports[target.name] = target
            self.declare(mod)

    def add_unit(self, unit: Unit) -> Optional[Mod]:
        f = unit.file
        if f is None:
            return None
        if f.module is None:
            self.d.error(f.start, "missing module declaration; a file "
                                  "must start with 'module NAME;'")
            return None
        name = f.module.name
        if not self.check_module_name(name):
            return None
        if name.text in self.scope.mods:
            prev = self.scope.mods[name.text]
            self.d.error(name.loc, f"module '{name.text}' is already "
                                   f"declared in '{prev.unit.path}'")
            return None
        mod = Mod(name.text, unit, f, Namer(name.text))
        self.scope.mods[name.text] = mod
        self.scope.order.append(mod)
        for c in module_internal(name.text):
            self.names.claim(c, f"module '{name.text}'", name.loc, INTERNAL)
        return mod

    def check_module_name(self, name: ast.Name) -> bool:
        t = name.text
        if (not t[0].isalpha() or not set(t) <= _MODULE_NAME_CHARS
                or "__" in t or t.endswith("_")):
            self.d.error(name.loc, f"module name '{t}' must be lower case "
                                   f"letters, digits and single "
                                   f"underscores (it becomes the C prefix)")
            return False
        # The one module the generator's own names may use: lrpc's built-in
        # interface (idl/lrpc-service.idl), whose C names are lrpc's.
        if t == BUILTIN_MODULE:
            return True
        return self.names.check(name, "module", top=True)

    def declare(self, mod: Mod) -> None:
        for decl in mod.file.decls:
            name = decl.name
            prev = mod.decls.get(name.text)
            if prev is not None:
                self.d.error(name.loc, f"duplicate name '{name.text}'",
                             (Diagnostics.note(prev.name.loc,
                                               f"'{name.text}' is first "
                                               f"declared here"),))
                continue
            mod.decls[name.text] = decl
            if not self.names.check(name, kind_of(decl), top=True):
                continue
            if isinstance(decl, ast.Const):
                self.names.claim(mod.namer.const_name(name.text),
                                 f"constant '{name.text}'", name.loc)
            elif isinstance(decl, ast.Interface):
                self.declare_interface(mod, decl)
            else:
                self.declare_type(mod, decl)

    def declare_type(self, mod: Mod, decl: Union[ast.Enum, ast.ErrorDecl,
                                                 ast.Struct, ast.Union_]
                     ) -> None:
        name = decl.name
        kind = kind_of(decl)
        what = f"{kind} '{name.text}'"
        c_name = mod.namer.type_name(name.text)
        if not self.names.claim(c_name, what, name.loc):
            return
        if not isinstance(decl, ast.ErrorDecl) and not all(
                self.names.claim(c, what, name.loc, INTERNAL)
                for c in type_internal(c_name, kind)):
            return
        if isinstance(decl, ast.Union_):
            seen_cases: Set[str] = set()
            for case in decl.cases:
                if case.name.text in seen_cases:
                    continue    # a duplicate, reported by check
                seen_cases.add(case.name.text)
                self.names.claim(case_macro(c_name, case.name.text),
                                 f"union case '{name.text}."
                                 f"{case.name.text}'", case.name.loc,
                                 "tag macro")
        if isinstance(decl, (ast.Enum, ast.ErrorDecl)):
            seen: Set[str] = set()
            for mem in decl.members:
                if mem.name.text in seen:
                    continue    # a duplicate, reported by check
                seen.add(mem.name.text)
                self.names.claim(mod.namer.member_name(name.text,
                                                       mem.name.text),
                                 f"'{name.text}.{mem.name.text}'",
                                 mem.name.loc)

    def declare_interface(self, mod: Mod, decl: ast.Interface) -> None:
        iname = decl.name.text
        for c, role in mod.namer.interface(iname).roles():
            if not self.names.claim(c, f"interface '{iname}'",
                                    decl.name.loc, role):
                return
        seen: Set[str] = set()
        for meth in decl.methods:
            if meth.name.text in seen:
                continue        # reported as a duplicate method later
            seen.add(meth.name.text)
            names = mod.namer.method(iname, meth.name.text)
            what = f"method '{iname}.{meth.name.text}'"
            kind = "stream" if meth.stream is not None and \
                meth.kind == "call" else meth.kind
            for c, role in names.roles(kind):
                if not self.names.claim(c, what, meth.name.loc,
                                        None if c == names.function
                                        else role):
                    break
