"""The front end: an IDL file -> the checked, frozen model.

Runs the stages in order, ``load`` -> ``scope`` -> ``check`` -> ``build``
(which uses ``hashing``), all reporting into one ``Diagnostics``.  A stage
runs only when the ones before it left something worth checking, so an
error is not followed by a cascade of errors it caused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from . import model as m
from .build import build
from .check import check_decls
from .errors import Diagnostics
from .load import FileSystem, load
from .scope import declare


@dataclass(frozen=True)
class Result:
    model: Optional[m.Model]
    files: Tuple[str, ...]        # every IDL file read, in load order


def check(path: str, include_dirs: Sequence[str], fs: FileSystem,
          diags: Diagnostics) -> Result:
    """Load ``path`` and its imports, check them, and build the model.

    ``Result.model`` is None when ``diags`` holds errors.
    """
    loaded = load(path, include_dirs, fs, diags)
    files = tuple(u.path for u in loaded.units)
    main = loaded.main
    if main is None or main.file is None:
        return Result(None, files)
    scope = declare(loaded.units, diags)
    if diags.has_errors:
        # Scope errors (missing modules, clashing names) would only cause
        # a cascade of follow-up errors below.
        if not scope.order or scope.order[-1].unit is not main:
            return Result(None, files)
    checked = check_decls(scope, diags)
    if diags.has_errors:
        return Result(None, files)
    model = build(scope, checked, diags)
    # Building can still find two interfaces with one id.
    return Result(None if diags.has_errors else model, files)
