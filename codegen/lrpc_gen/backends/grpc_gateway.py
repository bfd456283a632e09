"""The ``grpc-gateway`` back end: ``<stem>-grpc-gateway.cc`` (C++).

The gateway between gRPC and lrpc for the main module's interfaces:
conversions between the message classes protoc writes for ``<stem>.proto``
(the ``proto`` back end) and the C structs of the C back ends, in both
directions, and per interface an export part (a gRPC callback service
whose calls become lrpc calls) and an import part (an lrpc dispatch table
whose handlers forward to a gRPC stub).  The program around it is the
runtime part in ``gateway/`` (lrpc/grpc-gateway.hh), which finds the
module through the registration at the end of the file.

Every value that comes from gRPC is checked before it reaches a C struct:
integers narrower than proto's against their IDL range, enum numbers
(``<ENUM>_UNSPECIFIED`` included) against the IDL enum, fixed array
lengths, ``@max`` on strings, bytes, lists and maps, strings for NUL and
UTF-8, and that a union's ``oneof`` is set (docs/idl.md, "gRPC
(.proto)").  The runtime's encoder checks again when the C struct is sent.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set

from .. import model as m
from . import Context, banner
from . import c_common
from .proto import INT32, _Module as _ProtoModule, camel, field_number

DESCRIPTION = "C++ gateway between gRPC (the proto back end's messages) " \
    "and lrpc, both directions"

# protoc's C++ generator appends "_" to names that are C++ keywords.
_CPP_KEYWORDS = frozenset("""
NULL alignas alignof and and_eq asm auto bitand bitor bool break case catch
char class compl const constexpr const_cast continue decltype default delete
do double dynamic_cast else enum explicit export extern false float for
friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register
reinterpret_cast return short signed sizeof static static_assert
static_cast struct switch template this thread_local throw true try typedef
typeid typename union unsigned using virtual void volatile wchar_t while xor
xor_eq char8_t char16_t char32_t concept consteval constinit co_await
co_return co_yield requires
""".split())

_NARROW = {"i8": (-128, 127), "i16": (-32768, 32767),
           "u8": (0, 255), "u16": (0, 65535)}


def accessor(name: str) -> str:
    """protoc's C++ accessor of a field: lower case, "_" after a keyword."""
    low = name.lower()
    return low + "_" if low in _CPP_KEYWORDS else low


def case_constant(name: str) -> str:
    """protoc's oneof case enumerator of a field: ``k`` + CamelCase."""
    out, cap = [], True
    for ch in name:
        if "a" <= ch <= "z":
            out.append(ch.upper() if cap else ch)
            cap = False
        elif "A" <= ch <= "Z":
            out.append(ch)
            cap = False
        elif "0" <= ch <= "9":
            out.append(ch)
            cap = True
        else:
            cap = True
    return "k" + "".join(out)


def cpp_name(name: str) -> str:
    return name + "_" if name in _CPP_KEYWORDS else name


class _Gen:
    def __init__(self, model: m.Model, ctx: Context) -> None:
        self.model = model
        self.mod = model.main
        self.ctx = ctx
        self.n = 0
        self.put_done: Set[str] = set()
        self.get_done: Set[str] = set()
        self.enum_done: Set[str] = set()
        self.funcs: List[str] = []       # converter definitions
        self.protos: List[str] = []      # their declarations

    # --- names ----------------------------------------------------------

    def var(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def pmsg(self, module: str, name: str) -> str:
        """The C++ class of a proto message or enum."""
        return f"::{cpp_name(module)}::{cpp_name(name)}"

    def enum_fits(self, e: m.Enum) -> bool:
        return all(INT32[0] <= v <= INT32[1] for v in e.values)

    def helper_class(self, t: m.Type) -> str:
        """The helper message ``single()`` names for a nested type."""
        pm = _ProtoModule(self.model, self.mod)
        return f"::{cpp_name(self.mod.name)}::{pm.single(t)}"

    def is_message(self, t: m.Type) -> bool:
        if isinstance(t, m.Ref):
            return t.kind in ("struct", "union")
        return isinstance(t, (m.Array, m.Map))

    def c_elem(self, t: m.Type) -> str:
        return c_common.c_type(t)

    def has_fd(self, params, seen=None) -> bool:
        """Whether an fd is anywhere in ``params`` (types, recursively)."""
        seen = set() if seen is None else seen

        def walk(t: m.Type) -> bool:
            if isinstance(t, m.Primitive):
                return t.name == "fd"
            if isinstance(t, m.Array):
                return walk(t.element)
            if isinstance(t, m.Optional_):
                return walk(t.inner)
            if isinstance(t, m.Map):
                return walk(t.key) or walk(t.value)
            key = (t.module, t.name)
            if key in seen:
                return False
            seen.add(key)
            d = self.model.lookup(t)
            if isinstance(d, m.Struct):
                return any(walk(f.type) for f in d.fields if not f.removed)
            if isinstance(d, m.Union_):
                return any(walk(c.type) for c in d.cases)
            return False
        return any(walk(p.type) for p in params)

    # --- C -> proto -----------------------------------------------------

    def put_field(self, out: List[str], ind: str, t: m.Type, src: str,
                  msg: str, acc: str) -> None:
        """Store C value ``src`` into field ``acc`` of ``*msg``."""
        if isinstance(t, m.Array):
            i = self.var("i")
            count = str(t.size) if t.size is not None else f"({src}).count"
            item = f"({src})[{i}]" if t.size is not None \
                else f"({src}).items[{i}]"
            out.append(f"{ind}for (size_t {i} = 0; {i} < {count}; {i}++) {{")
            self.put_single(out, ind + "\t", t.element, item,
                            ("add", msg, acc))
            out.append(f"{ind}}}")
            return
        if isinstance(t, m.Map):
            i, mp = self.var("i"), self.var("map")
            out.append(f"{ind}auto *{mp} = {msg}->mutable_{acc}();")
            out.append(f"{ind}for (size_t {i} = 0; {i} < ({src}).count; "
                       f"{i}++) {{")
            key = f"({src}).keys[{i}]"
            out.append(f"{ind}\tauto &{mp}v = (*{mp})[{self.key_to_proto(t.key, key)}];")
            self.put_single(out, ind + "\t", t.value, f"({src}).values[{i}]",
                            ("ref", f"{mp}v"))
            out.append(f"{ind}}}")
            return
        if isinstance(t, m.Optional_):
            inner = t.inner
            if isinstance(inner, m.Primitive) and inner.name == "string":
                out.append(f"{ind}if ({src})")
                out.append(f"{ind}\t{msg}->set_{acc}({src});")
                return
            out.append(f"{ind}if ({src}) {{")
            self.put_single(out, ind + "\t", inner, f"(*{src})",
                            ("field", msg, acc))
            out.append(f"{ind}}}")
            return
        self.put_single(out, ind, t, src, ("field", msg, acc))

    def key_to_proto(self, t: m.Type, key: str) -> str:
        if isinstance(t, m.Primitive) and t.name == "string":
            return f"std::string({key})"
        return key

    def put_single(self, out: List[str], ind: str, t: m.Type, src: str,
                   tgt: tuple) -> None:
        def setv(v: str) -> None:
            if tgt[0] == "field":
                out.append(f"{ind}{tgt[1]}->set_{tgt[2]}({v});")
            elif tgt[0] == "add":
                out.append(f"{ind}{tgt[1]}->add_{tgt[2]}({v});")
            else:
                out.append(f"{ind}{tgt[1]} = {v};")

        def ptr() -> str:
            if tgt[0] == "field":
                return f"{tgt[1]}->mutable_{tgt[2]}()"
            if tgt[0] == "add":
                return f"{tgt[1]}->add_{tgt[2]}()"
            return f"&{tgt[1]}"

        if isinstance(t, m.Primitive):
            if t.name == "string":
                setv(f"lrpc_grpc::cstr({src})")
            elif t.name == "bytes":
                setv(f"lrpc_grpc::bytes_string({src})")
            else:
                setv(src)
            return
        if isinstance(t, m.Ref):
            d = self.model.lookup(t)
            if isinstance(d, m.Enum):
                if self.enum_fits(d):
                    setv(f"static_cast<{self.pmsg(t.module, t.name)}>"
                         f"({src})")
                else:
                    setv(src)
                return
            self.need_put(t)
            out.append(f"{ind}put_{self.token(t)}({src}, {ptr()});")
            return
        # A nested collection or optional: a helper message.
        h = self.var("h")
        out.append(f"{ind}{{")
        out.append(f"{ind}\tauto *{h} = {ptr()};")
        acc = {m.Array: "items", m.Map: "entries",
               m.Optional_: "value"}[type(t)]
        self.put_field(out, ind + "\t", t, src, h, acc)
        out.append(f"{ind}}}")

    # --- proto -> C -----------------------------------------------------

    def get_field(self, out: List[str], ind: str, t: m.Type, msg: str,
                  acc: str, dst: str, what: str) -> None:
        """Check field ``acc`` of ``msg`` (a const reference) and store it
        into the C lvalue ``dst``; ``return false`` on a broken rule."""
        if isinstance(t, m.Array):
            n, i = self.var("n"), self.var("i")
            out.append(f"{ind}size_t {n} = (size_t){msg}.{acc}_size();")
            if t.size is not None:
                out.append(f"{ind}if ({n} != {t.size})")
                out.append(f'{ind}\treturn cv.fail("{what}: {t.size} '
                           f'elements expected");')
                out.append(f"{ind}for (size_t {i} = 0; {i} < {n}; {i}++) {{")
                self.get_single(out, ind + "\t", t.element,
                                f"{msg}.{acc}({i})", f"({dst})[{i}]", what)
                out.append(f"{ind}}}")
                return
            if t.max is not None:
                out.append(f"{ind}if ({n} > {t.max}u)")
                out.append(f'{ind}\treturn cv.fail("{what}: more than '
                           f'{t.max} elements");')
            arr = self.var("items")
            ct = self.c_elem(t.element)
            out.append(f"{ind}{ct} *{arr};")
            out.append(f"{ind}if (!cv.alloc(&{arr}, {n}))")
            out.append(f"{ind}\treturn false;")
            out.append(f"{ind}for (size_t {i} = 0; {i} < {n}; {i}++) {{")
            self.get_single(out, ind + "\t", t.element, f"{msg}.{acc}({i})",
                            f"{arr}[{i}]", what)
            out.append(f"{ind}}}")
            out.append(f"{ind}({dst}).items = {arr};")
            out.append(f"{ind}({dst}).count = {n};")
            return
        if isinstance(t, m.Map):
            n, i = self.var("n"), self.var("i")
            keys, vals = self.var("keys"), self.var("vals")
            out.append(f"{ind}size_t {n} = (size_t){msg}.{acc}().size();")
            if t.max is not None:
                out.append(f"{ind}if ({n} > {t.max}u)")
                out.append(f'{ind}\treturn cv.fail("{what}: more than '
                           f'{t.max} entries");')
            out.append(f"{ind}{self.c_elem(t.key)} *{keys};")
            out.append(f"{ind}{self.c_elem(t.value)} *{vals};")
            out.append(f"{ind}if (!cv.alloc(&{keys}, {n}) || "
                       f"!cv.alloc(&{vals}, {n}))")
            out.append(f"{ind}\treturn false;")
            # Keys in order, so that equal maps give equal C values.
            e = self.var("e")
            out.append(f"{ind}size_t {i} = 0;")
            out.append(f"{ind}for (const auto *{e} : "
                       f"lrpc_grpc::sorted_entries({msg}.{acc}())) {{")
            self.get_single(out, ind + "\t", t.key, f"{e}->first",
                            f"{keys}[{i}]", what + " key")
            self.get_single(out, ind + "\t", t.value, f"{e}->second",
                            f"{vals}[{i}]", what)
            out.append(f"{ind}\t{i}++;")
            out.append(f"{ind}}}")
            out.append(f"{ind}({dst}).keys = {keys};")
            out.append(f"{ind}({dst}).values = {vals};")
            out.append(f"{ind}({dst}).count = {n};")
            return
        if isinstance(t, m.Optional_):
            inner = t.inner
            out.append(f"{ind}if ({msg}.has_{acc}()) {{")
            if isinstance(inner, m.Primitive) and inner.name == "string":
                self.get_single(out, ind + "\t", inner, f"{msg}.{acc}()",
                                dst, what)
            else:
                p = self.var("p")
                out.append(f"{ind}\t{self.c_elem(inner)} *{p};")
                out.append(f"{ind}\tif (!cv.alloc(&{p}, 1))")
                out.append(f"{ind}\t\treturn false;")
                self.get_single(out, ind + "\t", inner, f"{msg}.{acc}()",
                                f"(*{p})", what)
                out.append(f"{ind}\t{dst} = {p};")
            out.append(f"{ind}}} else {{")
            out.append(f"{ind}\t{dst} = NULL;")
            out.append(f"{ind}}}")
            return
        self.get_single(out, ind, t, f"{msg}.{acc}()", dst, what)

    def get_single(self, out: List[str], ind: str, t: m.Type, src: str,
                   dst: str, what: str) -> None:
        if isinstance(t, m.Primitive):
            if t.name == "string":
                mx = t.max if t.max is not None else 0
                out.append(f'{ind}if (!cv.str({src}, {mx}u, &{dst}, "{what}"))')
                out.append(f"{ind}\treturn false;")
            elif t.name == "bytes":
                mx = t.max if t.max is not None else 0
                out.append(f'{ind}if (!cv.bytes({src}, {mx}u, &{dst}, "{what}"))')
                out.append(f"{ind}\treturn false;")
            elif t.name == "fd":
                # Never reached: methods with fds have no converters.
                out.append(f'{ind}return cv.fail("{what}: an fd cannot '
                           f'cross hosts");')
            elif t.name in _NARROW:
                self.ranged(out, ind, t.name, src, dst, what)
            else:
                out.append(f"{ind}{dst} = {src};")
            return
        if isinstance(t, m.Ref):
            d = self.model.lookup(t)
            if isinstance(d, m.Enum):
                self.need_enum(t, d)
                v = self.var("v")
                out.append(f"{ind}int64_t {v} = (int64_t){src};")
                out.append(f"{ind}if (!valid_{self.token(t)}({v}))")
                out.append(f'{ind}\treturn cv.fail("{what}: not a value of '
                           f'{t.module}.{t.name}");')
                out.append(f"{ind}{dst} = ({d.c_name}){v};")
                return
            self.need_get(t)
            out.append(f"{ind}if (!get_{self.token(t)}(cv, {src}, &{dst}))")
            out.append(f"{ind}\treturn false;")
            return
        h = self.var("h")
        out.append(f"{ind}{{")
        out.append(f"{ind}\tconst auto &{h} = {src};")
        acc = {m.Array: "items", m.Map: "entries",
               m.Optional_: "value"}[type(t)]
        self.get_field(out, ind + "\t", t, h, acc, dst, what)
        out.append(f"{ind}}}")

    def ranged(self, out: List[str], ind: str, prim: str, src: str,
               dst: str, what: str) -> None:
        lo, hi = _NARROW[prim]
        v = self.var("v")
        out.append(f"{ind}int64_t {v} = (int64_t){src};")
        out.append(f"{ind}if ({v} < {lo} || {v} > {hi})")
        out.append(f'{ind}\treturn cv.fail("{what}: out of the range of '
                   f'{prim}");')
        ct = c_common.c_type(m.Primitive(prim))
        out.append(f"{ind}{dst} = ({ct}){v};")

    # --- named types ----------------------------------------------------

    def token(self, t: m.Ref) -> str:
        return t.c_name

    def need_enum(self, t: m.Ref, d: m.Enum) -> None:
        tok = self.token(t)
        if tok in self.enum_done:
            return
        self.enum_done.add(tok)
        lines = [f"static bool valid_{tok}(int64_t v)", "{",
                 "\tswitch (v) {"]
        for mem in sorted(d.members, key=lambda x: x.value):
            lines.append(f"\tcase {_int64(mem.value)}:")
        if d.members:
            lines.append("\t\treturn true;")
        lines += ["\tdefault:", "\t\treturn false;", "\t}", "}", ""]
        self.protos.append(f"static bool valid_{tok}(int64_t v);")
        self.funcs.extend(lines)

    def need_put(self, t: m.Ref) -> None:
        tok = self.token(t)
        if tok in self.put_done:
            return
        self.put_done.add(tok)
        d = self.model.lookup(t)
        cls = self.pmsg(t.module, t.name)
        self.protos.append(f"static void put_{tok}(const {d.c_name} &in, "
                           f"{cls} *out);")
        body: List[str] = []
        if isinstance(d, m.Struct):
            for f in d.fields:
                if f.removed:
                    continue
                self.put_field(body, "\t", f.type, f"in.{f.c_name}", "out",
                               accessor(f.name))
        else:
            assert isinstance(d, m.Union_)
            body.append("\tswitch (in.tag) {")
            for c in d.cases:
                body.append(f"\tcase {c.ordinal}: {{")
                inner: List[str] = []
                self.put_single(inner, "\t\t", c.type, f"in.u.{c.c_name}",
                                ("field", "out", accessor(c.name)))
                body.extend(inner)
                body.append("\t\tbreak;")
                body.append("\t}")
            body.append("\tdefault:")
            body.append("\t\tbreak;")
            body.append("\t}")
        unused = "" if body else "\t(void)in;\n\t(void)out;"
        self.funcs.append(f"static void put_{tok}(const {d.c_name} &in, "
                          f"{cls} *out)")
        self.funcs.append("{")
        if unused:
            self.funcs.append(unused)
        self.funcs.extend(body)
        self.funcs.append("}")
        self.funcs.append("")

    def need_get(self, t: m.Ref) -> None:
        tok = self.token(t)
        if tok in self.get_done:
            return
        self.get_done.add(tok)
        d = self.model.lookup(t)
        cls = self.pmsg(t.module, t.name)
        self.protos.append(f"static bool get_{tok}(lrpc_grpc::Conv &cv, "
                           f"const {cls} &in, {d.c_name} *out);")
        body: List[str] = []
        qual = f"{t.module}.{t.name}"
        if isinstance(d, m.Struct):
            for f in d.fields:
                if f.removed:
                    continue
                self.get_field(body, "\t", f.type, "in", accessor(f.name),
                               f"out->{f.c_name}", f"{qual}.{f.name}")
        else:
            assert isinstance(d, m.Union_)
            names = {c.name for c in d.cases}
            oneof = "lrpc_value" if "value" in names else "value"
            body.append(f"\tswitch (in.{accessor(oneof)}_case()) {{")
            for c in d.cases:
                body.append(f"\tcase {cls}::{case_constant(c.name)}: {{")
                body.append(f"\t\tout->tag = {c.ordinal};")
                inner: List[str] = []
                self.get_single(inner, "\t\t", c.type,
                                f"in.{accessor(c.name)}()",
                                f"out->u.{c.c_name}", f"{qual}.{c.name}")
                body.extend(inner)
                body.append("\t\tbreak;")
                body.append("\t}")
            body.append("\tdefault:")
            body.append(f'\t\treturn cv.fail("{qual}: no case set");')
            body.append("\t}")
        self.funcs.append(f"static bool get_{tok}(lrpc_grpc::Conv &cv, "
                          f"const {cls} &in, {d.c_name} *out)")
        self.funcs.append("{")
        self.funcs.append("\t(void)cv;")
        if not body:
            self.funcs.append("\t(void)in;\n\t(void)out;")
        self.funcs.extend(body)
        self.funcs.append("\treturn true;")
        self.funcs.append("}")
        self.funcs.append("")

    # --- requests, replies, events --------------------------------------

    def layout_put(self, name: str, layout: str, cls: str,
                   params: tuple) -> None:
        body: List[str] = []
        for p in params:
            self.put_field(body, "\t", p.type, f"in->{p.c_name}", "out",
                           accessor(p.name))
        self.funcs.append(f"static void {name}(const void *in_, "
                          f"::google::protobuf::Message *out_)")
        self.funcs.append("{")
        if body:
            self.funcs.append(f"\tconst struct {layout} *in = "
                              f"(const struct {layout} *)in_;")
            self.funcs.append(f"\t{cls} *out = static_cast<{cls} *>(out_);")
        else:
            self.funcs.append("\t(void)in_;\n\t(void)out_;")
        self.funcs.extend(body)
        self.funcs.append("}")
        self.funcs.append("")

    def layout_get(self, name: str, layout: str, cls: str, params: tuple,
                   what: str) -> None:
        body: List[str] = []
        for p in params:
            self.get_field(body, "\t", p.type, "in", accessor(p.name),
                           f"out->{p.c_name}", f"{what}.{p.name}")
        self.funcs.append(f"static bool {name}(lrpc_grpc::Conv &cv, "
                          f"const ::google::protobuf::Message &in_, "
                          f"void *out_)")
        self.funcs.append("{")
        self.funcs.append("\t(void)cv;")
        if body:
            self.funcs.append(f"\tconst {cls} &in = "
                              f"static_cast<const {cls} &>(in_);")
            self.funcs.append(f"\tstruct {layout} *out = "
                              f"(struct {layout} *)out_;")
        else:
            self.funcs.append("\t(void)in_;\n\t(void)out_;")
        self.funcs.extend(body)
        self.funcs.append("\treturn true;")
        self.funcs.append("}")
        self.funcs.append("")

    def render(self) -> str:
        mod = self.mod
        ns = f"::{cpp_name(mod.name)}"
        pm = _ProtoModule(self.model, mod)
        names_all = pm.message_names()
        tables: List[str] = []
        for iface in mod.interfaces:
            names = names_all[iface.name]
            base = iface.names.base
            q = f"{mod.name}.{iface.name}"
            rpc_names = {camel(x.name) for x in iface.methods
                         if x.kind != "event"}
            watch = "Watch"
            while watch in rpc_names:
                watch += "Events"
            events = [x for x in iface.methods if x.kind == "event"]
            rows: List[str] = []
            tramp: List[str] = [
                f"extern const lrpc_grpc::Method {base}__grpc_methods"
                f"[{len(iface.methods)}];", ""]
            for idx, meth in enumerate(iface.methods):
                what = f"{q}.{meth.name}"
                fn = f"{base}_{meth.name}"
                req_layout = meth.names.layout("req")
                if meth.kind not in ("call", "oneway", "event",
                                     "stream") or \
                        self.has_fd(meth.params + meth.results):
                    # A kind the gateway does not forward yet, or fds,
                    # which cannot cross hosts (a number from the network
                    # would name one of the gateway's own fds): no route
                    # (UNIMPLEMENTED) and no import handler (lrpc's
                    # NoSuchMethod), but the row keeps the table's index.
                    rows.append(f"\t{{ {idx}, 0, \"{meth.name}\", NULL, 0, "
                                f"0, 0, NULL, NULL, NULL, NULL, NULL, NULL, "
                                f"NULL, NULL }},")
                    continue
                if meth.kind == "event":
                    ecls = f"{ns}::{names[f'event:{meth.name}']}"
                    self.layout_put(f"{fn}__args_put", req_layout, ecls,
                                    meth.params)
                    self.layout_get(f"{fn}__args_get", req_layout, ecls,
                                    meth.params, what)
                    rows += [
                        f"\t{{ {idx}, LRPC_RPC_EVENT, \"{meth.name}\", "
                        f"NULL, {field_number(meth.ordinal)},",
                        f"\t  sizeof(struct {req_layout}), 0,",
                        f"\t  {fn}__args_put, {fn}__args_get, NULL, NULL,",
                        f"\t  lrpc_grpc::make<{ecls}>, NULL, {fn}__notify, "
                        f"NULL }},"]
                    tramp += [
                        f"static void {fn}__notify(const void *listener, "
                        f"void *userdata, const void *args)",
                        "{",
                        "\t(void)listener;",
                        f"\tlrpc_grpc::notify(&{base}__grpc_methods[{idx}], "
                        f"userdata, args);",
                        "}", ""]
                    continue
                req_cls = f"{ns}::{names[f'req:{meth.name}']}"
                self.layout_put(f"{fn}__req_put", req_layout, req_cls,
                                meth.params)
                self.layout_get(f"{fn}__req_get", req_layout, req_cls,
                                meth.params, what)
                if meth.kind in ("call", "stream"):
                    # A stream's reply layout and message are its item's.
                    rep_cls = f"{ns}::{names[f'rep:{meth.name}']}"
                    rep_layout = meth.names.layout("rep")
                    self.layout_put(f"{fn}__rep_put", rep_layout, rep_cls,
                                    meth.results)
                    self.layout_get(f"{fn}__rep_get", rep_layout, rep_cls,
                                    meth.results, what + "->")
                    rep = (f"sizeof(struct {rep_layout})",
                           f"{fn}__rep_put, {fn}__rep_get",
                           f"lrpc_grpc::make<{rep_cls}>")
                    kind = "LRPC_RPC_CALL" if meth.kind == "call" \
                        else "LRPC_RPC_STREAM"
                else:
                    rep = ("0", "NULL, NULL",
                           "lrpc_grpc::make<::google::protobuf::Empty>")
                    kind = "LRPC_RPC_ONEWAY"
                rows += [
                    f"\t{{ {idx}, {kind}, \"{meth.name}\", "
                    f"\"/{mod.name}.{iface.name}/{camel(meth.name)}\", 0,",
                    f"\t  sizeof(struct {req_layout}), {rep[0]},",
                    f"\t  {fn}__req_put, {fn}__req_get, {rep[1]},",
                    f"\t  lrpc_grpc::make<{req_cls}>, {rep[2]}, NULL, "
                    f"{fn}__invoke }},"]
                tramp += [
                    f"static int {fn}__invoke(lrpc_rpc_call *call, "
                    f"const void *handlers, void *userdata, const void *req, "
                    f"void *rep)",
                    "{",
                    "\t(void)handlers;",
                    "\t(void)rep;",
                    f"\treturn lrpc_grpc::invoke(&{base}__grpc_methods[{idx}], "
                    f"call, userdata, req);",
                    "}", ""]
            tables.extend(tramp)
            tables.append(f"const lrpc_grpc::Method {base}__grpc_methods"
                          f"[{len(iface.methods)}] = {{")
            tables.extend(rows)
            tables.append("};")
            tables.append("")
            tables.append(f"const lrpc_grpc::Interface {base}__grpc = {{")
            tables.append(f"\t&{iface.names.desc}, \"{q}\",")
            if events:
                stream_cls = f"{ns}::{names['stream']}"
                tables.append(f"\t\"/{mod.name}.{iface.name}/{watch}\", "
                              f"lrpc_grpc::make<{stream_cls}>,")
            else:
                tables.append("\tNULL, NULL,")
            tables.append(f"\t{base}__grpc_methods, "
                          f"{len(iface.methods)},")
            tables.append("};")
            tables.append("")

        out = ["// " + banner(self.ctx.source)[3:-3],
               f"// The gRPC gateway of module {mod.name}: conversions "
               f"between {self.ctx.stem}.proto's",
               "// messages and the C structs, and the method tables "
               "(docs/remote.md).",
               "",
               "#include <stddef.h>",
               "#include <stdint.h>",
               "",
               "#include <google/protobuf/empty.pb.h>",
               "#include <lrpc/grpc-gateway.hh>",
               "",
               f'#include "{self.ctx.stem}.pb.h"',
               f'#include "{self.ctx.stem}-types.h"',
               "",
               # Named after the module too, so that the files of several
               # modules that share an import can be one translation unit.
               f"namespace lrpc_grpc_{mod.c_prefix} {{",
               "namespace {",
               ""]
        out.extend(self.protos)
        out.append("")
        out.extend(self.funcs)
        out.extend(tables)
        prefix = mod.c_prefix
        ifaces = ", ".join(f"&{i.names.base}__grpc" for i in mod.interfaces)
        out.append(f"const lrpc_grpc::Interface *const "
                   f"{prefix}__grpc_interfaces[] = {{ "
                   f"{ifaces or 'NULL'} }};")
        out.append("")
        out.append(f"const lrpc_grpc::Registration {prefix}__grpc_module("
                   f"\"{mod.name}\", {prefix}__grpc_interfaces, "
                   f"{len(mod.interfaces)});")
        out.append("")
        out.append("} // namespace")
        out.append(f"}} // namespace lrpc_grpc_{prefix}")
        return "\n".join(out).rstrip("\n") + "\n"


def _int64(v: int) -> str:
    """``v`` as an int64_t constant: a u64 above INT64_MAX as its two's
    complement, which is what the checked value is converted to."""
    if v > (1 << 63) - 1:
        return f"(int64_t)UINT64_C({v})"
    if v == -(1 << 63):
        return "INT64_MIN"
    return f"INT64_C({v})"


def generate(model: m.Model, ctx: Context) -> Dict[str, str]:
    return {f"{ctx.stem}-grpc-gateway.cc": _Gen(model, ctx).render()}
