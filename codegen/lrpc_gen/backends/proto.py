"""The ``proto`` back end: ``<stem>.proto`` (proto3) for the main module.

The file describes the same interfaces to gRPC: structs and unions as
messages, enums and error codes as enums, one service per interface.  The
rules (field numbers, the zero enum value, collections proto cannot nest,
errors as statuses) are documented in docs/idl.md, "gRPC (.proto)"; the
file repeats the error rules in a comment so it stands on its own.

Imported modules are referred to as ``import "<module>.proto";`` and by
fully qualified names (``.common.Stamp``), so that a declaration of the
importing module can never shadow them; generate each imported IDL file
with this back end too.  Helper messages the mapping needs are named
``Lrpc...``, which no IDL name can be.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Set, Tuple

from .. import model as m
from . import Context

DESCRIPTION = "proto3 file for gRPC: messages, enums and one service per " \
    "interface"

# IDL primitive -> proto3 scalar.  Narrow integers widen: proto has no
# 8 or 16-bit types; the range is checked where messages cross to lrpc.
SCALARS: Dict[str, str] = {
    "bool": "bool",
    "i8": "int32", "i16": "int32", "i32": "int32", "i64": "int64",
    "u8": "uint32", "u16": "uint32", "u32": "uint32", "u64": "uint64",
    "f32": "float", "f64": "double",
    "string": "string", "bytes": "bytes",
    # gRPC carries no fds: an IDL fd is its index among the fds of the
    # lrpc message (docs/idl.md, "gRPC (.proto)").
    "fd": "uint32",
}

INT32 = (-(1 << 31), (1 << 31) - 1)

# Proto reserves field numbers 19000..19999 for its own implementation.
_RESERVED_LO, _RESERVED_HI = 19000, 19999

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def field_number(ordinal: int) -> int:
    """The proto field number of an IDL ordinal (0..65535).

    Proto numbers start at 1, so ordinal + 1; numbers that would fall in
    the range proto reserves (ordinals 18999..19998) and above are moved
    past it by a further 1000, which keeps the mapping one-to-one."""
    n = ordinal + 1
    return n if n < _RESERVED_LO else n + (_RESERVED_HI - _RESERVED_LO + 1)


def camel(name: str) -> str:
    """``get`` -> ``Get``, ``get_snake`` -> ``GetSnake``, ``getSnake`` ->
    ``GetSnake``: rpc and message names in proto style."""
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p)


def upper_snake(name: str) -> str:
    """``KvError`` -> ``KV_ERROR``: the prefix of enum values, which proto
    scopes beside the enum rather than inside it."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    s = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return s.upper()


def _comment(line: str) -> str:
    return _CONTROL.sub(lambda c: f"\\x{ord(c.group()):02x}", line)


class _Module:
    """Renders one module; collects the helper messages it needs."""

    def __init__(self, model: m.Model, mod: m.Module) -> None:
        self.model = model
        self.mod = mod
        self.helpers: Dict[str, List[str]] = {}   # name -> lines, first use
        self.imports: Set[str] = set()
        self.needs_empty = False

    # --- types ----------------------------------------------------------

    def enum_fits(self, e: m.Enum) -> bool:
        return all(INT32[0] <= v <= INT32[1] for v in e.values)

    def ref(self, t: m.Ref) -> str:
        d = self.model.lookup(t)
        if isinstance(d, m.Enum) and not self.enum_fits(d):
            return SCALARS[d.base.name]
        if t.module == self.mod.name:
            return t.name
        self.imports.add(t.module)
        return f".{t.module}.{t.name}"

    def key(self, t: m.Type) -> str:
        """Map keys: proto allows integers and strings, not enums."""
        if isinstance(t, m.Ref):
            d = self.model.lookup(t)
            assert isinstance(d, m.Enum)
            return SCALARS[d.base.name]
        assert isinstance(t, m.Primitive)
        return SCALARS[t.name]

    def single(self, t: m.Type) -> str:
        """A type name usable where proto allows no label: a list element,
        a map value, a oneof member.  Lists, maps and optionals there
        become helper messages."""
        if isinstance(t, m.Primitive):
            return SCALARS[t.name]
        if isinstance(t, m.Ref):
            return self.ref(t)
        if isinstance(t, m.Array):
            inner = self.single(t.element)
            return self.helper(f"LrpcList_{_token(inner)}",
                               f"repeated {inner} items = 1;")
        if isinstance(t, m.Map):
            k, v = self.key(t.key), self.single(t.value)
            return self.helper(f"LrpcMap_{k}_{_token(v)}",
                               f"map<{k}, {v}> entries = 1;")
        assert isinstance(t, m.Optional_)
        inner = self.single(t.inner)
        return self.helper(f"LrpcOptional_{_token(inner)}",
                           self.field_decl(t, "value", 1))

    def helper(self, name: str, field: str) -> str:
        if name not in self.helpers:
            self.helpers[name] = [f"message {name} {{", f"  {field}", "}"]
        return name

    def is_message(self, t: m.Type) -> bool:
        if isinstance(t, m.Ref):
            return t.kind in ("struct", "union")
        return isinstance(t, (m.Array, m.Map))

    def field_decl(self, t: m.Type, name: str, number: int) -> str:
        if isinstance(t, m.Array):
            return f"repeated {self.single(t.element)} {name} = {number};"
        if isinstance(t, m.Map):
            return (f"map<{self.key(t.key)}, {self.single(t.value)}> "
                    f"{name} = {number};")
        if isinstance(t, m.Optional_):
            inner = self.single(t.inner)
            if self.is_message(t.inner):
                # A message field has presence already.
                return f"{inner} {name} = {number};"
            return f"optional {inner} {name} = {number};"
        return f"{self.single(t)} {name} = {number};"

    # --- declarations ---------------------------------------------------

    def doc(self, out: List[str], doc: m.Doc, indent: str) -> None:
        for line in doc:
            out.append(f"{indent}// {_comment(line)}".rstrip())

    def enum(self, out: List[str], name: str, base: str,
             members: Tuple[m.Member, ...], doc: m.Doc) -> None:
        self.doc(out, doc, "")
        prefix = upper_snake(name)
        if not all(INT32[0] <= mem.value <= INT32[1] for mem in members):
            # Proto enum values are int32: such an enum travels as its
            # integer type and its values are only listed.
            out.append(f"// enum {name}: {base}, values outside int32, "
                       f"sent as {SCALARS[base]}:")
            for mem in members:
                out.append(f"//   {mem.name} = {mem.value}")
            return
        out.append(f"enum {name} {{")
        # Proto3 wants the zero value first: the IDL's own if it has one.
        ordered = sorted(members, key=lambda mem: mem.value != 0)
        if not ordered or ordered[0].value != 0:
            names = {mem.name for mem in members}
            zero = "LRPC_UNSPECIFIED" if "UNSPECIFIED" in names \
                else "UNSPECIFIED"
            out.append(f"  // Not a value of the IDL {name}: never sent, "
                       f"refused when received.")
            out.append(f"  {prefix}_{zero} = 0;")
        for mem in ordered:
            self.doc(out, mem.doc, "  ")
            since = f"  // @since({mem.since})" if mem.since != 1 else ""
            out.append(f"  {prefix}_{mem.name} = {mem.value};{since}")
        out.append("}")

    def fields(self, out: List[str], fields: Tuple[m.Field, ...],
               indent: str) -> None:
        for f in fields:
            self.doc(out, f.doc, indent)
            n = field_number(f.ordinal)
            if f.removed:
                out.append(f'{indent}reserved {n}; // was {f.name}')
                continue
            since = f"  // @since({f.since})" if f.since != 1 else ""
            out.append(f"{indent}{self.field_decl(f.type, f.name, n)}"
                       f"{since}")

    def struct(self, out: List[str], s: m.Struct) -> None:
        self.doc(out, s.doc, "")
        if not s.fields:
            out.append(f"message {s.name} {{}}")
            return
        out.append(f"message {s.name} {{")
        self.fields(out, s.fields, "  ")
        out.append("}")

    def union(self, out: List[str], u: m.Union_) -> None:
        self.doc(out, u.doc, "")
        names = {c.name for c in u.cases}
        oneof = "lrpc_value" if "value" in names else "value"
        out.append(f"message {u.name} {{")
        out.append(f"  oneof {oneof} {{")
        for c in u.cases:
            self.doc(out, c.doc, "    ")
            out.append(f"    {self.single(c.type)} {c.name} = "
                       f"{field_number(c.ordinal)};")
        out.append("  }")
        out.append("}")

    # --- interfaces -----------------------------------------------------

    def message_names(self) -> Dict[str, Dict[str, str]]:
        """Per interface, its generated message names by role.

        ``<Method>Request``, ``<Method>Reply``, ``<Method>Item`` (a
        stream), ``<Event>Event`` and
        ``<Interface>Event``; an interface any of whose names is taken by
        a declaration or another interface prefixes them all with its
        own name, so that output depends on the module only."""
        taken = {d.name for g in (self.mod.enums, self.mod.structs,
                                  self.mod.unions, self.mod.errors,
                                  self.mod.interfaces) for d in g}
        plain: Dict[str, Dict[str, str]] = {}
        for i in self.mod.interfaces:
            names: Dict[str, str] = {}
            for meth in i.methods:
                c = camel(meth.name)
                if meth.kind == "event":
                    names[f"event:{meth.name}"] = f"{c}Event"
                else:
                    names[f"req:{meth.name}"] = f"{c}Request"
                    if meth.kind == "call":
                        names[f"rep:{meth.name}"] = f"{c}Reply"
                    elif meth.kind == "stream":
                        names[f"rep:{meth.name}"] = f"{c}Item"
            names["stream"] = f"{i.name}Event"
            plain[i.name] = names
        count: Dict[str, int] = {}
        for names in plain.values():
            for n in set(names.values()):
                count[n] = count.get(n, 0) + 1
        out: Dict[str, Dict[str, str]] = {}
        for i in self.mod.interfaces:
            names = plain[i.name]
            clash = any(count[n] > 1 or n in taken
                        for role, n in names.items() if role != "stream")
            if clash:
                names = {r: n if r == "stream" else i.name + n
                         for r, n in names.items()}
            out[i.name] = names
        return out

    def params(self, out: List[str], name: str,
               params: Tuple[m.Param, ...], since: int, doc: str) -> None:
        out.append(f"// {doc}")
        if not params:
            out.append(f"message {name} {{}}")
            return
        out.append(f"message {name} {{")
        for n, p in enumerate(params, 1):
            mark = f"  // @since({p.since})" if p.since != since else ""
            out.append(f"  {self.field_decl(p.type, p.name, n)}{mark}")
        out.append("}")

    def interface(self, out: List[str], i: m.Interface,
                  names: Dict[str, str]) -> None:
        q = f"{self.mod.name}.{i.name}"
        rpcs: List[str] = []
        events = [meth for meth in i.methods if meth.kind == "event"]
        rpc_names = {camel(meth.name) for meth in i.methods
                     if meth.kind != "event"}
        for meth in i.methods:
            if meth.kind == "event":
                continue
            req = names[f"req:{meth.name}"]
            self.params(out, req, meth.params, meth.since,
                        f"{q}.{meth.name}: parameters")
            out.append("")
            if meth.kind in ("call", "stream"):
                rep = names[f"rep:{meth.name}"]
                self.params(out, rep, meth.results, meth.since,
                            f"{q}.{meth.name}: results" if meth.kind == "call"
                            else f"{q}.{meth.name}: one item of the stream")
                out.append("")
            else:
                self.needs_empty = True
                rep = ".google.protobuf.Empty"
            self.doc(rpcs, meth.doc, "  ")
            if meth.kind == "oneway":
                rpcs.append("  // oneway: the empty reply carries no "
                            "result or error of the call.")
            if meth.since != 1:
                rpcs.append(f"  // @since({meth.since})")
            if meth.access:
                rpcs.append(f"  // @access({meth.access})")
            if meth.raises:
                rpcs.append("  // Raises (status FAILED_PRECONDITION): " +
                            ", ".join(f"{r.module}.{r.name}"
                                      for r in meth.raises))
            # A stream of results is gRPC's server streaming; its end
            # (or typed error) is the call's status.
            stream = "stream " if meth.kind == "stream" else ""
            line = f"  rpc {camel(meth.name)}({req}) returns ({stream}{rep})"
            if meth.deprecated:
                rpcs.append(line + " {")
                rpcs.append("    option deprecated = true;")
                rpcs.append("  }")
            else:
                rpcs.append(line + ";")
        if events:
            stream = names["stream"]
            for meth in events:
                self.params(out, names[f"event:{meth.name}"], meth.params,
                            meth.since, f"{q}.{meth.name}: event")
                out.append("")
            out.append(f"// The events of {q}, one message each.")
            out.append(f"message {stream} {{")
            out.append("  oneof event {")
            for meth in events:
                self.doc(out, meth.doc, "    ")
                since = f"  // @since({meth.since})" \
                    if meth.since != 1 else ""
                out.append(f"    {names[f'event:{meth.name}']} {meth.name} "
                           f"= {field_number(meth.ordinal)};{since}")
            out.append("  }")
            out.append("}")
            out.append("")
            self.needs_empty = True
            watch = "Watch"
            while watch in rpc_names:
                watch += "Events"
            rpcs.append("  // Every event of the interface from now on, "
                        "until the call ends.")
            rpcs.append(f"  rpc {watch}(.google.protobuf.Empty) returns "
                        f"(stream {stream});")
        self.doc(out, i.doc, "")
        out.append(f"// lrpc interface {q} version {i.version}, "
                   f"id 0x{i.id:08x}, hash 0x{i.hash:08x}")
        out.append(f"service {i.name} {{")
        out.extend(rpcs)
        out.append("}")

    def render(self, source: str) -> str:
        mod = self.mod
        body: List[str] = []
        if mod.consts:
            body.append("// Constants (proto has none):")
            for c in mod.consts:
                value = c.value
                if isinstance(value, bool):
                    text = "true" if value else "false"
                elif isinstance(value, str):
                    text = _comment(repr(value))
                else:
                    text = str(value)
                body.append(f"//   {c.type.name} {c.name} = {text}")
            body.append("")
        for d in mod.ordered_types:
            if isinstance(d, m.Enum):
                self.enum(body, d.name, d.base.name, d.members, d.doc)
            elif isinstance(d, m.Struct):
                self.struct(body, d)
            else:
                self.union(body, d)
            body.append("")
        for err in mod.errors:
            self.enum(body, err.name, "i32", err.codes, err.doc)
            body.append("")
        if mod.interfaces:
            body.extend(ERROR_RULES)
            body.append("message LrpcError {")
            body.append('  string name = 1;     // "kv.KvError.NOT_FOUND", '
                        '"lrpc.Timeout", ...')
            body.append("  int32 code = 2;      // the error code, or the "
                        "errno for lrpc.Errno")
            body.append("  string message = 3;")
            body.append("}")
            body.append("")
            names = self.message_names()
            for i in mod.interfaces:
                self.interface(body, i, names[i.name])
                body.append("")
        for lines in self.helpers.values():
            body.extend(lines)
            body.append("")

        out = [f"// Generated by lrpc-gen from {source}. DO NOT EDIT."]
        self.doc(out, mod.doc, "")
        out.append("")
        out.append('syntax = "proto3";')
        out.append("")
        out.append(f"package {mod.name};")
        imports = sorted(f"{name}.proto" for name in self.imports)
        if self.needs_empty:
            imports.insert(0, "google/protobuf/empty.proto")
        if imports:
            out.append("")
            out.extend(f'import "{name}";' for name in imports)
        out.append("")
        while body and body[-1] == "":
            body.pop()
        out.extend(body)
        return "\n".join(out).rstrip("\n") + "\n"


def _token(name: str) -> str:
    """A type name as part of a helper message name."""
    return name.lstrip(".").replace(".", "_")


ERROR_RULES = [
    "// Errors.  A call that fails ends with a gRPC status whose details",
    "// (google.rpc.Status.details) hold one LrpcError naming the lrpc",
    "// error, and whose message is the lrpc message:",
    "//   typed IDL errors (raises)            FAILED_PRECONDITION",
    "//   lrpc.InvalidArgument, a message that breaks an IDL rule",
    "//     (range, enum value, @max, fixed length)  INVALID_ARGUMENT",
    "//   lrpc.NoSuchMethod, lrpc.NewerThanPeer,",
    "//     lrpc.InterfaceMismatch               UNIMPLEMENTED",
    "//   lrpc.Timeout                         DEADLINE_EXCEEDED",
    "//   lrpc.Cancelled                       CANCELLED",
    "//   lrpc.AccessDenied                    PERMISSION_DENIED",
    "//   lrpc.MessageTooLarge                 RESOURCE_EXHAUSTED",
    "//   lrpc.Busy, the service not reachable UNAVAILABLE",
    "//   lrpc.BadMessage                      INTERNAL",
    "//   lrpc.Errno, lrpc.UnknownError        UNKNOWN",
]


def generate(model: m.Model, ctx: Context) -> Dict[str, str]:
    return {f"{ctx.stem}.proto":
            _Module(model, model.main).render(ctx.source)}
