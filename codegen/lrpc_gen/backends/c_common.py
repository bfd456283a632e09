"""Shared facts and Jinja2 filters of the C back ends.

Everything that maps IDL types to C (type spellings, declarators, how a
value is passed, descriptor table names) lives here, in Python; the
templates only loop and lay out.  Every C name comes from ``naming.py``
(directly or through the model), where the checker reserves it too; the
templates never build one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .. import model as m
from ..hashing import fnv1a32
from ..idl_text import interface_idl
from ..naming import (anon_desc, case_macro, result_param, snake,
                      type_desc, type_table)
from . import Context, environment

ABI_VERSION = 1

_INT_C = {
    "i8": "int8_t", "i16": "int16_t", "i32": "int32_t", "i64": "int64_t",
    "u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t",
}
_PRIM_C = dict(_INT_C, bool="bool", f32="float", f64="double",
               string="const char *", bytes="lrpc_bytes", fd="int")
_KIND = {
    "bool": "LRPC_RPC_BOOL", "i8": "LRPC_RPC_I8", "i16": "LRPC_RPC_I16",
    "i32": "LRPC_RPC_I32", "i64": "LRPC_RPC_I64", "u8": "LRPC_RPC_U8",
    "u16": "LRPC_RPC_U16", "u32": "LRPC_RPC_U32", "u64": "LRPC_RPC_U64",
    "f32": "LRPC_RPC_F32", "f64": "LRPC_RPC_F64",
    "string": "LRPC_RPC_STRING", "bytes": "LRPC_RPC_BYTES",
    "fd": "LRPC_RPC_FD",
}
_FD_KIND = {"memfd": "LRPC_RPC_FD_MEMFD", "socket": "LRPC_RPC_FD_SOCKET",
            "pipe": "LRPC_RPC_FD_PIPE", "file": "LRPC_RPC_FD_FILE"}
_METHOD_KIND = {
    "call": "LRPC_RPC_CALL", "stream": "LRPC_RPC_STREAM",
    "oneway": "LRPC_RPC_ONEWAY",
    "event": "LRPC_RPC_EVENT",
}


def header_name(stem: str, part: str) -> str:
    return f"{stem}-{part}.h"


def guard(stem: str, part: str) -> str:
    s = "".join(c if c.isalnum() else "_" for c in stem.upper())
    return f"LRPC_GEN_{s}_{part.upper()}_H"


def module_guard(mod: m.Module) -> str:
    """The macro that guards the types of ``mod`` in every header that
    carries them (its own and its importers')."""
    return f"LRPC_GEN_MODULE_{mod.name.upper()}"


# --- C spelling of types ---------------------------------------------------

def _c_int_literal(value: int, base: str) -> str:
    if base in ("u64",):
        return f"UINT64_C({value})"
    if base == "i64":
        if value == -(1 << 63):
            return "(-INT64_C(9223372036854775807) - 1)"
        return f"INT64_C({value})"
    if base == "u32":
        return f"UINT32_C({value})"
    if base == "i32":
        if value == -(1 << 31):
            return "(-INT32_C(2147483647) - 1)"
        return f"INT32_C({value})"
    return f"({value})" if value < 0 else str(value)


def c_string_literal(s: str) -> str:
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif 0x20 <= b < 0x7f and c != "?":
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def const_value(c: m.Const) -> str:
    if c.type.name == "string":
        return c_string_literal(str(c.value))
    if c.type.name == "bool":
        return "true" if c.value else "false"
    return _c_int_literal(int(c.value), c.type.name)


def decl(t: m.Type, name: str) -> str:
    """A C declaration of ``name`` with the storage type of ``t``."""
    if isinstance(t, m.Primitive):
        ct = _PRIM_C[t.name]
        return f"{ct}{name}" if ct.endswith("*") else f"{ct} {name}"
    if isinstance(t, (m.Ref, m.Array, m.Map)):
        # Lists, maps and fixed arrays by their named C type.
        return f"{t.c_name} {name}"
    if isinstance(t, m.Optional_):
        inner = t.inner
        if isinstance(inner, m.Primitive) and inner.name == "string":
            return decl(inner, name)
        return _const(decl(inner, f"*{name}"))
    raise TypeError(t)


def elements_decl(t: m.Type, name: str) -> str:
    """``name`` as a pointer to const elements of type ``t``: the items,
    keys or values of a list or map (``const char *const *keys``)."""
    ct = c_type(t)
    if ct.endswith("*"):
        return f"{ct}const *{name}"
    return f"{_const(ct)} *{name}"


def collection_def(t: m.Collection) -> List[str]:
    """The C definition of a collection's named type, as lines.  Lists and
    maps have exactly the layout of lrpc_list and lrpc_map (the generated
    descriptor file asserts it), which is what the runtime reads."""
    if isinstance(t, m.Map):
        return [f"typedef struct {t.c_name} {{",
                f"\t{elements_decl(t.key, 'keys')};",
                f"\t{elements_decl(t.value, 'values')};",
                "\tsize_t count;",
                f"}} {t.c_name};"]
    if t.size is None:
        return [f"typedef struct {t.c_name} {{",
                f"\t{elements_decl(t.element, 'items')};",
                "\tsize_t count;",
                f"}} {t.c_name};"]
    return [f"typedef {decl(t.element, f'{t.c_name}[{t.size}]')};"]


def layout_asserts(t: m.Collection) -> List[str]:
    """Static assertions that a list or map type has the layout of the
    runtime's generic lrpc_list or lrpc_map (none for fixed arrays)."""
    if isinstance(t, m.Array) and t.size is not None:
        return []
    generic, members = (("lrpc_map", ("keys", "values", "count"))
                        if isinstance(t, m.Map)
                        else ("lrpc_list", ("items", "count")))
    checks = [f"sizeof({t.c_name}) == sizeof({generic})",
              f"_Alignof({t.c_name}) == _Alignof({generic})"]
    checks += [f"offsetof({t.c_name}, {f}) == offsetof({generic}, {f})"
               for f in members]
    lines = [f"_Static_assert({checks[0]} &&"]
    lines += [f"\t       {c} &&" for c in checks[1:-1]]
    lines += [f"\t       {checks[-1]},",
              f'\t       "{t.c_name} must have the layout of {generic}");']
    return lines


def c_type(t: m.Type) -> str:
    """The C spelling of the storage type of ``t`` without a name."""
    return decl(t, "").strip()


def method_kind(meth: m.Method) -> str:
    """The runtime's enumerator for the kind of ``meth``."""
    return _METHOD_KIND[meth.kind]


def access_word(access: m.Access) -> str:
    """The lrpc_rpc_access enumerator for ``access``."""
    return "LRPC_RPC_ACCESS_" + access.word.upper()


def policy_flags(access: m.Access) -> str:
    """lrpc_rpc_policy.flags for ``access``."""
    flags = [f for f, on in (("LRPC_RPC_POLICY_ROOT", access.root),
                              ("LRPC_RPC_POLICY_OWNER", access.owner)) if on]
    return " | ".join(flags) if flags else "0"


@dataclass(frozen=True)
class PolicyTables:
    """An interface's @access policies as C tables: every uid and gid in
    one array, every group name in another, one lrpc_rpc_policy per
    method that has a policy (its slices given as offsets)."""

    ids: Tuple[int, ...]
    groups: Tuple[str, ...]
    # (method name, flags, (uid at, n), (gid at, n), (group at, n))
    policies: Tuple[Tuple[str, str, Tuple[int, int], Tuple[int, int],
                          Tuple[int, int]], ...]
    # Per method: its index in ``policies``, or None (open).
    slots: Tuple[Optional[int], ...]


def policy_tables(iface: m.Interface) -> PolicyTables:
    ids: List[int] = []
    groups: List[str] = []
    policies = []
    slots: List[Optional[int]] = []
    for meth in iface.methods:
        a = meth.access
        if not a:
            slots.append(None)
            continue
        uid_at = len(ids)
        ids.extend(a.uids)
        gid_at = len(ids)
        ids.extend(a.gids)
        group_at = len(groups)
        groups.extend(a.groups)
        slots.append(len(policies))
        policies.append((meth.name, policy_flags(a),
                         (uid_at, len(a.uids)), (gid_at, len(a.gids)),
                         (group_at, len(a.groups))))
    return PolicyTables(tuple(ids), tuple(groups), tuple(policies),
                        tuple(slots))


def array_len(items: Sequence[Any]) -> int:
    """Length of a C table with an entry per item: C has no arrays of
    length 0, so a table for no items gets one unused entry."""
    return max(len(items), 1)


def _const(d: str) -> str:
    return d if d.startswith("const ") else "const " + d


def _is_fixed_array(t: m.Type) -> bool:
    return isinstance(t, m.Array) and t.size is not None


def _is_aggregate(t: m.Type) -> bool:
    return isinstance(t, m.Ref) and t.kind in ("struct", "union")


class Layout(NamedTuple):
    """The request or the reply struct of a method."""

    part: str                       # "req" or "rep", for MethodNames.layout
    params: Tuple[m.Param, ...]
    title: str                      # its name in messages: kv.Store.get()


class CFacts:
    """Per-run facts: descriptor names for every type the module uses."""

    def __init__(self, model: m.Model, ctx: Context) -> None:
        self.model = model
        self.mod = model.main
        self.ctx = ctx
        self.prefix = self.mod.c_prefix.rstrip("_")
        self.anon: Dict[str, Tuple[str, m.Type]] = {}   # key -> (name, type)
        self.anon_order: List[str] = []

    # -- helpers used from templates --------------------------------------
    def in_param(self, t: m.Type, name: str) -> str:
        """How a value is passed in: scalars by value, aggregates by const
        pointer, fixed arrays as const arrays."""
        if _is_aggregate(t):
            return f"const {t.c_name} *{name}"
        if _is_fixed_array(t):
            return _const(decl(t, name))
        return decl(t, name)

    def in_expr(self, t: m.Type, expr: str) -> str:
        """Pass the member ``expr`` of a decoded struct as an in-param."""
        if _is_aggregate(t):
            return f"&{expr}"
        return expr

    def copy_in(self, t: m.Type, dst: str, src: str) -> str:
        """Statement storing in-param ``src`` into member ``dst``."""
        if _is_aggregate(t):
            return f"{dst} = *{src};"
        if _is_fixed_array(t):
            return f"memcpy({dst}, {src}, sizeof({dst}));"
        return f"{dst} = {src};"

    def out_param(self, t: m.Type, name: str) -> str:
        if _is_fixed_array(t):
            return decl(t, name)
        return decl(t, f"*{name}")

    def copy_out(self, t: m.Type, dst: str, src: str) -> str:
        if _is_fixed_array(t):
            return f"memcpy({dst}, {src}, sizeof({src}));"
        return f"*{dst} = {src};"

    def out_expr(self, t: m.Type, expr: str) -> str:
        """Pointer to member ``expr`` given to a handler as out-param."""
        if _is_fixed_array(t):
            return expr
        return f"&{expr}"

    def in_params(self, params: Tuple[m.Param, ...]) -> str:
        return "".join(", " + self.in_param(p.type, p.c_name)
                       for p in params)

    def in_types(self, params: Tuple[m.Param, ...]) -> str:
        return "".join(", " + self.in_param(p.type, "").strip()
                       for p in params)

    def out_params(self, params: Tuple[m.Param, ...]) -> str:
        return "".join(", " + self.out_param(p.type, result_param(p.c_name))
                       for p in params)

    def complete_fn_params(self, meth: m.Method) -> str:
        """Parameters of an async stub's callback.  The results keep their
        names; the status and the error detail get names starting with
        ``lrpc_``, which no result can have."""
        return (f"lrpc_rpc_client *client, int lrpc_status"
                f"{self.in_params(meth.results)}, "
                f"const lrpc_rpc_error *lrpc_error, void *userdata")

    def item_fn_params(self, meth: m.Method) -> str:
        """Parameters of a stream's item callback: the item's results."""
        return (f"lrpc_rpc_client *client{self.in_params(meth.results)}, "
                f"void *userdata")

    def handler_fn_params(self, meth: m.Method) -> str:
        """Parameters of a handler: the IDL parameters in, the results as
        ``ret_*`` out-parameters; a stream's handler gets the stream."""
        if meth.kind == "stream":
            return (f"lrpc_rpc_stream *stream, void *userdata"
                    f"{self.in_params(meth.params)}")
        return (f"lrpc_rpc_call *call, void *userdata"
                f"{self.in_params(meth.params)}"
                f"{self.out_params(meth.results)}")

    def listener_fn_params(self, meth: m.Method) -> str:
        return f"void *userdata{self.in_params(meth.params)}"

    def in_args(self, params: Tuple[m.Param, ...], var: str) -> str:
        return "".join(", " + self.in_expr(p.type, f"{var}->{p.c_name}")
                       for p in params)

    def out_args(self, params: Tuple[m.Param, ...], var: str) -> str:
        return "".join(", " + self.out_expr(p.type, f"{var}->{p.c_name}")
                       for p in params)

    def layouts(self, iface: m.Interface, meth: m.Method) -> List[Layout]:
        """A request for every method; a reply only for calls."""
        base = f"{self.mod.name}.{iface.name}.{meth.name}"
        out = [Layout("req", meth.params, base + "()")]
        if meth.kind in ("call", "stream"):
            out.append(Layout("rep", meth.results, base + "->()"))
        return out

    def needs_arena(self, params: Tuple[m.Param, ...]) -> bool:
        return any(self._var(p.type) for p in params)

    def _var(self, t: m.Type) -> bool:
        if isinstance(t, m.Primitive):
            # Received fds belong to the arena until taken.
            return t.name in ("string", "bytes", "fd")
        if isinstance(t, (m.Optional_, m.Map)):
            return True
        if isinstance(t, m.Array):
            return t.size is None or self._var(t.element)
        d = self.model.lookup(t)
        if isinstance(d, m.Struct):
            return any(self._var(f.type) for f in d.fields)
        if isinstance(d, m.Union_):
            return any(self._var(f.type) for f in d.cases)
        return False

    # -- descriptors --------------------------------------------------------
    def named_desc(self, c_name: str) -> str:
        return type_desc(c_name)

    def desc(self, t: m.Type) -> str:
        """Name of the lrpc_rpc_type describing ``t`` (registering
        anonymous ones for emission)."""
        if isinstance(t, m.Ref):
            return self.named_desc(t.c_name)
        key = "t:" + m.type_text(t, "")
        if key not in self.anon:
            # Register dependencies first so definitions come in order.
            if isinstance(t, m.Array):
                self.desc(t.element)
            elif isinstance(t, m.Optional_):
                self.desc(t.inner)
            elif isinstance(t, m.Map):
                self.desc(t.key)
                self.desc(t.value)
            name = anon_desc(self.prefix, len(self.anon))
            self.anon[key] = (name, t)
            self.anon_order.append(key)
        return self.anon[key][0]

    def anon_defs(self) -> List[Dict[str, Any]]:
        out = []
        for key in self.anon_order:
            name, t = self.anon[key]
            out.append(self._type_init(name, t))
        return out

    def _type_init(self, name: str, t: m.Type) -> Dict[str, Any]:
        size = f"sizeof({c_type(t)})"
        align = f"_Alignof({c_type(t)})"
        items: List[str] = []
        if isinstance(t, m.Primitive):
            items = [f".kind = {_KIND[t.name]}"]
            if t.max is not None:
                items.append(f".max = {t.max}u")
            if t.kind is not None:
                items.append(f".max = {_FD_KIND[t.kind]}")
        elif isinstance(t, m.Array):
            if t.size is None:
                items = [".kind = LRPC_RPC_LIST"]
                if t.max is not None:
                    items.append(f".max = {t.max}u")
            else:
                items = [".kind = LRPC_RPC_ARRAY", f".max = {t.size}u"]
            items.append(f".inner = &{self.desc(t.element)}")
        elif isinstance(t, m.Optional_):
            items = [".kind = LRPC_RPC_OPTIONAL",
                     f".inner = &{self.desc(t.inner)}"]
        elif isinstance(t, m.Map):
            items = [".kind = LRPC_RPC_MAP",
                     f".inner = &{self.desc(t.key)}",
                     f".value = &{self.desc(t.value)}"]
            if t.max is not None:
                items.append(f".max = {t.max}u")
        items[1:1] = [f".size = {size}", f".align = {align}"]
        items.append(f'.name = {c_string_literal(m.type_text(t, ""))}')
        return {"name": name, "init": items}

    def collect(self) -> None:
        """Register every anonymous type the descriptor file needs, up
        front, so that it can declare them before any use: the main
        module's first, then those of the modules it imports, whose
        descriptors it carries too (c_types_c.j2)."""
        self._collect(self.mod)
        for mod in self.model.modules:
            if mod is not self.mod:
                self._collect(mod, interfaces=False)

    def _collect(self, mod: m.Module, interfaces: bool = True) -> None:
        for e in mod.enums:
            self.desc(e.base)
        for st in mod.structs:
            for f in st.fields:
                self.desc(f.type)
        for u in mod.unions:
            self.desc(u.tag)
            for f in u.cases:
                self.desc(f.type)
        for i in mod.interfaces if interfaces else ():
            for meth in i.methods:
                for p in meth.params + meth.results:
                    self.desc(p.type)

    def layout_asserts(self) -> List[str]:
        """The layout assertions of every list and map type the descriptor
        file describes: those of every module it carries."""
        return [a for mod in self.model.modules for t in mod.collections
                for a in layout_asserts(t)]

    def case_macro(self, u: m.Union_, f: m.Field) -> str:
        return case_macro(u.c_name, f.name)

    @staticmethod
    def _by_signed_value(e: m.Enum) -> List[m.Member]:
        """The runtime's binary search sorts u64 values above INT64_MAX
        by their signed view; both tables follow that order."""
        return sorted(e.members, key=lambda x: x.value if x.value < (1 << 63)
                      else x.value - (1 << 64))

    def enum_values(self, e: m.Enum) -> List[str]:
        return [_c_int_literal(x.value if x.value < (1 << 63)
                               else x.value - (1 << 64), "i64")
                for x in self._by_signed_value(e)]

    def enum_versions(self, e: m.Enum) -> List[m.Member]:
        """The enumerators in ``enum_values`` order (the descriptor's
        per-value ``fields``): their versions, and their names, which
        lrpc.Service.describe hands to clients without generated code."""
        return self._by_signed_value(e)

    def member_value(self, mem: m.Member, base: str) -> str:
        return _c_int_literal(mem.value, base)

    @staticmethod
    def form_bodies(iface: m.Interface) -> "FormBodies":
        """The canonical forms of ``iface`` without their first line, each
        distinct body once in one NUL-separated text: versions that added
        nothing share one, so a high version number costs a pointer per
        version, not a copy of the form."""
        offsets: List[int] = []
        at: Dict[str, int] = {}
        parts: List[str] = []
        size = 0
        for text in iface.canonical:
            body = text.split("\n", 1)[1] if "\n" in text else ""
            if body not in at:
                at[body] = size
                parts.append(body)
                size += len(body.encode("utf-8")) + 1
            offsets.append(at[body])
        lines: List[str] = []
        for body in parts:
            chunk = body.splitlines(keepends=True) or [""]
            chunk[-1] += "\0"
            lines.extend(chunk)
        # The array's own terminating NUL ends the last body.
        if lines:
            lines[-1] = lines[-1][:-1]
        return FormBodies(tuple(lines), tuple(offsets))

    @staticmethod
    def deprecated(mod: m.Module, iface: m.Interface, meth: m.Method) -> str:
        """The attribute that makes a compiler warn where a @deprecated
        method or event is used (nothing changes on the wire)."""
        if not meth.deprecated:
            return ""
        return (f'LRPC_DEPRECATED("{mod.name}.{iface.name}.{meth.name} is '
                f'deprecated") ')

    @staticmethod
    def live_fields(fields: Tuple[m.Field, ...]) -> List[m.Field]:
        """The fields with a C member: all but the @removed ones."""
        return [f for f in fields if not f.removed]

    def wire_fields(self, fields: Tuple[m.Field, ...]) -> List[m.Field]:
        return sorted(fields, key=lambda f: (f.since, f.ordinal))


@dataclass(frozen=True)
class FormBodies:
    text_lines: Tuple[str, ...]     # C string pieces, NUL-separated bodies
    offsets: Tuple[int, ...]        # per version: where its body starts


def method_index(iface: m.Interface, meth: m.Method) -> int:
    """The index of ``meth`` in the descriptor table of ``iface``."""
    index = _method_indexes.get(id(iface))
    if index is None or index[0] is not iface:
        index = (iface, {id(x): i for i, x in enumerate(iface.methods)})
        _method_indexes[id(iface)] = index
    return index[1][id(meth)]


# Interface (by id, kept alive with it) -> method (by id) -> index, so
# that finding every method's index is linear, not quadratic.
_method_indexes: Dict[int, Tuple[m.Interface, Dict[int, int]]] = {}


def error_codes(model: m.Model, meth: m.Method) -> List[Tuple[str, str]]:
    out = []
    for ref in meth.raises:
        err = model.lookup(ref)
        for code in err.codes:
            out.append((code.c_name, f"{ref.module}.{err.name}.{code.name}"))
    return out


def render(ctx: Context, model: m.Model, templates: Dict[str, str]
           ) -> Dict[str, str]:
    facts = CFacts(model, ctx)
    facts.collect()
    env = environment(filters={
        "c_decl": decl,
        "c_type": c_type,
        "c_collection_def": collection_def,
        "idl_type": m.type_text,
        "c_method_kind": method_kind,
        "c_access_word": access_word,
        "c_policy_flags": policy_flags,
        "c_array_len": array_len,
        "c_string": c_string_literal,
        "c_const_value": const_value,
        "snake": snake,
        "type_table": type_table,
        "result_param": result_param,
    })
    globals_ = {
        "model": model, "mod": model.main, "facts": facts, "ctx": ctx,
        "abi_version": ABI_VERSION, "m": m,
        "header_name": header_name, "guard": guard,
        "method_index": method_index, "error_codes": error_codes,
        "policy_tables": policy_tables,
        "hex8": lambda v: f"0x{v:08x}",
        "interface_idl": lambda i: interface_idl(model, model.main, i),
    }
    env.tests["collection"] = lambda t: isinstance(t, (m.Array, m.Map))
    sections: Dict[str, str] = {}

    def module_section(tm: m.Module) -> str:
        """The types part of ``tm``'s header, the same text wherever it is
        rendered (it must not depend on the main module)."""
        if tm.name not in sections:
            sections[tm.name] = env.get_template(
                "_module_types_h.j2").render(globals_, tm=tm).rstrip("\n")
        return sections[tm.name]

    hashes: Dict[str, str] = {}

    def module_hash(tm: m.Module) -> str:
        """Headers carrying a module's section compare this in #if, so two
        different versions of one module cannot meet in one program."""
        if tm.name not in hashes:
            hashes[tm.name] = f"0x{fnv1a32(module_section(tm)):08x}u"
        return hashes[tm.name]

    globals_.update({
        "module_section": module_section,
        "module_guard": module_guard,
        "module_hash": module_hash,
        "basename": os.path.basename,
    })
    out = {}
    for fname, tmpl in templates.items():
        out[fname] = env.get_template(tmpl).render(**globals_)
    return out
