"""Compatibility: is a new IDL file wire-compatible with an old one?

Two versions of a module are compatible when every interface of the old
one is still there, at the same or a higher version, and puts the same
bytes on the wire at every version the old one had: its canonical form
(``hashing``) at each of those versions is unchanged.  That is what peers
built from the two files check when they connect; this module finds the
same differences at build time and says where each one is, as
``file:line:col`` in the new file (with a note at the old declaration).

The comparison walks the model rather than diffing text, so that each
breaking change is reported once, at the declaration that made it.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Set, Tuple, Union

from . import model as m
from .errors import Diagnostic, Diagnostics, Location
from .hashing import type_shape

Part = Union[m.Field, m.Param]


class _FromModel:
    """``hashing.TypeSource`` over a built model."""

    def __init__(self, model: m.Model) -> None:
        self.model = model

    def _decl(self, key: Tuple[str, str]) -> m.Decl:
        d = self.model.module(key[0]).decl(key[1])
        assert d is not None
        return d

    def enum(self, key: Tuple[str, str]) -> m.Enum:
        d = self._decl(key)
        assert isinstance(d, m.Enum)
        return d

    def members(self, key: Tuple[str, str]) -> Sequence[m.Field]:
        d = self._decl(key)
        assert isinstance(d, (m.Struct, m.Union_))
        return d.fields if isinstance(d, m.Struct) else d.cases

    def tag(self, key: Tuple[str, str]) -> m.Primitive:
        d = self._decl(key)
        assert isinstance(d, m.Union_)
        return d.tag


def shape(model: m.Model, t: m.Type, v: int) -> str:
    """The wire shape of ``t`` at version ``v``, spelled as the canonical
    form spells it (one implementation: ``hashing.type_shape``)."""
    return type_shape(t, v, _FromModel(model))


class _Compare:
    def __init__(self, old: m.Model, new: m.Model,
                 diags: Diagnostics) -> None:
        self.old = old
        self.new = new
        self.diags = diags
        self.seen: Set[Tuple[Optional[Location], str]] = set()
        self.iface = ""        # "kv.Store", for messages
        self.version = 0       # the old version being compared
        self.hits = 0          # changes found, reported or not

    def error(self, loc: Optional[Location], what: str,
              old_loc: Optional[Location] = None) -> None:
        # The same change breaks every later version too: say it once,
        # for the first version it breaks.
        self.hits += 1
        if (loc, what) in self.seen:
            return
        self.seen.add((loc, what))
        notes: Tuple[Diagnostic, ...] = ()
        if old_loc is not None:
            notes = (Diagnostics.note(old_loc, "the old declaration is "
                                               "here"),)
        self.diags.error(loc, f"incompatible with version {self.version} "
                              f"of {self.iface}: {what}", notes)

    def run(self) -> None:
        old_mod, new_mod = self.old.main, self.new.main
        top = Location(new_mod.file, 1, 1)
        if old_mod.name != new_mod.name:
            self.iface = f"module {old_mod.name}"
            self.version = 1
            self.error(top, f"module '{old_mod.name}' renamed to "
                            f"'{new_mod.name}' (interface ids change)")
            return
        news = {i.name: i for i in new_mod.interfaces}
        for oi in old_mod.interfaces:
            self.iface = f"{old_mod.name}.{oi.name}"
            ni = news.get(oi.name)
            if ni is None:
                self.version = oi.version
                self.error(top, f"interface '{oi.name}' was removed",
                           oi.loc)
                continue
            if ni.version < oi.version:
                self.version = oi.version
                self.error(ni.loc, f"interface '{oi.name}' went down from "
                                   f"version {oi.version} to "
                                   f"{ni.version}", oi.loc)
                continue
            for v in range(1, oi.version + 1):
                if oi.canonical[v - 1] == ni.canonical[v - 1]:
                    continue
                self.version = v
                before = self.hits
                self.interface(oi, ni, v)
                if self.hits == before:
                    self.first_line(oi, ni, v)

    def first_line(self, oi: m.Interface, ni: m.Interface, v: int) -> None:
        """A difference the walk did not name: show the canonical lines."""
        a = oi.canonical[v - 1].splitlines()
        b = ni.canonical[v - 1].splitlines()
        for x, y in zip(a + [""] * len(b), b + [""] * len(a)):
            if x != y:
                self.error(ni.loc, f"the wire changed: was '{x}', now "
                                   f"'{y}'", oi.loc)
                return

    def interface(self, oi: m.Interface, ni: m.Interface, v: int) -> None:
        olds = {x.ordinal: x for x in oi.methods if x.since <= v}
        news_all = {x.ordinal: x for x in ni.methods}
        news = {k: x for k, x in news_all.items() if x.since <= v}
        for ordinal in sorted(set(olds) | set(news)):
            o, n = olds.get(ordinal), news.get(ordinal)
            if n is None:
                assert o is not None
                later = news_all.get(ordinal)
                if later is not None:
                    self.error(later.loc, f"'{later.name}' (@{ordinal}) "
                                          f"moved from version {o.since} "
                                          f"to @since({later.since})",
                               o.loc)
                else:
                    self.error(ni.loc, f"method '{o.name}' (@{ordinal}) "
                                       f"was removed", o.loc)
            elif o is None:
                self.error(n.loc, f"'{n.name}' (@{ordinal}) was added to "
                                  f"version {v}, which the old file "
                                  f"has; give it @since({oi.version + 1}) "
                                  f"and raise the interface version")
            else:
                self.method(o, n, v)

    def method(self, o: m.Method, n: m.Method, v: int) -> None:
        if o.kind != n.kind:
            self.error(n.loc, f"'{n.name}' changed from {o.kind} to "
                              f"{n.kind}", o.loc)
            return
        self.params(o.params, n.params, v, n, "parameter")
        self.params(o.results, n.results, v, n, "result")
        oc, nc = self.codes(self.old, o), self.codes(self.new, n)
        if oc != nc:
            self.error(n.loc, f"the errors '{n.name}' raises changed "
                              f"(codes {sorted(oc)} -> {sorted(nc)})",
                       o.loc)

    @staticmethod
    def codes(model: m.Model, meth: m.Method) -> Set[int]:
        out: Set[int] = set()
        for r in meth.raises:
            d = model.lookup(r)
            assert isinstance(d, m.ErrorDecl)
            out.update(c.value for c in d.codes)
        return out

    def params(self, olds: Sequence[m.Param], news: Sequence[m.Param],
               v: int, meth: m.Method, what: str) -> None:
        a = [p for p in olds if p.since <= v]
        b = [p for p in news if p.since <= v]
        for i in range(max(len(a), len(b))):
            o = a[i] if i < len(a) else None
            n = b[i] if i < len(b) else None
            if n is None:
                assert o is not None
                self.error(meth.loc, f"{what} '{o.name}' of "
                                     f"'{meth.name}' was removed", o.loc)
            elif o is None:
                self.error(n.loc, f"{what} '{n.name}' of '{meth.name}' "
                                  f"was added to version {v}; give it "
                                  f"@since and raise the interface "
                                  f"version")
            else:
                self.part(o, n, v, f"{what} '{n.name}' of '{meth.name}'")

    def part(self, o: Part, n: Part, v: int, what: str) -> None:
        if o.since != n.since:
            self.error(n.loc, f"{what} moved from version {o.since} to "
                              f"{n.since}", o.loc)
        self.type(o.type, n.type, v, n.loc, what, o.loc)

    def type(self, ot: m.Type, nt: m.Type, v: int, loc: Location,
             what: str, old_loc: Location) -> None:
        if shape(self.old, ot, v) == shape(self.new, nt, v):
            return
        if isinstance(ot, m.Ref) and isinstance(nt, m.Ref) and \
                ot.kind == nt.kind:
            od, nd = self.old.lookup(ot), self.new.lookup(nt)
            if isinstance(od, m.Struct) and isinstance(nd, m.Struct):
                return self.fields(od, nd, v, "field")
            if isinstance(od, m.Union_) and isinstance(nd, m.Union_) \
                    and od.tag == nd.tag:
                return self.fields(od, nd, v, "case")
            if isinstance(od, m.Enum) and isinstance(nd, m.Enum) and \
                    od.base == nd.base:
                return self.enum(od, nd, v)
        for a, b, sub in ((ot, nt, None),):
            # Same collection, different element: go down to name it.
            if isinstance(a, m.Optional_) and isinstance(b, m.Optional_):
                sub = (a.inner, b.inner)
            elif isinstance(a, m.Array) and isinstance(b, m.Array) and \
                    (a.size, a.max) == (b.size, b.max):
                sub = (a.element, b.element)
            elif isinstance(a, m.Map) and isinstance(b, m.Map) and \
                    a.max == b.max and \
                    shape(self.old, a.key, v) == shape(self.new, b.key, v):
                sub = (a.value, b.value)
            if sub is not None:
                return self.type(sub[0], sub[1], v, loc, what, old_loc)
        self.error(loc, f"{what} changed type from "
                        f"'{m.type_text(ot, self.old.main.name)}' to "
                        f"'{m.type_text(nt, self.new.main.name)}'",
                   old_loc)

    def fields(self, od: Union[m.Struct, m.Union_],
               nd: Union[m.Struct, m.Union_], v: int, what: str) -> None:
        def members(d: Union[m.Struct, m.Union_]) -> Dict[int, m.Field]:
            parts = d.fields if isinstance(d, m.Struct) else d.cases
            return {f.ordinal: f for f in parts}
        olds, news = members(od), members(nd)
        for ordinal in sorted(set(olds) | set(news)):
            o, n = olds.get(ordinal), news.get(ordinal)
            if o is not None and o.since > v:
                o = None
            if n is not None and n.since > v and o is None:
                continue
            name = f"{what} '{nd.name}.{(n or o).name}' (@{ordinal})"
            if n is None:
                assert o is not None
                self.error(nd.loc, f"{name} was removed", o.loc)
            elif o is None:
                self.error(n.loc, f"{name} was added to version {v}; give "
                                  f"it @since and raise the interface "
                                  f"version")
            else:
                self.part(o, n, v, name)

    def enum(self, od: m.Enum, nd: m.Enum, v: int) -> None:
        olds = {x.value: x for x in od.members if x.since <= v}
        news = {x.value: x for x in nd.members}
        for value in sorted(set(olds) | set(news)):
            o, n = olds.get(value), news.get(value)
            if n is None:
                assert o is not None
                self.error(nd.loc, f"value {value} ('{o.name}') of "
                                   f"'{nd.name}' was removed", o.loc)
            elif o is None:
                if n.since <= v:
                    self.error(n.loc, f"value '{nd.name}.{n.name}' = "
                                      f"{value} was added to version {v}; "
                                      f"give it @since and raise the "
                                      f"interface version")
            elif n.since != o.since:
                self.error(n.loc, f"value '{nd.name}.{n.name}' moved from "
                                  f"version {o.since} to {n.since}", o.loc)


def check_compat(old: m.Model, new: m.Model, diags: Diagnostics) -> None:
    """Report into ``diags`` each change of ``new`` that breaks a version
    ``old`` has; nothing when the two are wire-compatible."""
    _Compare(old, new, diags).run()
