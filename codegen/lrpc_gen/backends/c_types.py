"""The ``c-types`` back end: <stem>-types.h (C types, constants, error
codes, interface macros) and <stem>-types.c (the descriptor tables the
runtime encodes and decodes with)."""

from __future__ import annotations

from typing import Dict

from ..model import Model
from . import Context
from .c_common import render

DESCRIPTION = "C types and descriptor tables (<stem>-types.h/.c)"


def generate(model: Model, ctx: Context) -> Dict[str, str]:
    return render(ctx, model, {
        f"{ctx.stem}-types.h": "c_types_h.j2",
        f"{ctx.stem}-types.c": "c_types_c.j2",
    })
