""""Did you mean": the known name closest to a misspelt one.

Names within an edit distance of 2 (insertions, deletions, substitutions
and swaps of two neighbours each count 1; a change of case counts too) are
suggested, the closest first, ties broken alphabetically so the message
does not depend on declaration order.  A word is never "corrected" into
one that shares nothing with it: the distance must be below its length.
"""

from __future__ import annotations

from typing import Iterable, Optional

MAX_DISTANCE = 2


def distance(a: str, b: str, limit: int = MAX_DISTANCE) -> int:
    """The edit distance of ``a`` and ``b`` (optimal string alignment), or
    ``limit + 1`` as soon as it is certain to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] \
                    and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def closest(word: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate to suggest for ``word``, or None."""
    best = None
    for c in candidates:
        if c == word:
            continue
        d = distance(word, c)
        if d > MAX_DISTANCE or d >= len(word):
            continue
        key = (d, c)
        if best is None or key < best:
            best = key
    return None if best is None else best[1]


def hint(word: str, candidates: Iterable[str], prefix: str = "") -> str:
    """``"; did you mean 'X'?"`` to append to a message, or ``""``;
    ``prefix`` goes before the name ("@" for attributes)."""
    c = closest(word, candidates)
    return "" if c is None else f"; did you mean '{prefix}{c}'?"
