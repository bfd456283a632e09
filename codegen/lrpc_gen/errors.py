"""Source locations and diagnostics.

Every stage reports problems into a shared ``Diagnostics`` collector instead
of raising, so one run shows every error it can find.  Rendering follows the
compiler convention::

    file.idl:3:7: error: undefined type 'Entri'
        get(string key) -> (Entri entry) @0;
                            ^
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


# The same as lexer.LINE_BREAK (which cannot be imported here: the lexer
# imports this module).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file: 1-based line and column.

    Columns count Unicode code points; a tab counts as one column.
    """

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One error, optionally followed by notes pointing at related places."""

    loc: Optional[Location]
    message: str
    severity: str = "error"
    notes: Tuple["Diagnostic", ...] = ()


class SourceMap:
    """The text of every file read in a run, for printing source lines.

    Files are numbered in the order they were registered; diagnostics are
    sorted by that order, so the output does not depend on path spelling.
    """

    def __init__(self) -> None:
        self._lines: Dict[str, List[str]] = {}
        self._order: Dict[str, int] = {}

    def add(self, file: str, text: str) -> None:
        if file not in self._order:
            self._order[file] = len(self._order)
        # Only what the lexer counts as a line break (lexer.LINE_BREAK);
        # str.splitlines() also splits at form feeds and U+2028, which
        # showed the wrong line for positions after them.
        self._lines[file] = _LINE_BREAK.split(text)

    def line(self, file: str, line: int) -> Optional[str]:
        lines = self._lines.get(file)
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1]

    def order(self, file: str) -> int:
        return self._order.get(file, len(self._order))


@dataclass
class Diagnostics:
    """Collects diagnostics across all stages of one run."""

    sources: SourceMap = field(default_factory=SourceMap)
    items: List[Diagnostic] = field(default_factory=list)

    def error(self, loc: Optional[Location], message: str,
              notes: Tuple[Diagnostic, ...] = ()) -> None:
        self.items.append(Diagnostic(loc, message, "error", notes))

    @staticmethod
    def note(loc: Optional[Location], message: str) -> Diagnostic:
        return Diagnostic(loc, message, "note")

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> List[Diagnostic]:
        def key(d: Diagnostic) -> Tuple[int, int, int, str]:
            if d.loc is None:
                return (-1, 0, 0, d.message)
            return (self.sources.order(d.loc.file), d.loc.line, d.loc.col,
                    d.message)
        # Stable de-duplication: the same problem found along two paths
        # (e.g. a type used twice) is shown once.
        seen = set()
        out = []
        for d in sorted(self.items, key=key):
            if (d.loc, d.message) not in seen:
                seen.add((d.loc, d.message))
                out.append(d)
        return out

    def render(self, prog: str = "lrpc-gen") -> str:
        return "".join(render(d, self.sources, prog) for d in self.sorted())


def _caret_line(source_line: str, col: int) -> str:
    # Keep tabs so the caret lines up however the terminal expands them.
    prefix = source_line[:col - 1]
    pad = "".join("\t" if c == "\t" else " " for c in prefix)
    return pad + "^"


def render(d: Diagnostic, sources: SourceMap, prog: str = "lrpc-gen") -> str:
    """Render one diagnostic (and its notes) as text ending in a newline."""
    if d.loc is None:
        out = f"{prog}: {d.severity}: {d.message}\n"
    else:
        out = f"{d.loc}: {d.severity}: {d.message}\n"
        text = sources.line(d.loc.file, d.loc.line)
        if text is not None:
            out += text + "\n" + _caret_line(text, d.loc.col) + "\n"
    for n in d.notes:
        out += render(n, sources, prog)
    return out
