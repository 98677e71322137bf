"""User-facing errors: one base exception, problems located as ``file:line:col: key.path: message``.

Every message a user sees passes through :func:`redact` on its way into a Problem or an error, so text
the user wrote can be quoted back ("unknown key 'x'") without ever echoing a secret pasted in the
wrong place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

REDACTED = "[redacted]"

# Entra client secrets since 2021: 3 characters, a digit, "Q~", then 31-34 more, 40 in all
# (https://learn.microsoft.com/purview/sit-defn-azure-ad-client-secret).
ENTRA_SECRET = re.compile(r"[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}")

# Older secrets have no marker. Microsoft's own detector for client secrets and API keys
# (https://learn.microsoft.com/purview/sit-defn-client-secret-api-key) looks for base64 ending in = or ==
# (22, 44, 56, 88 characters) and 32 or 40 hexadecimal digits; Entra portal passwords before 2021 were
# 32 random characters from letters, digits and - _ . : ? @ [ ] * + / =. So, besides the two fixed shapes:
_BASE64 = re.compile(r"[A-Za-z0-9+/]{20,}={1,2}")
_HEX = re.compile(r"(?<![0-9A-Fa-f-])(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![0-9A-Fa-f-])")
# any run of 24 or more characters from that alphabet counts as a secret when it mixes three of lower
# case, upper case, digits and symbols, at least 60% of its characters differ, and it holds fewer than two
# runs of five lower-case letters (random strings rarely do; names made of words do, such as
# "Finance-Team-2024-Shared" or a path), unless it is plainly a GUID, a URL or an email address.
# A false positive hides a name in an error message; a miss would print a secret. The rule misses about
# one random 32-character secret in 200 (tests/test_hostile_input.py measures it), so keys that hold
# secrets are refused by name before their values are read, and values by the fixed shapes above.
_CANDIDATE = re.compile(r"[A-Za-z0-9_~.:?@\[\]*+/=!#$%^&-]{24,}")
_GUID_TEXT = re.compile(r"\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?")
_ADDRESS = re.compile(r"[A-Za-z0-9'._!#^~-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
_WORD = re.compile(r"[a-z]{5,}")


def looks_like_secret(text: str) -> bool:
    """Whether ``text`` (one token, no spaces) has the shape of a client secret; see the notes above."""
    if len(text) < 22:
        return False
    if ENTRA_SECRET.search(text) or _BASE64.fullmatch(text) or _HEX.fullmatch(text):
        return True
    if len(text) < 24 or "://" in text or _GUID_TEXT.fullmatch(text) or _ADDRESS.fullmatch(text):
        return False
    classes = (
        any(c.islower() for c in text)
        + any(c.isupper() for c in text)
        + any(c.isdigit() for c in text)
        + any(not c.isalnum() for c in text)
    )
    if classes < 3:
        return False
    return len(set(text)) >= 0.6 * min(len(text), 40) and len(_WORD.findall(text)) < 2


def redact(text: str) -> str:
    """``text`` with every secret-shaped run replaced by ``[redacted]``: for any message quoting user text."""
    if len(text) < 24:
        return text
    return _redact_long(text)


@functools.lru_cache(maxsize=1024)
def _redact_long(text: str) -> str:
    """Cached: the same message recurs across a fleet (one policy warning for every tenant-wide file), and
    searching it costs far more than looking it up. A pure function of its text."""
    text = _HEX.sub(REDACTED, ENTRA_SECRET.sub(REDACTED, text))
    return _CANDIDATE.sub(lambda m: REDACTED if looks_like_secret(m.group()) else m.group(), text)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one tenant file, located so an editor can jump to it.

    The key path and message are redacted on creation: both may quote what the user wrote.
    """

    file: str
    line: int
    col: int
    key_path: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_path", redact(self.key_path))
        object.__setattr__(self, "message", redact(self.message))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


@dataclass(frozen=True, order=True)
class MoreProblems(Problem):
    """The line that stands for the problems of a file beyond those shown."""

    count: int = 0


class TaxcalcConsentError(Exception):
    """Base of every failure the user can fix; the CLI prints it without a traceback.

    Text arguments are redacted: an error may quote an option's value or a name the user wrote.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class SpecError(TaxcalcConsentError):
    """One or more tenant files are invalid. Carries every problem found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = tuple(dict.fromkeys(problems))
        self.total = sum(p.count if isinstance(p, MoreProblems) else 1 for p in self.problems)
        """Every problem found, those only counted included."""
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
