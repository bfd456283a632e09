"""The ``c-client`` back end: <stem>-client.h/.c with a sync and an async
stub per method, a stub per oneway method, and the events listener."""

from __future__ import annotations

from typing import Dict

from ..model import Model
from . import Context
from .c_common import render

DESCRIPTION = "C client stubs (<stem>-client.h/.c)"


def generate(model: Model, ctx: Context) -> Dict[str, str]:
    return render(ctx, model, {
        f"{ctx.stem}-client.h": "c_client_h.j2",
        f"{ctx.stem}-client.c": "c_client_c.j2",
    })
