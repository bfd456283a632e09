"""The ``c-fuzz`` back end: <stem>-fuzz.c, a libFuzzer harness for every
decoder of the module, with the round-trip property of HARDENING A12
built in.

The decoders are, in this order (the first input byte picks one, modulo
their number): the module's named types (enums, structs, unions) in
declaration order of the C header, then for every interface and every
method the request (the parameters, also of oneway methods and events)
and, for calls, the reply.  The harness decodes the rest of the input with
that decoder; whatever decodes must encode, decode again to an equal value
and encode again to the same bytes.  Anything else aborts.

The file also defines ``<prefix>_fuzz_decoder(i)`` (``kv__fuzz_decoder``:
a name no IDL declaration can produce, like the anonymous descriptors), so
that seed generators and tests can walk the same list.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional

from .. import model as m
from ..naming import fuzz_decoder
from . import Context
from . import environment
from .c_common import c_string_literal, header_name

DESCRIPTION = "libFuzzer harness for every decoder, with the round trip (<stem>-fuzz.c)"


class Decoder(NamedTuple):
    title: str              # "kv.Entry", "kv.Store.get()", "kv.Store.get->()"
    named: Optional[str]    # descriptor of a named type, or None
    methods: Optional[str]  # an interface's method table, or None
    index: int              # the method's index in that table
    reply: bool


def decoders(model: m.Model) -> List[Decoder]:
    mod = model.main
    out = [Decoder(f"{mod.name}.{d.name}", f"{d.c_name}__type", None, 0,
                   False)
           for d in mod.ordered_types]
    for iface in mod.interfaces:
        for k, meth in enumerate(iface.methods):
            base = f"{mod.name}.{iface.name}.{meth.name}"
            out.append(Decoder(base + "()", None, iface.names.methods_desc,
                               k, False))
            if meth.kind in ("call", "stream"):
                out.append(Decoder(base + "->()", None,
                                   iface.names.methods_desc, k, True))
    return out


def generate(model: m.Model, ctx: Context) -> Dict[str, str]:
    mod = model.main
    env = environment(filters={"c_string": c_string_literal})
    text = env.get_template("c_fuzz_c.j2").render(
        ctx=ctx, mod=mod, decoders=decoders(model),
        decoder_fn=fuzz_decoder(mod.name),
        types_header=header_name(ctx.stem, "types"))
    return {f"{ctx.stem}-fuzz.c": text}
