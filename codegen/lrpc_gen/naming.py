"""IDL names -> C names.

This module is the single source of every C identifier the generator
emits, so the checker can prove up front that none of them collide; back
ends must take their names from here rather than build them in templates.

Rules:
- The module name is the prefix: ``module kv;`` gives ``kv_`` / ``KV_``.
- Types and interfaces: ``kv_`` + snake_case (``Entry`` -> ``kv_entry``).
  A name that already starts with the module name is not prefixed twice
  (``KvError`` -> ``kv_error``, not ``kv_kv_error``).
- Enumerators and error codes: ``KV_<TYPE>_<NAME>`` in upper case.
- Constants: ``KV_<NAME>``.
- Union tag macros: ``KV_<UNION>_<CASE>``.
- Fields and parameters: snake_case, unprefixed (they live in a struct or
  a parameter list); a result is the out-parameter ``ret_<name>``.
- Collections get one named C type per shape and module, made of the
  element's *token* (a primitive's IDL name, a named type's C name without
  the module's own prefix, a collection's name without it, ``opt_`` before
  an optional's): ``Entry[]`` -> ``kv_entry_list``, ``map<string, u32>``
  -> ``kv_string_u32_map``, ``u8[16]`` -> ``kv_u8_array16``,
  ``u32[][]`` -> ``kv_u32_list_list``.  ``@max`` bounds do not change the
  C type, so they do not change the name either.
- Function pointer types of a method: ``kv_store_get_complete_fn`` (the
  async stub's callback), ``kv_store_get_handler_fn`` (a member of the
  handlers struct), ``kv_store_changed_listener_fn`` (a member of the
  events struct).
- Names the generator adds for itself (descriptor tables, request and
  reply layouts, static helpers) are an IDL-derived name plus a ``__``
  suffix; they are made here too and reserved like the others, since a
  name ending in ``_`` could otherwise reach them.  Locals of generated
  functions start with ``lrpc_``, which no IDL name may.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern
    float for goto if inline int long register restrict return short signed
    sizeof static struct switch typedef union unsigned void volatile while
    _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn
    _Static_assert _Thread_local
    alignas alignof bool constexpr false nullptr static_assert thread_local
    true typeof typeof_unqual
""".split())

CXX_KEYWORDS = frozenset("""
    and and_eq asm bitand bitor catch char8_t char16_t char32_t class co_await
    co_return co_yield compl concept consteval constinit const_cast decltype
    delete dynamic_cast explicit export friend mutable namespace new noexcept
    not not_eq operator or or_eq private protected public reinterpret_cast
    requires static_cast template this throw try typeid typename using
    virtual wchar_t xor xor_eq
""".split()) - C_KEYWORDS

# Macros from the C library that a generated header may see; a field or
# parameter with one of these names would be macro-expanded.
C_MACROS = frozenset("""
    errno stdin stdout stderr assert offsetof NULL EOF unix linux major minor
    bool true false
""".split())

# Parameter names the generated stubs and handlers use for themselves; an
# IDL parameter must not take one.
STUB_ARGS = frozenset("""
    client server conn call arena timeout_usec callback userdata ret_error
    call_id reply handlers events
""".split())

# C library names the generated code uses without a prefix: the fixed-size
# integer types (a field or parameter with such a name would change their
# meaning in C++, or hide them from later parameters in C) and the
# functions the stubs call (a parameter would hide them).
C_LIBRARY = frozenset("""
    int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t
    size_t memset memcpy
""".split())

# The token of ``optional T`` inside a collection's name: ``opt_`` + T's.
OPTIONAL_TOKEN = "opt_"

# Descriptors of types without a name: ``<module>__t<N>``, numbered per run.
ANON_DESC = re.compile(r"[a-z][a-z0-9_]*__t[0-9]+")

_BOUNDARY_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")


@functools.lru_cache(maxsize=1 << 16)
def snake(name: str) -> str:
    """``KvError`` -> ``kv_error``, ``HTTPServer`` -> ``http_server``,
    ``getValue`` -> ``get_value``, ``NOT_FOUND`` -> ``not_found``.

    Cached: every name is converted several times (once per C name made
    from it), and the regular expressions dominate a large input's time."""
    s = _BOUNDARY_1.sub(r"\1_\2", name)
    s = _BOUNDARY_2.sub(r"\1_\2", s)
    return s.lower()


def upper(name: str) -> str:
    return snake(name).upper()


@dataclass(frozen=True)
class MethodNames:
    """Every C identifier generated for one method or event."""

    function: str          # kv_store_get (sync stub) / event emitter base
    async_function: str    # kv_store_get_async
    reply: str             # kv_store_get_reply (deferred reply)
    reply_error: str       # kv_store_get_reply_error
    emit: str              # kv_store_emit_changed (events)
    broadcast: str         # kv_store_broadcast_changed (events)
    since_macro: str       # KV_STORE_GET_SINCE_VERSION
    ordinal_macro: str     # KV_STORE_GET_ORDINAL
    member: str            # handler/listener struct member: get, delete_
    complete_fn: str       # kv_store_get_complete_fn (async callback type)
    handler_fn: str        # kv_store_get_handler_fn (handlers member type)
    listener_fn: str       # kv_store_changed_listener_fn (events member)
    # Streams: kv_store_list_open/_next/_close (sync iterator),
    # kv_store_list_item_fn/_end_fn (async callbacks), and on the server
    # kv_store_list_send/_end/_fail.
    open: str
    next: str
    close: str
    item_fn: str
    end_fn: str
    send: str
    end: str
    fail: str

    def all(self, kind: str) -> Tuple[str, ...]:
        """The public C names of a method of ``kind``."""
        if kind == "event":
            return (self.emit, self.broadcast, self.since_macro,
                    self.ordinal_macro, self.listener_fn)
        if kind == "oneway":
            return (self.function, self.since_macro, self.ordinal_macro,
                    self.handler_fn)
        if kind == "stream":
            return (self.function, self.async_function, self.open,
                    self.next, self.close, self.send, self.end, self.fail,
                    self.since_macro, self.ordinal_macro, self.item_fn,
                    self.end_fn, self.handler_fn)
        return (self.function, self.async_function, self.reply,
                self.reply_error, self.since_macro, self.ordinal_macro,
                self.complete_fn, self.handler_fn)

    # Names private to the generated code.  ``part`` is "req" (request
    # layout, or an event's arguments) or "rep" (reply layout).
    def layout(self, part: str) -> str:
        """Struct tag of the request or reply: kv_store_get__req."""
        return f"{self.function}__{part}"

    def layout_fields(self, part: str) -> str:
        return f"{self.function}__{part}__fields"

    def layout_desc(self, part: str) -> str:
        return f"{self.function}__{part}__type"

    @property
    def errors(self) -> str:
        return self.function + "__errors"      # raised codes, for messages

    @property
    def complete(self) -> str:
        return self.function + "__complete"    # async reply trampoline

    @property
    def invoke(self) -> str:
        return self.function + "__invoke"      # server dispatch to handler

    @property
    def item(self) -> str:
        return self.function + "__item"        # stream item trampoline

    @property
    def notify(self) -> str:
        return self.function + "__notify"      # client event delivery

    def roles(self, kind: str) -> Tuple[Tuple[str, str], ...]:
        """Every C name of a method of ``kind`` with what it is; the
        checker reserves them all."""
        what = {self.function: "stub", self.async_function: "async stub",
                self.reply: "reply function",
                self.reply_error: "reply_error function",
                self.emit: "emit function",
                self.broadcast: "broadcast function",
                self.since_macro: "since-version macro",
                self.ordinal_macro: "ordinal macro",
                self.complete_fn: "callback type",
                self.handler_fn: "handler type",
                self.listener_fn: "listener type",
                self.open: "open function", self.next: "next function",
                self.close: "close function",
                self.item_fn: "item callback type",
                self.end_fn: "end callback type",
                self.send: "send function", self.end: "end function",
                self.fail: "fail function"}
        return tuple((c, what[c]) for c in self.all(kind)) + tuple(
            (c, "internal") for c in self.internal(kind))

    def internal(self, kind: str) -> Tuple[str, ...]:
        """The private C names of a method of ``kind``."""
        req = (self.layout("req"), self.layout_fields("req"),
               self.layout_desc("req"))
        if kind == "event":
            return req + (self.notify,)
        if kind == "oneway":
            return req + (self.invoke,)
        rep = (self.layout("rep"), self.layout_fields("rep"),
               self.layout_desc("rep"), self.errors, self.complete,
               self.invoke)
        if kind == "stream":
            return req + rep + (self.item,)
        return req + rep


@dataclass(frozen=True)
class InterfaceNames:
    base: str              # kv_store
    handlers: str          # struct kv_store_handlers
    events: str            # struct kv_store_events (client listener)
    serve: str             # kv_store_serve()
    listen: str            # kv_store_listen() (client: register events)
    id_macro: str          # KV_STORE_INTERFACE_ID
    version_macro: str     # KV_STORE_VERSION
    hash_macro: str        # KV_STORE_HASH

    def all(self) -> Tuple[str, ...]:
        """The public C names of an interface."""
        return (self.base, self.handlers, self.events, self.serve,
                self.listen, self.id_macro, self.version_macro, self.hash_macro)

    # Names private to the generated code.
    @property
    def desc(self) -> str:
        return self.base + "__interface"       # lrpc_rpc_interface

    @property
    def methods_desc(self) -> str:
        return self.base + "__methods"         # lrpc_rpc_method[]

    @property
    def hashes(self) -> str:
        return self.base + "__hashes"

    @property
    def canonical(self) -> str:
        return self.base + "__canonical"

    @property
    def forms(self) -> str:
        return self.base + "__forms"

    @property
    def access(self) -> str:
        return self.base + "__access"

    @property
    def policy(self) -> str:
        return self.base + "__policy"

    @property
    def policies(self) -> str:
        return self.base + "__policies"        # lrpc_rpc_policy[]

    @property
    def policy_ids(self) -> str:
        return self.base + "__policy_ids"      # their uids and gids

    @property
    def policy_groups(self) -> str:
        return self.base + "__policy_groups"   # their group names

    @property
    def idl(self) -> str:
        return self.base + "__idl"             # the IDL text (idl_text.py)

    @property
    def invoke_table(self) -> str:
        return self.base + "__invoke"

    @property
    def dispatch(self) -> str:
        return self.base + "__dispatch"

    @property
    def notify_table(self) -> str:
        return self.base + "__notify"

    @property
    def listener(self) -> str:
        return self.base + "__listener"

    def roles(self) -> Tuple[Tuple[str, Optional[str]], ...]:
        """Every C name of an interface with what it is (None: the
        interface's own name); the checker reserves them all."""
        return ((self.base, None), (self.handlers, "handlers struct"),
                (self.events, "events struct"),
                (self.serve, "serve function"),
                (self.listen, "listen function"),
                (self.id_macro, "interface id macro"),
                (self.version_macro, "version macro"),
                (self.hash_macro, "hash macro")) + tuple(
            (c, "internal") for c in self.internal())

    def internal(self) -> Tuple[str, ...]:
        return (self.desc, self.methods_desc, self.hashes, self.canonical,
                self.forms, self.access, self.policy, self.policies,
                self.policy_ids, self.policy_groups,
                self.idl, self.invoke_table, self.dispatch, self.notify_table,
                self.listener)


@dataclass(frozen=True)
class Namer:
    """C names for one IDL module."""

    module: str

    @property
    def prefix(self) -> str:
        return self.module + "_"

    def _prefixed(self, name: str) -> str:
        s = snake(name)
        if s == self.module or s.startswith(self.prefix):
            return s
        return self.prefix + s

    def type_name(self, name: str) -> str:
        return self._prefixed(name)

    def token(self, c_name: str) -> str:
        """A C name of this module without its prefix, the way it appears
        inside a collection's name: ``kv_entry`` -> ``entry``.  Names of
        other modules keep their prefix (``common_stamp``)."""
        if c_name.startswith(self.prefix):
            return c_name[len(self.prefix):]
        return c_name

    def list_type(self, element: str) -> str:
        """``T[]`` by the token of T: ``kv_entry_list``."""
        return f"{self.prefix}{element}_list"

    def map_type(self, key: str, value: str) -> str:
        """``map<K, V>`` by the tokens of K and V: ``kv_string_u32_map``."""
        return f"{self.prefix}{key}_{value}_map"

    def array_type(self, element: str, size: int) -> str:
        """``T[N]`` by the token of T: ``kv_u8_array16``."""
        return f"{self.prefix}{element}_array{size}"

    def const_name(self, name: str) -> str:
        return self._prefixed(name).upper()

    def member_name(self, type_name: str, member: str) -> str:
        """Enumerator or error code macro: ``KV_KIND_PLAIN``."""
        return f"{self.type_name(type_name).upper()}_{upper(member)}"

    def interface(self, name: str) -> InterfaceNames:
        base = self.type_name(name)
        up = base.upper()
        return InterfaceNames(
            base=base, handlers=base + "_handlers", events=base + "_events",
            serve=base + "_serve", listen=base + "_listen",
            id_macro=up + "_INTERFACE_ID",
            version_macro=up + "_VERSION", hash_macro=up + "_HASH")

    def method(self, interface: str, method: str) -> MethodNames:
        base = self.type_name(interface)
        m = snake(method)
        fn = f"{base}_{m}"
        return MethodNames(
            function=fn, async_function=fn + "_async", reply=fn + "_reply",
            reply_error=fn + "_reply_error", emit=f"{base}_emit_{m}",
            broadcast=f"{base}_broadcast_{m}",
            since_macro=fn.upper() + "_SINCE_VERSION",
            ordinal_macro=fn.upper() + "_ORDINAL",
            member=method_member(method), complete_fn=fn + "_complete_fn",
            handler_fn=fn + "_handler_fn",
            listener_fn=f"{base}_{m}_listener_fn",
            open=fn + "_open", next=fn + "_next", close=fn + "_close",
            item_fn=fn + "_item_fn", end_fn=fn + "_end_fn",
            send=fn + "_send", end=fn + "_end", fail=fn + "_fail")


def type_desc(c_name: str) -> str:
    """Descriptor of a named type: kv_entry__type."""
    return c_name + "__type"


def type_table(c_name: str, kind: str) -> str:
    """The table behind a type's descriptor: enum values, struct fields or
    union cases (``kind`` is "enum", "struct" or "union"), or the versions
    of an enum's values ("enum_since")."""
    return c_name + {"enum": "__values", "struct": "__fields",
                     "union": "__cases", "enum_since": "__since"}[kind]


def fuzz_decoder(module: str) -> str:
    """The decoder table function of a module's fuzz harness (c-fuzz):
    ``kv__fuzz_decoder``.  An IDL name ending in '_' can reach it
    (interface ``Kv_``, method ``fuzzDecoder``), so it is reserved."""
    return f"{module}__fuzz_decoder"


def module_internal(module: str) -> Tuple[str, ...]:
    """The C names generated code has per module, reserved with it."""
    return (fuzz_decoder(module),)


def type_internal(c_name: str, kind: str) -> Tuple[str, ...]:
    extra = (type_table(c_name, "enum_since"),) if kind == "enum" else ()
    return (type_desc(c_name), type_table(c_name, kind)) + extra


def case_macro(union_c_name: str, case: str) -> str:
    """Tag macro of a union case: ``KV_VALUE_DATA``."""
    return f"{union_c_name.upper()}_{upper(case)}"


def anon_desc(module: str, n: int) -> str:
    """Descriptor of the n-th type without a name (matches ANON_DESC)."""
    return f"{module}__t{n}"


def result_param(c_name: str) -> str:
    """The out-parameter of a result in stubs and handlers."""
    return "ret_" + c_name


# What the generated functions of a method declare as parameters, in
# order: fixed names, "*" for the IDL parameters and "ret_*" for the
# results (as out-parameters); "+*" are the results as in-parameters.
STUB_SIGNATURES = {
    "call": (
        ("sync stub", ("client", "*", "ret_*", "arena", "timeout_usec",
                       "ret_error")),
        ("async stub", ("client", "*", "callback", "userdata",
                        "timeout_usec", "call_id")),
        ("handler", ("call", "userdata", "*", "ret_*")),
        ("reply function", ("call", "+*")),
    ),
    "stream": (
        ("async stub", ("client", "*", "on_item", "on_end", "userdata",
                        "timeout_usec", "call_id")),
        ("open function", ("client", "*", "timeout_usec", "ret_iter",
                           "ret_error")),
        ("next function", ("iter", "ret_*", "arena", "ret_error")),
        ("item callback", ("client", "+*", "userdata")),
        ("handler", ("stream", "userdata", "*")),
        ("send function", ("stream", "+*")),
    ),
    "oneway": (
        ("stub", ("client", "*")),
        ("handler", ("call", "userdata", "*")),
    ),
    "event": (
        ("emit function", ("conn", "*")),
        ("broadcast function", ("server", "*")),
        ("listener", ("userdata", "*")),
    ),
}


def stub_parameters(kind: str, params: Sequence[str], results: Sequence[str]
                    ) -> List[Tuple[str, List[Tuple[str, int]]]]:
    """The C parameter names of every generated function of a method, as
    (what, [(c name, index)]): the index is -1 for a fixed parameter,
    i for params[i] and len(params) + j for results[j]."""
    out = []
    for what, shape in STUB_SIGNATURES[kind]:
        names: List[Tuple[str, int]] = []
        for item in shape:
            if item == "*":
                names += [(p, i) for i, p in enumerate(params)]
            elif item == "ret_*":
                names += [(result_param(r), len(params) + j)
                          for j, r in enumerate(results)]
            elif item == "+*":
                names += [(r, len(params) + j)
                          for j, r in enumerate(results)]
            else:
                names.append((item, -1))
        out.append((what, names))
    return out


def method_member(method: str) -> str:
    """Name of a method's member in the handler and listener structs.

    Method names are the one kind of IDL name allowed to be a C or C++
    keyword (``delete`` is too natural to forbid); as a struct member such
    a name gets a trailing underscore, as protobuf does: ``delete_``.
    """
    m = snake(method)
    if m in C_KEYWORDS or m in CXX_KEYWORDS or m in C_MACROS:
        return m + "_"
    return m


def field_name(name: str) -> str:
    return snake(name)
