"""Checking: the rules of docs/idl.md, applied to every declaration.

Checks constants, enums, errors, structs, unions and interfaces (values
and their ranges, attributes, ordinals, ``@since`` against interface
versions, duplicate and reserved member names, clashes between the
parameters of generated functions), then the rules about the whole
program: no recursive types and no nesting beyond ``model.MAX_DEPTH``.
What it finds out about each declaration goes into ``Checked`` for the
build stage.  Checking carries on after an error, so one run reports as
much as it can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, \
    Tuple, Union

from . import ast
from . import model as m
from .errors import Diagnostic, Diagnostics, Location
from .naming import STUB_ARGS, field_name, method_member, stub_parameters, \
    upper
from .resolve import Resolver
from .scope import Key, Mod, Scope, article, kind_of
from .suggest import hint



@dataclass
class Checked:
    """What checking found out, per declaration by (module, name).

    A declaration that failed its checks is missing from its table, except
    that struct fields and union cases keep the members that passed.
    """

    consts: Dict[Key, m.Const] = field(default_factory=dict)
    enums: Dict[Key, m.Enum] = field(default_factory=dict)
    errors: Dict[Key, m.ErrorDecl] = field(default_factory=dict)
    members: Dict[Key, Tuple[m.Field, ...]] = field(default_factory=dict)
    # Struct or union -> the structs and unions its members contain, with
    # where; the graph of recursion, depth and dependency order.
    member_edges: Dict[Key, List[Tuple[Key, Location]]] = field(
        default_factory=dict)
    # Struct or union -> every named type its members use, enums too, in
    # source order; what a C header must define before it.
    uses: Dict[Key, List[Key]] = field(default_factory=dict)
    tags: Dict[Key, m.Primitive] = field(default_factory=dict)
    methods: Dict[Key, List[m.Method]] = field(default_factory=dict)
    versions: Dict[Key, int] = field(default_factory=dict)
    depths: Dict[Key, int] = field(default_factory=dict)
    cyclic: Set[Key] = field(default_factory=set)
    # Module -> C name -> the collection (bounds stripped) its
    # declarations use, in first-use order, inner ones before outer ones.
    collections: Dict[str, Dict[str, m.Collection]] = field(
        default_factory=dict)


# Attributes without a value: a retired struct field, a deprecated method.
FLAG_ATTRS = ("removed", "deprecated")
# Who may call a method: a list of words and ``key: value`` rules.
ACCESS_WORDS = ("owner", "root")
ACCESS_KEYS = ("uid", "gid", "group")
# The attributes there are (where each may go is checked in attrs()).
ATTRIBUTES = ("since", "version", "max") + FLAG_ATTRS + ("access",)
# What a group name may be (useradd's rule, at most 32 characters).
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z")
# uid_t and gid_t are 32 bits; (uid_t)-1 means "no change", never an id.
_MAX_ID = 0xFFFFFFFE


def check_decls(scope: Scope, diags: Diagnostics) -> Checked:
    """Check every declaration of every module in ``scope``."""
    checker = _Checker(scope, diags)
    checker.check_all()
    return checker.checked


class _Checker:
    def __init__(self, scope: Scope, diags: Diagnostics) -> None:
        self.d = diags
        self.scope = scope
        self.names = scope.names
        self.checked = Checked()
        self.r = Resolver(diags, self.checked.consts)
        # Fields and parameters as (name, what, C name): checked again at
        # the end against the collection names claimed after them.
        self.locals: List[Tuple[ast.Name, str, str]] = []

    def error(self, loc: Optional[Location], msg: str,
              notes: Tuple[Diagnostic, ...] = ()) -> None:
        self.d.error(loc, msg, notes)

    # --- the order of the checks, and the whole-program ones --------------

    def check_all(self) -> None:
        # Constants first: array sizes and attributes may name them.
        for mod in self.scope.order:
            for d in mod.file.decls:
                if isinstance(d, ast.Const) and \
                        mod.decls.get(d.name.text) is d:
                    self.check_const(mod, d)
        for mod in self.scope.order:
            for d in mod.file.decls:
                if mod.decls.get(d.name.text) is not d:
                    continue            # a duplicate, already reported
                if isinstance(d, ast.Enum):
                    self.check_enum(mod, d)
                elif isinstance(d, ast.ErrorDecl):
                    self.check_error(mod, d)
        for mod in self.scope.order:
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
        for mod in self.scope.order:
            for d in mod.file.decls:
                if isinstance(d, ast.Interface) and \
                        mod.decls.get(d.name.text) is d:
                    self.check_interface(mod, d)
        self.check_method_depths()
        self.check_locals_against_collections()

    def check_locals_against_collections(self) -> None:
        """A field or parameter named like a collection type would hide
        it as it hides any other type (see Names.check_local); collection
        names are claimed while checking, so compare once all are known."""
        names = {c for table in self.checked.collections.values()
                 for c in table}
        for name, what, c_name in self.locals:
            if c_name in names:
                self.names.check_local(name, what, c_name)

    def collect(self, mod: Mod, te: ast.TypeExpr, t: m.Type) -> None:
        """Claim the C names of the collections in ``t`` (written as
        ``te``), inner ones first: every use of a shape shares one C type,
        and a C name that two shapes or a declaration would share is an
        error at the use."""
        while isinstance(te, ast.BoundedType):
            te = te.inner
        if isinstance(t, m.Optional_) and isinstance(te, ast.OptionalType):
            self.collect(mod, te.inner, t.inner)
            return
        if isinstance(t, m.Array) and isinstance(te, ast.ArrayType):
            self.collect(mod, te.element, t.element)
        elif isinstance(t, m.Map) and isinstance(te, ast.MapType):
            self.collect(mod, te.key, t.key)
            self.collect(mod, te.value, t.value)
        else:
            return
        shape = m.c_shape(t)
        assert isinstance(shape, (m.Array, m.Map))
        table = self.checked.collections.setdefault(mod.name, {})
        if table.get(shape.c_name) == shape:
            return
        what = f"{m.collection_kind(shape)} type " \
               f"'{m.type_text(shape, mod.name)}'"
        if self.names.claim(shape.c_name, what, te.loc):
            table[shape.c_name] = shape

    def check_cycles(self) -> None:
        # Depth first, with an explicit stack: a chain of thousands of
        # types must not reach Python's recursion limit.
        state: Dict[Key, int] = {}      # 1: on the stack, 2: done
        stack: List[Key] = []
        reported: Set[frozenset] = set()
        edges = self.checked.member_edges

        for root in edges:
            if root in state:
                continue
            state[root] = 1
            stack.append(root)
            todo = [iter(edges.get(root, ()))]
            while todo:
                step = next(todo[-1], None)
                if step is None:
                    todo.pop()
                    state[stack.pop()] = 2
                    continue
                target, loc = step
                if state.get(target) == 1:
                    cycle = stack[stack.index(target):]
                    self.checked.cyclic.update(cycle)
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        path = " -> ".join(n for _, n in cycle + [target])
                        self.error(loc, f"recursive type: {path}; a type "
                                        f"cannot contain itself, not even "
                                        f"through optional, arrays or maps")
                elif target not in state:
                    state[target] = 1
                    stack.append(target)
                    todo.append(iter(edges.get(target, ())))

    def check_depths(self) -> None:
        for k in self.checked.member_edges:
            self.decl_depth(k)
        depths = self.checked.depths
        for mod in self.scope.order:
            for d in mod.file.decls:
                k = (mod.name, d.name.text)
                if k not in depths or k in self.checked.cyclic:
                    continue
                depth = depths[k]
                # A union whose tag type is wrong has no members (and no
                # edges) but may be used, so it has a depth.
                inner = max((depths.get(t, 0)
                             for t, _ in self.checked.member_edges.get(k,
                                                                       ())),
                            default=0)
                if depth > m.MAX_DEPTH and inner <= m.MAX_DEPTH:
                    self.error(d.name.loc, f"{kind_of(d)} '{d.name.text}' "
                                           f"nests {depth} levels deep; the"
                                           f" limit is {m.MAX_DEPTH}")

    def decl_depth(self, k: Key) -> int:
        """The depth of struct or union ``k``, after those of the types it
        contains (in post-order, without recursion)."""
        depths = self.checked.depths
        todo = [k]
        while todo:
            cur = todo[-1]
            if cur in depths and depths[cur] >= 0:
                todo.pop()
                continue
            if cur in self.checked.cyclic or cur not in self.checked.members:
                depths[cur] = 0
                todo.pop()
                continue
            if cur not in depths:
                # -1: its members are being measured; a cycle still in
                # the graph counts as 0 when met again.
                depths[cur] = -1
                todo.extend(t for t, _ in reversed(
                    self.checked.member_edges.get(cur, ()))
                    if t not in depths)
                continue
            depths[cur] = 1 + max((_type_depth(f.type, depths)
                                   for f in self.checked.members[cur]),
                                  default=0)
            todo.pop()
        return depths[k]

    def check_method_depths(self) -> None:
        for (mname, iname), methods in self.checked.methods.items():
            for meth in methods:
                named = [self.checked.depths.get((r.module, r.name), 0)
                         for p in meth.params + meth.results
                         for r in _refs(p.type)]
                if meth.depth > m.MAX_DEPTH and \
                        max(named, default=0) <= m.MAX_DEPTH:
                    self.error(meth.loc, f"the messages of '{iname}."
                                         f"{meth.name}' nest {meth.depth} "
                                         f"levels deep; the limit is "
                                         f"{m.MAX_DEPTH}")

    # --- attributes and ordinals ------------------------------------------

    def attrs(self, mod: Mod, attrs: Iterable[ast.Attr],
              allowed: Union[str, Tuple[str, ...]],
              where: str) -> Dict[str, Tuple[Any, Location]]:
        """The attributes of one declaration, each checked: ``allowed``
        names the ones it may carry.  Flags (``FLAG_ATTRS``) take no value
        and map to 1; ``@access`` maps to its ``m.Access``."""
        permitted = (allowed,) if isinstance(allowed, str) else allowed
        out: Dict[str, Tuple[Any, Location]] = {}
        seen: Set[str] = set()
        for a in attrs:
            n = a.name.text
            if n not in ATTRIBUTES:
                self.error(a.loc, f"unknown attribute '@{n}'"
                           + hint(n, ATTRIBUTES, prefix="@"))
            elif n not in permitted:
                self.error(a.loc, f"'@{n}' is not allowed on {where}")
            elif n in seen:
                self.error(a.loc, f"duplicate attribute '@{n}'")
            elif n in FLAG_ATTRS:
                seen.add(n)
                if a.arg is not None:
                    self.error(a.loc, f"'@{n}' takes no value")
                else:
                    out[n] = (1, a.loc)
            elif n == "access":
                seen.add(n)
                access = self.access(a)
                if access is not None:
                    out[n] = (access, a.loc)
            elif a.items:
                self.error(a.loc, f"'@{n}' takes one value, as in "
                                  f"'@{n}(2)'")
            elif a.arg is None:
                self.error(a.loc, f"'@{n}' needs a value, as in '@{n}(2)'")
            else:
                seen.add(n)
                v = self.r.int_value(mod, a.arg, f"'@{n}'")
                if v is None:
                    continue
                if not 1 <= v <= m.MAX_VERSION:
                    self.error(a.loc, f"'@{n}({v})' is out of range "
                                      f"(1..{m.MAX_VERSION})")
                    continue
                out[n] = (v, a.loc)
        return out

    def access(self, a: ast.Attr) -> Optional[m.Access]:
        """The rules of one ``@access(...)``, or None after reporting what
        is wrong with them."""
        entries = a.items if a.items else \
            ((a.arg,) if a.arg is not None else ())
        if not entries:
            self.error(a.loc, "'@access' needs a rule, as in "
                              "'@access(owner)' or '@access(group: "
                              "\"wheel\")'")
            return None
        words: List[str] = []
        ids: Dict[str, List[Union[int, str]]] = {k: [] for k in ACCESS_KEYS}
        ok = True
        for e in entries:
            if isinstance(e, ast.QName) and e.module is None and \
                    e.name.text in ACCESS_WORDS:
                word = e.name.text
                if word in words:
                    self.error(e.name.loc, f"'{word}' is given twice")
                    ok = False
                words.append(word)
            elif isinstance(e, ast.AttrItem) and e.key.text in ACCESS_KEYS:
                key, v = e.key.text, e.value
                if key == "group":
                    if not isinstance(v, ast.StrLit):
                        self.error(e.loc, "a group is named by a string, "
                                          "as in 'group: \"wheel\"'")
                        ok = False
                        continue
                    if not _GROUP_NAME.match(v.value):
                        self.error(v.loc, f"'{v.value}' is not a group "
                                          f"name (a letter or '_', then "
                                          f"letters, digits, '_', '.', "
                                          f"'-'; at most 32)")
                        ok = False
                        continue
                    value: Union[int, str] = v.value
                else:
                    if not isinstance(v, ast.IntLit):
                        self.error(e.loc, f"'{key}' takes a number, as in "
                                          f"'{key}: 0'")
                        ok = False
                        continue
                    if not 0 <= v.value <= _MAX_ID:
                        self.error(v.loc, f"'{key}: {v.value}' is out of "
                                          f"range (0..{_MAX_ID})")
                        ok = False
                        continue
                    value = v.value
                if value in ids[key]:
                    self.error(e.loc, f"'{key}: {value}' is given twice"
                               if key != "group" else
                               f"'group: \"{value}\"' is given twice")
                    ok = False
                ids[key].append(value)
            else:
                what = (e.key if isinstance(e, ast.AttrItem) else
                        e.name if isinstance(e, ast.QName) and
                        e.module is None else None)
                known = ACCESS_WORDS + tuple(k + ":" for k in ACCESS_KEYS)
                self.error(getattr(e, "loc", a.loc),
                           f"'@access' takes {', '.join(ACCESS_WORDS)}, "
                           f"'uid: N', 'gid: N' or 'group: \"name\"'"
                           + (hint(what.text, ACCESS_WORDS + ACCESS_KEYS)
                              if what is not None else ""))
                ok = False
        if "root" in words and len(entries) > 1:
            self.error(a.loc, "'root' in '@access' means nobody but root; "
                              "leave it out to let the others listed call")
            ok = False
        if not ok:
            return None
        return m.Access(root="root" in words, owner="owner" in words,
                        uids=tuple(sorted(int(x) for x in ids["uid"])),
                        gids=tuple(sorted(int(x) for x in ids["gid"])),
                        groups=tuple(sorted(str(x) for x in ids["group"])))

    def ordinals(self, items: Sequence[Tuple[ast.Name,
                                             Optional[ast.IntLit]]],
                 what: str, hi: int, why: str = "") -> Dict[str, int]:
        """``why`` explains the range when it is not obvious."""
        out: Dict[str, int] = {}
        seen: Dict[int, ast.Name] = {}
        for name, lit in items:
            if lit is None:
                self.error(name.loc, f"{what} '{name.text}' has no "
                                     f"ordinal; add '@N' before the ';'")
            elif lit.value > hi:
                self.error(lit.loc, f"ordinal @{lit.value} of {what} "
                                    f"'{name.text}' is out of range "
                                    f"(0..{hi}{why})")
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

    def check_const(self, mod: Mod, c: ast.Const) -> None:
        t = self.r.type(mod, c.type)
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
        self.checked.consts[(mod.name, name)] = m.Const(
            name, mod.namer.const_name(name), t, value, c.doc, c.name.loc)

    def members_of(self, mod: Mod, decl: Union[ast.Enum, ast.ErrorDecl],
                   what: str, lo: int, hi: int,
                   range_text: str) -> Optional[List[m.Member]]:
        name = decl.name.text
        if not decl.members:
            self.error(decl.name.loc, f"{kind_of(decl)} '{name}' has no "
                                      f"{what}s")
            return None
        good = self.unique([x.name for x in decl.members], what,
                           c_name=upper)
        out = []
        by_value: Dict[int, ast.Name] = {}
        ok = True
        for mem in decl.members:
            self.names.check(mem.name, what, top=False)
            since = 1
            if what == "enumerator":
                attrs = self.attrs(mod, mem.attrs, "since", f"an {what}")
                since = attrs.get("since", (1, None))[0]
            else:
                self.attrs(mod, mem.attrs, "", f"an {what}")
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
                    mem.name.loc, since))
        return out if ok and len(out) == len(decl.members) else None

    def check_enum(self, mod: Mod, e: ast.Enum) -> None:
        name = e.name.text
        if e.base is None:
            self.error(e.name.loc, f"enum '{name}' needs an underlying "
                                   f"integer type, as in 'enum {name} : "
                                   f"u8'")
            return
        base = self.r.type(mod, e.base)
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
            self.checked.enums[(mod.name, name)] = m.Enum(
                name, mod.namer.type_name(name), base, tuple(members),
                e.doc, e.name.loc)

    def check_error(self, mod: Mod, e: ast.ErrorDecl) -> None:
        hi = (1 << 31) - 1
        codes = self.members_of(mod, e, "error code", 1, hi,
                                f"(error codes are 1..{hi})")
        if codes is not None:
            name = e.name.text
            self.checked.errors[(mod.name, name)] = m.ErrorDecl(
                name, mod.namer.type_name(name), tuple(codes), e.doc,
                e.name.loc)

    def check_fields(self, mod: Mod, key: Key,
                     fields: Sequence[ast.Field], what: str,
                     hi: int, why: str = "") -> None:
        good = self.unique([f.name for f in fields], what)
        ords = self.ordinals([(f.name, f.ordinal) for f in fields], what, hi,
                             why)
        out = []
        edges: List[Tuple[Key, Location]] = []
        uses: List[Key] = []
        for f in fields:
            c_name = field_name(f.name.text)
            ok = self.names.check(f.name, what, top=False, c_name=c_name) \
                and self.names.check_local(f.name, what, c_name)
            if ok:
                self.locals.append((f.name, what, c_name))
            attrs = self.attrs(mod, f.attrs,
                               ("since", "removed") if what == "field"
                               else "since", f"a {what}")
            t = self.r.type(mod, f.type)
            if t is not None:
                self.collect(mod, f.type, t)
            if t is None or not ok:
                continue
            for ref in _refs(t):
                uses.append((ref.module, ref.name))
                if ref.kind != "enum":
                    edges.append(((ref.module, ref.name), f.name.loc))
            if f.name.text in good and f.name.text in ords:
                since = attrs.get("since", (1, None))[0]
                out.append(m.Field(f.name.text, c_name, t,
                                   ords[f.name.text], since, f.doc,
                                   f.name.loc, "removed" in attrs))
        out.sort(key=lambda x: x.ordinal)
        self.checked.members[key] = tuple(out)
        self.checked.member_edges[key] = edges
        self.checked.uses[key] = uses

    def check_struct(self, mod: Mod, s: ast.Struct) -> None:
        self.check_fields(mod, (mod.name, s.name.text), s.fields, "field",
                          m.MAX_ORDINAL)

    def check_union(self, mod: Mod, u: ast.Union_) -> None:
        name = u.name.text
        key = (mod.name, name)
        if u.tag is None:
            self.error(u.name.loc, f"union '{name}' needs a tag type, as in "
                                   f"'union {name} : u8'")
            self.check_cases_without_tag(mod, key, u)
            return
        tag = self.r.type(mod, u.tag)
        if tag is None:
            self.check_cases_without_tag(mod, key, u)
            return
        if not isinstance(tag, m.Primitive) or not tag.is_integer or \
                tag.is_signed or tag.name == "u64":
            self.error(u.tag.loc, f"the tag type of union '{name}' must be "
                                  f"u8, u16 or u32, not "
                                  f"'{m.type_text(tag, mod.name)}'")
            self.check_cases_without_tag(mod, key, u)
            return
        if not u.cases:
            self.error(u.name.loc, f"union '{name}' has no cases")
            return
        self.checked.tags[key] = tag
        hi, why = tag.range[1], ""
        if hi > m.MAX_ORDINAL:
            # lrpc_rpc_field.ordinal, the tag of a case in the descriptor,
            # is 16 bits wide and public ABI; a wider tag would be cut.
            hi = m.MAX_ORDINAL
            why = "; the descriptors hold case tags in 16 bits, whatever " \
                  "the tag type"
        self.check_fields(mod, key, u.cases, "union case", hi, why)

    def check_cases_without_tag(self, mod: Mod, key: Key,
                                u: ast.Union_) -> None:
        """The cases of a union whose tag type is missing or wrong: their
        own errors (names, types, ordinals) do not depend on it, so they
        are reported in the same run."""
        if u.cases:
            self.check_fields(mod, key, u.cases, "union case",
                              m.MAX_ORDINAL)

    def check_interface(self, mod: Mod, i: ast.Interface) -> None:
        iname = i.name.text
        key = (mod.name, iname)
        attrs = self.attrs(mod, i.attrs, ("version", "access"),
                           "an interface")
        version = attrs.get("version", (1, None))[0]
        # @access on the interface: every method's, unless it has its own.
        iface_access = attrs.get("access", (m.Access(), None))[0]
        self.checked.versions[key] = version
        good = self.unique([x.name for x in i.methods], "method",
                           c_name=method_member)
        ords = self.ordinals([(x.name, x.ordinal) for x in i.methods],
                             "method", m.MAX_ORDINAL)
        methods = []
        for meth in i.methods:
            built = self.check_method(mod, iname, version, meth)
            if built is not None and not built.access and \
                    built.kind != "event":
                built = replace(built, access=iface_access)
            if built is not None and meth.name.text in good \
                    and meth.name.text in ords:
                methods.append(replace(built,
                                       ordinal=ords[meth.name.text]))
        methods.sort(key=lambda x: x.ordinal)
        self.checked.methods[key] = methods
        self.check_field_versions(iname, version, methods)
        for meth in methods:
            if meth.kind == "stream" and any(
                    self.carries_fd(r.type, set()) for r in meth.results):
                self.error(meth.loc, f"stream '{meth.name}' cannot carry "
                                     f"fds in its items: return them from "
                                     f"a method that is not a stream")

    def carries_fd(self, t: m.Type, seen: Set[Key]) -> bool:
        """Whether a value of ``t`` can hold an fd (at any depth)."""
        if isinstance(t, m.Primitive):
            return t.name == "fd"
        if isinstance(t, m.Array):
            return self.carries_fd(t.element, seen)
        if isinstance(t, m.Optional_):
            return self.carries_fd(t.inner, seen)
        if isinstance(t, m.Map):
            return self.carries_fd(t.key, seen) or \
                self.carries_fd(t.value, seen)
        if isinstance(t, m.Ref) and t.kind != "enum":
            k = (t.module, t.name)
            if k in seen:
                return False
            seen.add(k)
            return any(self.carries_fd(f.type, seen)
                       for f in self.checked.members.get(k, ()))
        return False

    def check_field_versions(self, iname: str, version: int,
                             methods: Sequence[m.Method]) -> None:
        """A field newer than an interface that carries it could never be
        sent by that interface; that is a mistake in either number."""
        seen: Set[Key] = set()
        todo = [r for meth in methods for p in meth.params + meth.results
                for r in _refs(p.type)]
        while todo:
            ref = todo.pop(0)
            k = (ref.module, ref.name)
            if k in seen or k in self.checked.cyclic:
                continue
            seen.add(k)
            parts: Sequence[Union[m.Field, m.Member]] = ()
            if ref.kind == "enum":
                e = self.checked.enums.get(k)
                parts = e.members if e is not None else ()
            else:
                parts = self.checked.members.get(k, ())
            for f in parts:
                if f.since > version:
                    self.error(f.loc, f"'{ref.name}.{f.name}' is "
                                      f"@since({f.since}) but interface "
                                      f"'{iname}', which uses "
                                      f"'{ref.name}', is at version "
                                      f"{version}")
                if isinstance(f, m.Field):
                    todo.extend(_refs(f.type))

    def check_method(self, mod: Mod, iname: str, version: int,
                     meth: ast.Method) -> Optional[m.Method]:
        name = meth.name.text
        ok = self.names.check(meth.name, "method", top=False,
                              keywords_ok=True)
        kind_text = {"call": "method", "oneway": "oneway method",
                     "event": "event"}[meth.kind]
        attrs = self.attrs(mod, meth.attrs,
                           ("since", "deprecated") +
                           (("access",) if meth.kind != "event" else ()),
                           # "a oneway method": it starts with a "w" sound.
                           "a " + kind_text if meth.kind == "oneway"
                           else article(kind_text))
        since = version
        if "since" in attrs:
            since, loc = attrs["since"]
            if since > version:
                self.error(loc, f"'@since({since})' is above the version "
                                f"of interface '{iname}' ({version})")
                ok = False
        else:
            since = 1
        if meth.stream is not None and meth.kind != "call":
            self.error(meth.stream, f"{kind_text} '{name}' cannot stream "
                                    f"results")
            ok = False
        elif meth.kind != "call" and meth.results is not None:
            assert meth.arrow is not None
            self.error(meth.arrow, f"{kind_text} '{name}' cannot have a "
                                   f"reply")
            ok = False
        if meth.kind != "call" and meth.raises:
            assert meth.raises_loc is not None
            self.error(meth.raises_loc, f"{kind_text} '{name}' cannot "
                                        f"raise errors")
            ok = False
        if meth.stream is not None and meth.kind == "call" and \
                not meth.results:
            self.error(meth.stream, f"stream of '{name}' has no items: "
                                    f"give it at least one result")
            ok = False
        kind = "stream" if meth.stream is not None and \
            meth.kind == "call" else meth.kind
        everything = list(meth.params) + list(meth.results or ())
        distinct = self.unique([p.name for p in everything], "parameter")
        params = self.params(mod, iname, version, since, meth.params)
        results = self.params(mod, iname, version, since,
                              meth.results or ())
        raises = self.raises(mod, meth) if meth.kind == "call" else ()
        if params is None or results is None or raises is None or not ok:
            return None
        if len(distinct) == len(everything) and \
                not self.check_stub_parameters(iname, meth, params, results,
                                               kind):
            return None
        depth = 1 + max((_type_depth(p.type, self.checked.depths)
                         for p in params + results), default=0)
        return m.Method(name, kind, 0, since, params, results, raises,
                        depth, mod.namer.method(iname, name), meth.doc,
                        meth.name.loc, "deprecated" in attrs,
                        attrs.get("access", (m.Access(), None))[0])

    def check_stub_parameters(self, iname: str, meth: ast.Method,
                              params: Sequence[m.Param],
                              results: Sequence[m.Param],
                              kind: str) -> bool:
        """Parameters and results (as ``ret_<name>``) share the parameter
        lists of the generated functions with each other and with the
        functions' own parameters; no two may end up with one C name."""
        everything = list(params) + list(results)
        reported: Set[Tuple[str, int, int]] = set()
        ok = True
        for what, names in stub_parameters(
                kind, [p.c_name for p in params],
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

    def params(self, mod: Mod, iname: str, version: int, since: int,
               params: Sequence[ast.Param]
               ) -> Optional[Tuple[m.Param, ...]]:
        out = []
        ok = True
        newest: Optional[Tuple[int, ast.Name]] = None
        for p in params:
            c_name = field_name(p.name.text)
            if not self.names.check(p.name, "parameter", top=False,
                                    c_name=c_name):
                ok = False
            elif c_name in STUB_ARGS:
                self.error(p.name.loc, f"parameter name '{p.name.text}' is "
                                       f"used by the generated C functions")
                ok = False
            elif not self.names.check_local(p.name, "parameter", c_name):
                ok = False
            else:
                self.locals.append((p.name, "parameter", c_name))
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
            t = self.r.type(mod, p.type)
            if t is None:
                ok = False
                continue
            self.collect(mod, p.type, t)
            out.append(m.Param(p.name.text, c_name, t, p_since, p.name.loc))
        return tuple(out) if ok else None

    def raises(self, mod: Mod,
               meth: ast.Method) -> Optional[Tuple[m.ErrorRef, ...]]:
        out: List[m.ErrorRef] = []
        ok = True
        values: Dict[int, str] = {}
        for q in meth.raises:
            found = self.r.lookup(mod, q, "error")
            if found is None:
                ok = False
                continue
            target, decl = found
            if not isinstance(decl, ast.ErrorDecl):
                self.error(q.loc, f"'{q}' is {article(kind_of(decl))}, "
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
            err = self.checked.errors.get((target.name, decl.name.text))
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
        # -1 marks a type still being measured (check.decl_depth).
        return max(depths.get((t.module, t.name), 0), 0) \
            if t.kind != "enum" else 0
    if isinstance(t, m.Array):
        return 1 + _type_depth(t.element, depths)
    if isinstance(t, m.Optional_):
        return 1 + _type_depth(t.inner, depths)
    return 1 + max(_type_depth(t.key, depths), _type_depth(t.value, depths))

