"""Hashing: interface ids and the canonical text of each interface version.

The canonical text at version v is the wire at version v and nothing else:
shapes, bounds, enum values and union cases present at v, struct fields and
parameters in the order they travel (fields by (``@since``, ordinal)) with
the version each appeared in -- that version decides which counts a
decoder accepts from an older peer -- methods, and error codes.  It holds
no name but the interface's own, so renaming a field, type or method keeps
the hash.  Peers compare the hash at the version they negotiate (the lower
of their two) when they connect (docs/idl.md, "Interface id and hash").
Both numbers are 32-bit FNV-1a.
"""

from __future__ import annotations

from typing import Protocol, Sequence, Tuple

from . import model as m
from .check import Checked


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes of ``text``."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


class TypeSource(Protocol):
    """Where ``type_shape`` finds the named types: the checker's tables
    while the model is built (hashing), the model once it exists
    (``compat``)."""

    def enum(self, key: Tuple[str, str]) -> m.Enum: ...
    def members(self, key: Tuple[str, str]) -> Sequence[m.Field]: ...
    def tag(self, key: Tuple[str, str]) -> m.Primitive: ...


class _FromChecked:
    def __init__(self, checked: Checked) -> None:
        self.checked = checked

    def enum(self, key: Tuple[str, str]) -> m.Enum:
        return self.checked.enums[key]

    def members(self, key: Tuple[str, str]) -> Sequence[m.Field]:
        return self.checked.members[key]

    def tag(self, key: Tuple[str, str]) -> m.Primitive:
        return self.checked.tags[key]


def type_shape(t: m.Type, version: int, src: TypeSource) -> str:
    """Wire-relevant shape of a type as seen by ``version``; names do not
    matter on the wire, so they are left out."""
    if isinstance(t, m.Primitive):
        return t.name + (f"@max({t.max})" if t.max is not None else "") \
            + (f"@kind({t.kind})" if t.kind is not None else "")
    if isinstance(t, m.Array):
        size = "" if t.size is None else str(t.size)
        bound = f"@max({t.max})" if t.max is not None else ""
        return f"{type_shape(t.element, version, src)}[{size}]{bound}"
    if isinstance(t, m.Optional_):
        return "?" + type_shape(t.inner, version, src)
    if isinstance(t, m.Map):
        bound = f"@max({t.max})" if t.max is not None else ""
        return (f"map<{type_shape(t.key, version, src)},"
                f"{type_shape(t.value, version, src)}>{bound}")
    key = (t.module, t.name)
    if t.kind == "enum":
        e = src.enum(key)
        values = ",".join(str(v) for v in e.values_at(version))
        return f"enum:{e.base.name}{{{values}}}"
    members = [f for f in src.members(key) if f.since <= version]
    if t.kind == "union":
        # A tag selects its case, so only the set of cases matters.
        cases = ",".join(
            f"@{f.ordinal}:{type_shape(f.type, version, src)}"
            for f in members)
        return f"union:{src.tag(key).name}{{{cases}}}"
    fields = ",".join(
        f"@{f.ordinal}v{f.since}:{type_shape(f.type, version, src)}"
        for f in sorted(members, key=lambda f: (f.since, f.ordinal)))
    return f"struct{{{fields}}}"


def canonical_type(t: m.Type, version: int, checked: Checked) -> str:
    """``type_shape`` over the checker's tables."""
    return type_shape(t, version, _FromChecked(checked))


def canonical_params(params: Sequence[m.Param], version: int,
                     checked: Checked) -> str:
    """Parameters travel in source order, each with its version."""
    return ",".join(f"v{p.since}:{canonical_type(p.type, version, checked)}"
                    for p in params if p.since <= version)


def canonical(mod: str, iname: str, version: int,
              methods: Sequence[m.Method], checked: Checked) -> str:
    """The text hashed for interface ``mod.iname`` at ``version``."""
    lines = [f"interface {mod}.{iname} {version}"]
    for meth in methods:
        if meth.since > version:
            continue
        params = canonical_params(meth.params, version, checked)
        results = canonical_params(meth.results, version, checked)
        codes = sorted({c.value for r in meth.raises
                        for c in checked.errors[(r.module, r.name)].codes})
        lines.append(f"@{meth.ordinal} {meth.kind} ({params})->"
                     f"({results}) raises{{"
                     f"{','.join(str(c) for c in codes)}}}")
    return "\n".join(lines) + "\n"
