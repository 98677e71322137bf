"""User-facing errors: one base exception, problems located as ``file:line:col: key.path: message``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one tenant file, located so an editor can jump to it."""

    file: str
    line: int
    col: int
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


class TaxcalcConsentError(Exception):
    """Base of every failure the user can fix; the CLI prints it without a traceback."""


class SpecError(TaxcalcConsentError):
    """One or more tenant files are invalid. Carries every problem found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = tuple(dict.fromkeys(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, choices: Iterable[str], *, known: str | None = None) -> str:
    """The hint after an unknown name: ``; did you mean 'x'?`` for a close choice, else ``; <known>: a, b``
    (when ``known`` names the list) or nothing. Every did-you-mean in the tool says it this way."""
    import difflib

    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; {known}: {', '.join(options)}" if known else ""
