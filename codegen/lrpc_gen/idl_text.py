"""One interface as a self-contained IDL file.

The generator embeds this text in the interface's tables
(``lrpc_rpc_interface.idl``) so that a running server can hand it out
(``lrpc.Service.describe``, ``lrpc introspect``).  It must stand alone:
imported types and error sets are copied into the one module, under a
name of their own when the plain one is taken, constants are replaced by
their values, and only what the interface reaches is kept.  Names do not
enter the canonical hash, so the text hashes like the original.
"""

from __future__ import annotations

from typing import Dict, List, Set, Tuple, Union

from . import model as m

Named = Union[m.Enum, m.Struct, m.Union_]


def _doc(doc: m.Doc, indent: str) -> List[str]:
    return [f"{indent}///{(' ' + line) if line else ''}" for line in doc]


class _Printer:
    def __init__(self, model: m.Model, mod: m.Module,
                 iface: m.Interface) -> None:
        self.model = model
        self.mod = mod
        self.iface = iface
        self.order: List[Tuple[str, str]] = []   # (module, name), deps first
        self.errors: List[Tuple[str, str]] = []
        self.names: Dict[Tuple[str, str], str] = {}

    def _visit(self, t: m.Type, seen: Set[Tuple[str, str]]) -> None:
        if isinstance(t, m.Array):
            self._visit(t.element, seen)
        elif isinstance(t, m.Optional_):
            self._visit(t.inner, seen)
        elif isinstance(t, m.Map):
            self._visit(t.key, seen)
            self._visit(t.value, seen)
        elif isinstance(t, m.Ref):
            key = (t.module, t.name)
            if key in seen:
                return
            seen.add(key)
            d = self.model.lookup(t)
            if isinstance(d, m.Struct):
                for f in d.fields:
                    self._visit(f.type, seen)
            elif isinstance(d, m.Union_):
                for f in d.cases:
                    self._visit(f.type, seen)
            self.order.append(key)

    def collect(self) -> None:
        seen: Set[Tuple[str, str]] = set()
        for meth in self.iface.methods:
            for p in meth.params + meth.results:
                self._visit(p.type, seen)
            for r in meth.raises:
                key = (r.module, r.name)
                if key not in self.errors:
                    self.errors.append(key)
        # Local names first, as written; imported ones take their module's
        # name in front when the plain one is taken.
        taken = {self.iface.name}
        for key in self.order + self.errors:
            if key[0] == self.mod.name:
                self.names[key] = key[1]
                taken.add(key[1])
        for key in self.order + self.errors:
            if key in self.names:
                continue
            name = key[1]
            if name in taken:
                name = key[0].title().replace("_", "") + key[1]
            while name in taken:
                name += "_"
            self.names[key] = name
            taken.add(name)

    def type(self, t: m.Type) -> str:
        if isinstance(t, m.Primitive):
            return t.name + (f" @max({t.max})" if t.max is not None
                             else "") + (f" @kind({t.kind})"
                                         if t.kind is not None else "")
        if isinstance(t, m.Array):
            size = "" if t.size is None else str(t.size)
            bound = f" @max({t.max})" if t.max is not None else ""
            return f"{self.type(t.element)}[{size}]{bound}"
        if isinstance(t, m.Optional_):
            return f"optional {self.type(t.inner)}"
        if isinstance(t, m.Map):
            bound = f" @max({t.max})" if t.max is not None else ""
            return f"map<{self.type(t.key)}, {self.type(t.value)}>{bound}"
        return self.names[(t.module, t.name)]

    @staticmethod
    def _since(since: int) -> str:
        return f"@since({since}) " if since > 1 else ""

    def decl(self, key: Tuple[str, str]) -> List[str]:
        d = self.model.module(key[0]).decl(key[1])
        name = self.names[key]
        out = _doc(d.doc, "")
        if isinstance(d, m.Enum):
            out.append(f"enum {name} : {d.base.name} {{")
            for mem in d.members:
                out += _doc(mem.doc, "    ")
                out.append(f"    {self._since(mem.since)}{mem.name} = "
                           f"{mem.value},")
        elif isinstance(d, m.ErrorDecl):
            out.append(f"error {name} {{")
            for mem in d.codes:
                out += _doc(mem.doc, "    ")
                out.append(f"    {mem.name} = {mem.value},")
        else:
            if isinstance(d, m.Struct):
                out.append(f"struct {name} {{")
                members = d.fields
            else:
                out.append(f"union {name} : {d.tag.name} {{")
                members = d.cases
            for f in members:
                out += _doc(f.doc, "    ")
                removed = "@removed " if getattr(f, "removed", False) \
                    else ""
                out.append(f"    {self._since(f.since)}{removed}"
                           f"{self.type(f.type)} {f.name} @{f.ordinal};")
        out.append("}")
        return out

    def params(self, params: Tuple[m.Param, ...], since: int) -> str:
        # A parameter is as old as its method unless it says otherwise.
        return ", ".join(
            f"{self._since(p.since) if p.since > since else ''}"
            f"{self.type(p.type)} {p.name}" for p in params)

    def text(self) -> str:
        self.collect()
        i = self.iface
        out = [f"/// {self.mod.name}.{i.name}, as its server was built "
               f"with it.", f"module {self.mod.name};", ""]
        for key in self.order + self.errors:
            out += self.decl(key)
            out.append("")
        out += _doc(i.doc, "")
        version = f" @version({i.version})" if i.version > 1 else ""
        out.append(f"interface {i.name}{version} {{")
        for meth in i.methods:
            out += _doc(meth.doc, "    ")
            head = self._since(meth.since)
            if meth.deprecated:
                head += "@deprecated "
            # Each method's own policy, the interface's folded in: what
            # the server checks, shown to whoever introspects it.
            if meth.access:
                head += f"@access({meth.access}) "
            if meth.kind not in ("call", "stream"):
                head += meth.kind + " "
            line = f"    {head}{meth.name}({self.params(meth.params, meth.since)})"
            if meth.kind == "stream":
                line += f" -> stream ({self.params(meth.results, meth.since)})"
            elif meth.results:
                line += f" -> ({self.params(meth.results, meth.since)})"
            if meth.raises:
                line += " raises " + ", ".join(
                    self.names[(r.module, r.name)] for r in meth.raises)
            out.append(f"{line} @{meth.ordinal};")
        out.append("}")
        return "\n".join(out) + "\n"


def interface_idl(model: m.Model, mod: m.Module, iface: m.Interface) -> str:
    """``iface`` of ``mod`` as a self-contained IDL file."""
    return _Printer(model, mod, iface).text()
