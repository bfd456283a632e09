"""The ``c-server`` back end: <stem>-server.h/.c with the handlers struct,
serve function, deferred reply functions and event senders."""

from __future__ import annotations

from typing import Dict

from ..model import Model
from . import Context
from .c_common import render

DESCRIPTION = "C server dispatch tables, reply functions and events (<stem>-server.h/.c)"


def generate(model: Model, ctx: Context) -> Dict[str, str]:
    return render(ctx, model, {
        f"{ctx.stem}-server.h": "c_server_h.j2",
        f"{ctx.stem}-server.c": "c_server_c.j2",
    })
