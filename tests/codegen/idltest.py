"""Helpers shared by the codegen tests."""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from lrpc_gen import model
from lrpc_gen.errors import Diagnostics
from lrpc_gen.frontend import check

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
LRPC_GEN = os.path.join(SOURCE_ROOT, "codegen", "lrpc-gen")


class MemoryFileSystem:
    """``load.FileSystem`` over a dict, so checker tests need no files."""

    def __init__(self, files: Dict[str, str]) -> None:
        self.files = {posixpath.normpath(k): v.encode("utf-8")
                      for k, v in files.items()}

    def read(self, path: str) -> bytes:
        try:
            return self.files[posixpath.normpath(path)]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", path)

    def exists(self, path: str) -> bool:
        return posixpath.normpath(path) in self.files

    def kind(self, path: str) -> Optional[str]:
        path = posixpath.normpath(path)
        if path in self.files:
            return "file"
        if any(f.startswith(path + "/") for f in self.files):
            return "directory"
        return None

    def canonical(self, path: str) -> str:
        return posixpath.normpath(path)


def check_text(text: str, extra: Optional[Dict[str, str]] = None,
               include_dirs: Sequence[str] = ()
               ) -> Tuple[Optional[model.Model], Diagnostics]:
    files = {"test.idl": text}
    files.update(extra or {})
    diags = Diagnostics()
    result = check("test.idl", include_dirs, MemoryFileSystem(files),
                   diags)
    return result.model, diags


def errors(text: str, **kw) -> List[Tuple[int, int, str]]:
    """(line, col, message) of every error for ``text``, in order."""
    _, diags = check_text(text, **kw)
    return [(d.loc.line, d.loc.col, d.message) if d.loc else (0, 0, d.message)
            for d in diags.sorted()]


def run_gen(args: Sequence[str], cwd: Optional[str] = None
            ) -> subprocess.CompletedProcess:
    """Run the lrpc-gen wrapper with this interpreter."""
    env = dict(os.environ)
    env.pop("LRPC_GEN_DEBUG", None)
    return subprocess.run([sys.executable, LRPC_GEN, *args], cwd=cwd,
                          env=env, capture_output=True, text=True,
                          timeout=60)
