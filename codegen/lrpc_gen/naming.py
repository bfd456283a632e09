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
- Fields and parameters: snake_case, unprefixed (they live in a struct or
  a parameter list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Tuple

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

_BOUNDARY_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """``KvError`` -> ``kv_error``, ``HTTPServer`` -> ``http_server``,
    ``getValue`` -> ``get_value``, ``NOT_FOUND`` -> ``not_found``."""
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

    def all(self, kind: str) -> Tuple[str, ...]:
        if kind == "event":
            return (self.emit, self.broadcast, self.since_macro,
                    self.ordinal_macro)
        if kind == "oneway":
            return (self.function, self.since_macro, self.ordinal_macro)
        return (self.function, self.async_function, self.reply,
                self.reply_error, self.since_macro, self.ordinal_macro)


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
        return (self.base, self.handlers, self.events, self.serve,
                self.listen, self.id_macro, self.version_macro, self.hash_macro)


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
            member=method_member(method))


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
