"""The ``model`` back end: a plain-text dump of the checked model.

Golden tests compare this dump, so it shows every computed fact back ends
rely on (C names, ordinals, depths, interface ids and hashes) in a stable,
diff-friendly layout.
"""

from __future__ import annotations

import json
from typing import Dict, List

from .. import model as m
from . import Context

DESCRIPTION = "text dump of the checked model (for tests and review)"


def _doc(out: List[str], doc: m.Doc, indent: str) -> None:
    for line in doc:
        out.append(f"{indent}/// {line}".rstrip())


def _fields(out: List[str], fields: tuple, home: str, indent: str) -> None:
    for f in fields:
        _doc(out, f.doc, indent)
        since = f" since={f.since}" if f.since != 1 else ""
        out.append(f"{indent}@{f.ordinal} {f.name}: "
                   f"{m.type_text(f.type, home)}{since} c={f.c_name}")


def _params(params: tuple, home: str, method_since: int) -> str:
    parts = []
    for p in params:
        since = f" since={p.since}" if p.since != method_since else ""
        parts.append(f"{p.name}: {m.type_text(p.type, home)}{since}")
    return ", ".join(parts)


def dump_module(mod: m.Module) -> List[str]:
    out: List[str] = []
    home = mod.name
    _doc(out, mod.doc, "")
    out.append(f"module {mod.name} file={mod.file} prefix={mod.c_prefix}")
    for name, path in zip(mod.imports, mod.import_files):
        out.append(f"  import {name} file={path}")
    out.append(f"  type-order: {' '.join(mod.type_order) or '-'}")
    out.append(f"  c-order: {' '.join(mod.c_order) or '-'}")
    for t in mod.collections:
        out.append(f"  collection {m.type_text(t, home)} "
                   f"c={t.c_name}")
    for c in mod.consts:
        _doc(out, c.doc, "  ")
        value = json.dumps(c.value, ensure_ascii=False)
        out.append(f"  const {c.name}: {c.type.name} = {value} "
                   f"c={c.c_name}")
    for e in mod.enums:
        _doc(out, e.doc, "  ")
        out.append(f"  enum {e.name}: {e.base.name} c={e.c_name}")
        for mem in e.members:
            _doc(out, mem.doc, "    ")
            out.append(f"    {mem.name} = {mem.value} c={mem.c_name}")
    for s in mod.structs:
        _doc(out, s.doc, "  ")
        out.append(f"  struct {s.name} depth={s.depth} c={s.c_name}")
        _fields(out, s.fields, home, "    ")
    for u in mod.unions:
        _doc(out, u.doc, "  ")
        out.append(f"  union {u.name}: {u.tag.name} depth={u.depth} "
                   f"c={u.c_name}")
        _fields(out, u.cases, home, "    ")
    for err in mod.errors:
        _doc(out, err.doc, "  ")
        out.append(f"  error {err.name} c={err.c_name}")
        for code in err.codes:
            _doc(out, code.doc, "    ")
            out.append(f"    {code.name} = {code.value} c={code.c_name}")
    for i in mod.interfaces:
        _doc(out, i.doc, "  ")
        out.append(f"  interface {i.name} version={i.version} "
                   f"id=0x{i.id:08x} c={i.c_name}")
        for v, h in enumerate(i.hashes, 1):
            out.append(f"    hash v{v}=0x{h:08x}")
        for meth in i.methods:
            _doc(out, meth.doc, "    ")
            kind = "" if meth.kind in ("call", "stream") \
                else meth.kind + " "
            line = f"    @{meth.ordinal} {kind}{meth.name}(" \
                   f"{_params(meth.params, home, meth.since)})"
            if meth.kind == "call":
                line += f" -> ({_params(meth.results, home, meth.since)})"
            elif meth.kind == "stream":
                line += (f" -> stream "
                         f"({_params(meth.results, home, meth.since)})")
            if meth.raises:
                line += " raises " + ", ".join(
                    r.name if r.module == home else f"{r.module}.{r.name}"
                    for r in meth.raises)
            since = f" since={meth.since}" if meth.since != 1 else ""
            member = ""
            if meth.names.member != meth.name:
                member = f" member={meth.names.member}"
            out.append(f"{line}{since} depth={meth.depth} "
                       f"c={meth.names.function}{member}")
        for v, text in enumerate(i.canonical, 1):
            for cl in text.splitlines():
                out.append(f"    canonical v{v}: {cl}")
    return out


def generate(model: m.Model, ctx: Context) -> Dict[str, str]:
    lines = [f"# lrpc-gen model of {ctx.source}"]
    for mod in model.modules:
        lines.append("")
        if mod is not model.main:
            lines.append("# imported")
        lines.extend(dump_module(mod))
    return {f"{ctx.stem}.model": "\n".join(lines) + "\n"}
