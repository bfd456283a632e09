"""Hashing: interface ids and the canonical text of each interface version.

The canonical text holds only what matters on the wire (shapes, ordinals,
bounds, enum values, error codes, what each version contains) and no name
but the interface's own, so renaming a field, type or method keeps the
hash.  Peers compare the hash of the lower of their two versions when they
connect (docs/idl.md, "Interface id and hash").  Both numbers are 32-bit
FNV-1a.
"""

from __future__ import annotations

from typing import Sequence

from . import model as m
from .check import Checked


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes of ``text``."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def canonical_type(t: m.Type, version: int, checked: Checked) -> str:
    """Wire-relevant shape of a type as seen by ``version``; names do not
    matter on the wire, so they are left out."""
    if isinstance(t, m.Primitive):
        return t.name + (f"@max({t.max})" if t.max is not None else "")
    if isinstance(t, m.Array):
        size = "" if t.size is None else str(t.size)
        bound = f"@max({t.max})" if t.max is not None else ""
        return f"{canonical_type(t.element, version, checked)}[{size}]{bound}"
    if isinstance(t, m.Optional_):
        return "?" + canonical_type(t.inner, version, checked)
    if isinstance(t, m.Map):
        bound = f"@max({t.max})" if t.max is not None else ""
        return (f"map<{canonical_type(t.key, version, checked)},"
                f"{canonical_type(t.value, version, checked)}>{bound}")
    key = (t.module, t.name)
    if t.kind == "enum":
        e = checked.enums[key]
        values = ",".join(str(v) for v in e.values)
        return f"enum:{e.base.name}{{{values}}}"
    fields = ",".join(
        f"@{f.ordinal}:{canonical_type(f.type, version, checked)}"
        for f in checked.members[key] if f.since <= version)
    if t.kind == "union":
        return f"union:{checked.tags[key].name}{{{fields}}}"
    return f"struct{{{fields}}}"


def canonical(mod: str, iname: str, version: int,
              methods: Sequence[m.Method], checked: Checked) -> str:
    """The text hashed for interface ``mod.iname`` at ``version``."""
    lines = [f"interface {mod}.{iname} {version}"]
    for meth in methods:
        if meth.since > version:
            continue
        params = ",".join(canonical_type(p.type, version, checked)
                          for p in meth.params if p.since <= version)
        results = ",".join(canonical_type(p.type, version, checked)
                           for p in meth.results if p.since <= version)
        codes = sorted({c.value for r in meth.raises
                        for c in checked.errors[(r.module, r.name)].codes})
        lines.append(f"@{meth.ordinal} {meth.kind} ({params})->"
                     f"({results}) raises{{"
                     f"{','.join(str(c) for c in codes)}}}")
    return "\n".join(lines) + "\n"
