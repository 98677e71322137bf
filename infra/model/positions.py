"""Where each key of a tenant document was written, so that every problem names its file, line and column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from taxcalc_consent.infra.model.errors import Problem

KeyPath = tuple[str | int, ...]


class Position(NamedTuple):
    file: str
    line: int
    col: int


def _position(mark: Mark) -> Position:
    return Position(*mark)


Mark = tuple[str, int, int]
"""Where a node starts: (file, line, col), 1-based. A plain tuple rather than a Position: a tenant
file has many nodes and few problems, and tuples of strings and ints are cheap to make and to keep."""


@dataclass
class Positions:
    """Where each key path of a (merged) tenant document was written."""

    file: str
    by_path: dict[KeyPath, Mark] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int]) -> Position:
        """The position of ``path``, or of its nearest written ancestor, or the file's start."""
        key = tuple(path)
        while key:
            if key in self.by_path:
                return _position(self.by_path[key])
            key = key[:-1]
        return _position(self.by_path[()]) if () in self.by_path else Position(self.file, 1, 1)

    def problem(self, path: Sequence[str | int], message: str) -> Problem:
        where = self.locate(path)
        return Problem(where.file, where.line, where.col, format_key_path(path), message)


def format_key_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
