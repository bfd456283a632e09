"""Building: the checked declarations -> the frozen model back ends read.

Runs only on a program without errors.  Adds the facts computed once for
every back end: interface ids and per-version hashes, and the dependency
order of each module's types.  The one problem it can still find is two
interfaces whose ids collide.
"""

from __future__ import annotations

from typing import Dict, List, Set, Tuple, Union

from . import ast
from . import model as m
from .check import Checked
from .errors import Diagnostics
from .hashing import canonical, fnv1a32
from .scope import Mod, Scope


def build(scope: Scope, checked: Checked, diags: Diagnostics) -> m.Model:
    """The model of every module in ``scope``; the main one is last."""
    builder = _Builder(checked, diags)
    modules = tuple(builder.module(mod) for mod in scope.order)
    return m.Model(modules[-1], modules)


class _Builder:
    def __init__(self, checked: Checked, diags: Diagnostics) -> None:
        self.checked = checked
        self.d = diags
        self.ids: Dict[int, str] = {}     # interface id -> "module.Name"

    def module(self, mod: Mod) -> m.Module:
        c = self.checked
        consts, enums, structs, unions, errors, ifaces = \
            [], [], [], [], [], []
        for d in mod.file.decls:
            k = (mod.name, d.name.text)
            c_name = mod.namer.type_name(d.name.text)
            if isinstance(d, ast.Const):
                consts.append(c.consts[k])
            elif isinstance(d, ast.Enum):
                enums.append(c.enums[k])
            elif isinstance(d, ast.ErrorDecl):
                errors.append(c.errors[k])
            elif isinstance(d, ast.Struct):
                structs.append(m.Struct(d.name.text, c_name, c.members[k],
                                        c.depths[k], d.doc, d.name.loc))
            elif isinstance(d, ast.Union_):
                unions.append(m.Union_(d.name.text, c_name, c.tags[k],
                                       c.members[k], c.depths[k], d.doc,
                                       d.name.loc))
            else:
                ifaces.append(self.interface(mod, d))
        assert mod.file.module is not None
        collections = tuple(c.collections.get(mod.name, {}).values())
        return m.Module(
            mod.name, mod.unit.shown or mod.unit.path, mod.namer.prefix,
            mod.file.module.doc,
            tuple(mod.imports), tuple(mod.import_files), tuple(consts),
            tuple(enums), tuple(structs), tuple(unions), tuple(errors),
            tuple(ifaces), self.type_order(mod), collections,
            self.c_order(mod, structs + unions, enums, collections))

    def interface(self, mod: Mod, d: ast.Interface) -> m.Interface:
        k = (mod.name, d.name.text)
        version = self.checked.versions[k]
        methods = self.checked.methods[k]
        texts = tuple(canonical(mod.name, d.name.text, v, methods,
                                self.checked)
                      for v in range(1, version + 1))
        full = f"{mod.name}.{d.name.text}"
        iid = fnv1a32(full)
        if iid in self.ids:
            # Astronomically unlikely, but the selector would misroute.
            self.d.error(d.name.loc, f"interface id 0x{iid:08x} of "
                                     f"'{full}' collides with "
                                     f"'{self.ids[iid]}'; rename one of "
                                     f"them")
        self.ids[iid] = full
        return m.Interface(d.name.text, version, iid,
                           tuple(fnv1a32(t) for t in texts), texts,
                           tuple(methods), mod.namer.interface(d.name.text),
                           d.doc, d.name.loc)

    def type_order(self, mod: Mod) -> Tuple[str, ...]:
        """Enums, structs and unions with each one after what it uses."""
        out: List[str] = []
        done: Set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            done.add(name)
            for t in self.checked.uses.get((mod.name, name), ()):
                if t[0] == mod.name:
                    visit(t[1])
            out.append(name)

        for d in mod.file.decls:
            if isinstance(d, (ast.Enum, ast.Struct, ast.Union_)):
                visit(d.name.text)
        return tuple(out)

    def c_order(self, mod: Mod, aggregates: List[Union[m.Struct, m.Union_]],
                enums: List[m.Enum], collections: Tuple[m.Collection, ...]
                ) -> Tuple[str, ...]:
        """C names of the module's types and collections, each after what
        its C definition needs: a struct or union needs the complete types
        of its members, a fixed array that of its element; lists, maps and
        optional values hold pointers, for which the declaration of a
        struct or union is enough (the header declares them all first)."""
        home = mod.name
        by_c: Dict[str, object] = {d.c_name: d for d in aggregates}
        by_c.update((e.c_name, e) for e in enums)
        by_c.update((t.c_name, t) for t in collections)
        out: List[str] = []
        done: Set[str] = set()

        def needs(t: m.Type, complete: bool) -> List[str]:
            if isinstance(t, m.Ref):
                if t.module != home or (t.kind != "enum" and not complete):
                    return []
                return [t.c_name]
            if isinstance(t, (m.Array, m.Map)):
                return [t.c_name]
            if isinstance(t, m.Optional_):
                return needs(t.inner, False)
            return []

        def visit(c_name: str) -> None:
            if c_name in done:
                return
            done.add(c_name)
            d = by_c[c_name]
            deps: List[str] = []
            if isinstance(d, m.Struct):
                for f in d.fields:
                    deps += needs(f.type, True)
            elif isinstance(d, m.Union_):
                for f in d.cases:
                    deps += needs(f.type, True)
            elif isinstance(d, m.Array):
                deps = needs(d.element, d.size is not None)
            elif isinstance(d, m.Map):
                deps = needs(d.key, False) + needs(d.value, False)
            for dep in deps:
                visit(dep)
            out.append(c_name)

        by_name = {d.name: d for d in list(aggregates) + list(enums)}
        for name in self.type_order(mod):
            visit(by_name[name].c_name)
        for t in collections:
            visit(t.c_name)
        return tuple(out)
