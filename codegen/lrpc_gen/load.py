"""Loading: the input file and everything it imports, parsed.

Files are read through an injected ``FileSystem``, so this stage stays free
of I/O and the tests can feed it a dict.  Imports are looked up next to the
importing file and then in the include directories; an import cycle, a
missing file or bytes that are not UTF-8 become diagnostics.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Protocol, Sequence, Tuple

from . import ast
from .errors import Diagnostics, Location
from .lexer import LINE_BREAK
from .parser import parse


class FileSystem(Protocol):
    """What the front end needs from the outside world."""

    def read(self, path: str) -> bytes:
        """The file's bytes; raises OSError."""

    def exists(self, path: str) -> bool:
        """True if ``path`` names a readable file."""

    def kind(self, path: str) -> Optional[str]:
        """What ``path`` names: None when nothing, "file" for a regular
        file, or a word for anything else ("directory", "FIFO")."""

    def canonical(self, path: str) -> str:
        """A spelling that is equal for equal files (e.g. realpath)."""


@dataclass
class Unit:
    """One file read: its AST (None when it could not be parsed) and its
    imports, each with the unit it names (None when that failed).

    ``shown`` is how outputs name the file: the main file by its base
    name, an imported one as its import statement spells it, so that
    nothing written depends on where the files are."""

    path: str
    canon: str
    file: Optional[ast.File]
    imports: List[Tuple[ast.Import, Optional["Unit"]]] = field(
        default_factory=list)
    shown: str = ""


@dataclass(frozen=True)
class Loaded:
    main: Optional[Unit]          # None when the input could not be read
    units: Tuple[Unit, ...]       # every file read, imports before importers


# Notes naming the imports that led to a file with a syntax error; a longer
# chain is cut short (with a count), since each note shows a source line.
MAX_CHAIN_NOTES = 8


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
        # The files being loaded, outermost first, each with the import
        # that reached it (None for the main file).
        self.stack: List[Unit] = []
        self.vias: List[Optional[ast.Import]] = []

    def candidates(self, importer: str, name: str) -> List[str]:
        dirs = [posixpath.dirname(importer)] + self.include_dirs
        return [posixpath.normpath(posixpath.join(d, name)) for d in dirs]

    def load(self, path: str) -> Optional[Unit]:
        """Depth first through the imports, with an explicit stack, so a
        chain of any length of imports needs no recursion."""
        main = self.open(path, None)
        if main is None:
            return None
        todo = [iter(main.file.imports if main.file else ())]
        while todo:
            unit = self.stack[-1]
            imp = next(todo[-1], None)
            if imp is None:
                todo.pop()
                self.stack.pop()
                self.vias.pop()
                self.units[unit.canon] = unit
                self.order.append(unit)
                continue
            target = self.find_import(unit, imp)
            dep = None if target is None else self.open(target, imp)
            unit.imports.append((imp, dep))
            if dep is not None and self.stack[-1] is dep:
                todo.append(iter(dep.file.imports if dep.file else ()))
        return main

    def open(self, path: str, via: Optional[ast.Import]) -> Optional[Unit]:
        """The unit of ``path``: one already loaded, or a new one, read,
        parsed and pushed on the stack for its imports to be loaded."""
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
        before = len(self.diags.items)
        shown = via.path if via else posixpath.basename(path)
        unit = Unit(path, canon, self.decode_and_parse(path, data),
                    shown=shown)
        if via is not None:
            self.add_chain(before, via)
        self.stack.append(unit)
        self.vias.append(via)
        return unit

    def add_chain(self, before: int, via: ast.Import) -> None:
        """Add to the errors found in an imported file the chain of
        imports that led to it: where each file on the way imports the
        next, innermost first."""
        if len(self.diags.items) == before:
            return
        hops = [via] + [v for v in reversed(self.vias) if v is not None]
        notes = []
        for imp in hops[:MAX_CHAIN_NOTES]:
            notes.append(Diagnostics.note(imp.loc, f"'{imp.path}' is "
                                                   f"imported here"))
        if len(hops) > MAX_CHAIN_NOTES:
            rest = len(hops) - MAX_CHAIN_NOTES
            notes.append(Diagnostics.note(None, f"... and {rest} more "
                                                f"import{'s' * (rest > 1)} "
                                                f"up to "
                                                f"'{self.stack[0].path}'"))
        items = self.diags.items
        items[before:] = [replace(d, notes=d.notes + tuple(notes))
                          for d in items[before:]]

    def find_import(self, unit: Unit, imp: ast.Import) -> Optional[str]:
        """The file ``imp`` names, or None after saying why there is none."""
        if not imp.path.endswith(".idl"):
            self.diags.error(imp.loc, f"imported file '{imp.path}' must "
                                      f"end in '.idl'")
            return None
        cands = self.candidates(unit.path, imp.path)
        for cand in cands:
            kind = self.fs.kind(cand)
            if kind == "file":
                return cand
            if kind is not None:
                self.diags.error(imp.loc, f"imported file '{imp.path}' is "
                                          f"a {kind}, not a file: "
                                          f"'{cand}'")
                return None
        where = ", ".join(f"'{posixpath.dirname(c) or '.'}'" for c in cands)
        self.diags.error(imp.loc, f"cannot find imported file '{imp.path}' "
                                  f"(looked in {where})")
        return None

    def decode_and_parse(self, path: str, data: bytes) -> Optional[ast.File]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            head = data[:e.start].decode("utf-8", "replace")
            lines = re.split(LINE_BREAK, head)
            line, col = len(lines), len(lines[-1]) + 1
            self.diags.sources.add(path, data.decode("utf-8", "replace"))
            self.diags.error(Location(path, line, col),
                             "file is not valid UTF-8")
            return None
        if text.startswith("\ufeff"):
            text = text[1:]     # editors add a BOM; it means nothing here
        self.diags.sources.add(path, text)
        return parse(text, path, self.diags)
