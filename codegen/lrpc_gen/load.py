"""Loading: the input file and everything it imports, parsed.

Files are read through an injected ``FileSystem``, so this stage stays free
of I/O and the tests can feed it a dict.  Imports are looked up next to the
importing file and then in the include directories; an import cycle, a
missing file or bytes that are not UTF-8 become diagnostics.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Protocol, Sequence, Tuple

from . import ast
from .errors import Diagnostics, Location
from .parser import parse


class FileSystem(Protocol):
    """What the front end needs from the outside world."""

    def read(self, path: str) -> bytes:
        """The file's bytes; raises OSError."""

    def exists(self, path: str) -> bool:
        """True if ``path`` names a readable file."""

    def canonical(self, path: str) -> str:
        """A spelling that is equal for equal files (e.g. realpath)."""


@dataclass
class Unit:
    """One file read: its AST (None when it could not be parsed) and its
    imports, each with the unit it names (None when that failed)."""

    path: str
    canon: str
    file: Optional[ast.File]
    imports: List[Tuple[ast.Import, Optional["Unit"]]] = field(
        default_factory=list)


@dataclass(frozen=True)
class Loaded:
    main: Optional[Unit]          # None when the input could not be read
    units: Tuple[Unit, ...]       # every file read, imports before importers


def load(path: str, include_dirs: Sequence[str], fs: FileSystem,
         diags: Diagnostics) -> Loaded:
    """Read and parse ``path`` and, recursively, the files it imports."""
    loader = _Loader(fs, include_dirs, diags)
    main = loader.load(path)
    return Loaded(main, tuple(loader.order))


class _Loader:
    def __init__(self, fs: FileSystem, include_dirs: Sequence[str],
                 diags: Diagnostics) -> None:
        self.fs = fs
        self.include_dirs = list(include_dirs)
        self.diags = diags
        self.units: Dict[str, Unit] = {}
        self.order: List[Unit] = []
        self.stack: List[Unit] = []

    def candidates(self, importer: str, name: str) -> List[str]:
        dirs = [posixpath.dirname(importer)] + self.include_dirs
        return [posixpath.normpath(posixpath.join(d, name)) for d in dirs]

    def load(self, path: str,
             via: Optional[ast.Import] = None) -> Optional[Unit]:
        canon = self.fs.canonical(path)
        for i, u in enumerate(self.stack):
            if u.canon == canon:
                chain = [x.path for x in self.stack[i:]] + [path]
                assert via is not None
                self.diags.error(via.loc, "import cycle: "
                                 + " -> ".join(chain))
                return None
        if canon in self.units:
            return self.units[canon]
        try:
            data = self.fs.read(path)
        except OSError as e:
            reason = e.strerror or str(e)
            self.diags.error(via.loc if via else None,
                             f"cannot read '{path}': {reason}")
            return None
        unit = Unit(path, canon, self.decode_and_parse(path, data))
        self.stack.append(unit)
        if unit.file is not None:
            for imp in unit.file.imports:
                unit.imports.append((imp, self.load_import(unit, imp)))
        self.stack.pop()
        self.units[canon] = unit
        self.order.append(unit)
        return unit

    def load_import(self, unit: Unit, imp: ast.Import) -> Optional[Unit]:
        if not imp.path.endswith(".idl"):
            self.diags.error(imp.loc, f"imported file '{imp.path}' must "
                                      f"end in '.idl'")
            return None
        cands = self.candidates(unit.path, imp.path)
        for cand in cands:
            if self.fs.exists(cand):
                return self.load(cand, imp)
        where = ", ".join(f"'{posixpath.dirname(c) or '.'}'" for c in cands)
        self.diags.error(imp.loc, f"cannot find imported file '{imp.path}' "
                                  f"(looked in {where})")
        return None

    def decode_and_parse(self, path: str, data: bytes) -> Optional[ast.File]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            head = data[:e.start]
            line = head.count(b"\n") + 1
            col = len(head[head.rfind(b"\n") + 1:].decode("utf-8",
                                                           "replace")) + 1
            self.diags.sources.add(path, data.decode("utf-8", "replace"))
            self.diags.error(Location(path, line, col),
                             "file is not valid UTF-8")
            return None
        if text.startswith("\ufeff"):
            text = text[1:]     # editors add a BOM; it means nothing here
        self.diags.sources.add(path, text)
        return parse(text, path, self.diags)
