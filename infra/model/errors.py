"""User-facing errors: one base exception, problems located as ``file:line:col: key.path: message``.

Every message a user sees passes through :func:`shown_text` on its way into a Problem or an error: secrets
redacted by their shapes (:func:`redact`), characters a terminal would not show as themselves escaped
(:func:`printable`), its length bounded. So text the user wrote can be quoted back ("unknown key 'x'")
without echoing a secret pasted in the wrong place, retitling a terminal or filling a CI log; values are
quoted through :func:`quote`, and every list of problems is held to one cap per file (:func:`capped`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from taxcalc_consent.infra.model.guid import GUID_PATTERN

REDACTED = "[redacted]"

# ------------------------------------------------------------------------------------- secret shapes
# Secrets are known by the shapes they are issued in, never by "looks random": a Graph permission such as
# Application.ReadWrite.OwnedBy is a name, and a name in an error message is what the user needs to see.
# Each shape names its source. Those with a fixed marker are unmistakable: a value holding one is refused
# in a tenant file (``secret_in``) and never echoed; the others are only redacted from messages. A pattern
# whose length is open starts only where a run of its characters starts (a look-behind), and takes that run
# possessively: a 100 KB value of one letter is searched in linear time, not quadratic.


@dataclass(frozen=True)
class SecretShape:
    what: str
    """Said in a refusal: "an Entra client secret"."""
    pattern: str
    marker: str | None
    """A literal every secret of this shape holds; None for the shapes without one (redacted, not refused)."""
    source: str


SECRET_SHAPES: tuple[SecretShape, ...] = (
    # 3 characters, a digit, "Q~", then 31-34 more: 40 in all, since 2021.
    SecretShape(
        "an Entra client secret",
        r"[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}",
        "Q~",
        "https://learn.microsoft.com/purview/sit-defn-azure-ad-client-secret",
    ),
    # "pul-" and 40 lower-case hexadecimal digits (the pattern secret scanners use; Pulumi documents none).
    SecretShape(
        "a Pulumi access token",
        r"pul-[0-9a-f]{40}",
        "pul-",
        "https://github.com/gitleaks/gitleaks/blob/master/cmd/generate/config/rules/pulumi.go",
    ),
    # ghp_ (personal), gho_ (OAuth), ghu_/ghs_ (GitHub App), ghr_ (refresh), then 36 letters and digits today,
    # up to 255 characters in all as GitHub announced.
    SecretShape(
        "a GitHub token",
        r"gh[pousr]_[A-Za-z0-9]{36,251}",
        "gh",
        "https://github.blog/changelog/2021-03-31-authentication-token-format-updates-are-generally-available",
    ),
    # Fine-grained personal access tokens: github_pat_, 22 characters, _, 59 more (93 in all).
    SecretShape(
        "a GitHub token",
        r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        "github_pat_",
        "https://github.blog/2022-10-18-introducing-fine-grained-personal-access-tokens-for-github/",
    ),
    # Azure DevOps personal access tokens since 2024: 84 letters and digits, "AZDO" at positions 77-80.
    SecretShape(
        "an Azure DevOps personal access token",
        r"(?<![A-Za-z0-9])[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}",
        "AZDO",
        "https://learn.microsoft.com/purview/sit-defn-azure-devops-personal-access-token",
    ),
    # Older ones: 52 base32 characters (a-z, 2-7); random ones hold at least one digit.
    SecretShape(
        "an Azure DevOps personal access token",
        r"(?<![a-z2-7])(?=[a-z]{0,51}[2-7])[a-z2-7]{52}(?![a-z2-7])",
        None,
        "https://github.com/microsoft/security-utilities/blob/main/src/Microsoft.Security.Utilities.Core/"
        "HighConfidenceMicrosoftSecurityModels/SEC101_102_AdoPat.cs",
    ),
    # A storage account key: 86 base64 characters and "==", alone or in a connection string's AccountKey=.
    SecretShape(
        "an Azure Storage account key",
        r"AccountKey=[A-Za-z0-9+/]{86}==",
        "AccountKey=",
        "https://learn.microsoft.com/purview/sit-defn-azure-storage-account-key",
    ),
    SecretShape(
        "an Azure Storage account key",
        r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==",
        None,
        "https://learn.microsoft.com/purview/sit-defn-azure-storage-account-key-generic",
    ),
    # A shared access signature's signature: sig=, 43-53 URL-encoded base64 characters, ending in %3d ("=").
    SecretShape(
        "an Azure Storage shared access signature",
        r"(?<=[sS][iI][gG]=)[A-Za-z0-9%+/]{40,60}(?:%3[dD]|=)",
        "sig=",
        "https://learn.microsoft.com/purview/sit-defn-azure-sas",
    ),
    # Entra secrets from before 2021 have no marker: base64 ending in = or ==, 32 or 40 hexadecimal digits
    # (Microsoft's detector for client secrets and API keys), and the portal's 32 characters (below).
    SecretShape(
        "a client secret",
        r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{20,}+={1,2}",
        None,
        "https://learn.microsoft.com/purview/sit-defn-client-secret-api-key",
    ),
    SecretShape(
        "a client secret",
        r"(?<![0-9A-Fa-f-])(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![0-9A-Fa-f-])",
        None,
        "https://learn.microsoft.com/purview/sit-defn-client-secret-api-key",
    ),
)

_SHAPES = re.compile("|".join(f"(?:{shape.pattern})" for shape in SECRET_SHAPES))
_MARKED = tuple((shape, re.compile(shape.pattern)) for shape in SECRET_SHAPES if shape.marker is not None)
_SHORTEST_MARKED = 40
"""No marked shape is shorter (an Entra secret and a GitHub token have 40 characters)."""

# The Entra portal's passwords before 2021: 32 characters of letters, digits and . = - : [ _ @ / * ] + ?
# (microsoft/security-utilities, SEC101_101_AzureClientAppLegacyCredential32.cs). Names
# have that shape too (Sites.Selected-Finance-Team-2024), so one counts only when it reads as random: it mixes
# three of lower case, upper case, digits and symbols, at least 60% of its characters differ, and it is not
# made of words (Application.ReadWrite.OwnedBy, Finance-Team-2024-Shared: capitalised words, numbers and
# abbreviations between . - _ / :). The rule misses fewer than one random portal password in 1,000 (those
# repeating many characters; tests/test_hostile_input.py measures it), so keys that hold secrets are refused
# by name before their values are read.
_PORTAL_CHARS = r"A-Za-z0-9.=\-:\[_@/*\]+?"
_PORTAL_PASSWORD = re.compile(rf"(?<![{_PORTAL_CHARS}])[{_PORTAL_CHARS}]{{32}}(?![{_PORTAL_CHARS}])")
_SEPARATORS = re.compile(r"[._/:-]")
_WORD = re.compile(r"[0-9]{1,4}|[A-Z]{1,5}[0-9]{0,4}|[A-Z]?[a-z]+(?:[A-Z][a-z]+)*[0-9]{0,4}")
"""A part of a name between separators: a number, an abbreviation, or words run together (ReadWrite)."""
_GUID_TEXT = re.compile(rf"\{{?{GUID_PATTERN}\}}?")


def _portal_password(text: str) -> bool:
    """Whether ``text`` (32 characters of the portal's alphabet) reads as one of its random passwords."""
    if _GUID_TEXT.fullmatch(text) or all(_WORD.fullmatch(part) for part in _SEPARATORS.split(text) if part):
        return False
    classes = (
        any(c.islower() for c in text)
        + any(c.isupper() for c in text)
        + any(c.isdigit() for c in text)
        + any(not c.isalnum() for c in text)
    )
    return classes >= 3 and len(set(text)) >= 0.6 * len(text)


def secret_in(text: str) -> str | None:
    """What unmistakable secret ``text`` holds ("a Pulumi access token"), or None: a tenant file value or an
    option holding one is refused, never read. Fast for the common case: no marked shape is under 40
    characters, and each holds its marker."""
    if len(text) < _SHORTEST_MARKED:
        return None
    for shape, pattern in _MARKED:
        if shape.marker in text and pattern.search(text):  # type: ignore[operator]
            return shape.what
    return None


def looks_like_secret(text: str) -> bool:
    """Whether ``text`` (one token, such as a mapping key) is a secret of any known shape."""
    if len(text) < 22:
        return False
    if _SHAPES.fullmatch(text) or secret_in(text):
        return True
    return len(text) == 32 and _PORTAL_PASSWORD.fullmatch(text) is not None and _portal_password(text)


def redact(text: str) -> str:
    """``text`` with every secret-shaped run replaced by ``[redacted]``: for any message quoting user text."""
    if len(text) < 22:
        return text
    return _redact_long(text)


@functools.lru_cache(maxsize=1024)
def _redact_long(text: str) -> str:
    """Cached: the same message recurs across a fleet (one policy warning for every tenant-wide file), and
    searching it costs far more than looking it up. A pure function of its text."""
    if len(text) >= 32:  # first: a password may hold a run that alone looks like base64 ("...q2i6/t4WqV=")
        text = _PORTAL_PASSWORD.sub(lambda m: REDACTED if _portal_password(m.group()) else m.group(), text)
    return _SHAPES.sub(REDACTED, text)


# ---------------------------------------------------------------------------------------- what is shown
# Everything a user wrote or a file system named reaches a terminal, a CI log or a JSON document only through
# ``printable``: an escape sequence in a file name cannot retitle a terminal or hide the rest of a line, a
# line break in a value cannot print a line of its own, and a file name that is not UTF-8 (a Latin-1
# "café.yaml" from a Windows zip, which Python holds as a lone surrogate) is shown by its bytes instead of
# failing the JSON encoder.

# What prints as nothing or as something else: controls (C0, DEL, C1), format characters (zero-width space,
# bidirectional overrides), line and paragraph separators, private-use, unassigned and surrogate code points.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})


def escape_char(char: str) -> str:
    """One character as Python writes it in a string literal: ``\x1b``, ``\u202e``; a byte of a name that is
    not UTF-8 (held as a lone surrogate, U+DC80-U+DCFF) as that byte, ``\xe9``."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character a terminal would not show as itself written as an escape (see above);
    ordinary text, spaces of any kind included, is returned as it is."""
    if text.isprintable():  # the common case, in C
        return text
    import unicodedata

    return "".join(
        escape_char(c) if not c.isprintable() and unicodedata.category(c) in HIDDEN_CATEGORIES else c for c in text
    )


QUOTED_CHARS = 80
"""At most this many characters of a value are quoted in a message; one long value repeated through YAML
aliases would otherwise be printed in full in every problem about it."""


def quote(value: str) -> str:
    """``value`` quoted for a message, as ``repr`` quotes it, shortened past QUOTED_CHARS characters (redacted
    first, so no part of a secret survives the cut): ``'aaaa…' (300,000 characters)``."""
    if len(value) <= QUOTED_CHARS:
        return repr(value)
    return f"{redact(value)[: QUOTED_CHARS - 20]!r}… ({len(value):,} characters)"


MAX_MESSAGE_CHARS = 2_000
"""A backstop for any message that quotes without ``quote``: the middle of a longer one is left out."""


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}… ({len(text) - 2 * keep:,} characters not shown) …{text[-keep:]}"


def shown_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message as the user sees it: secrets redacted, escapes written out, at most ``limit`` characters."""
    return _bounded(printable(redact(text)), limit)


MAX_KEY_PATH_CHARS = 300
"""A key path names keys as written, and a key may be as long as the file: shown shortened past this."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one tenant file, located so an editor can jump to it.

    Every part is made safe to show on creation (``shown_text``): the file as the file system named it, the
    key path and the message as they quote what the user wrote.
    """

    file: str
    line: int
    col: int
    key_path: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "file", printable(self.file))
        object.__setattr__(self, "key_path", shown_text(self.key_path, MAX_KEY_PATH_CHARS))
        object.__setattr__(self, "message", shown_text(self.message))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


@dataclass(frozen=True, order=True)
class MoreProblems(Problem):
    """The line that stands for the problems of a file beyond those shown."""

    count: int = 0


MAX_PROBLEMS_PER_FILE = 50
"""Problems shown per file; the rest are counted ("... and 44,950 more problems in this file"). A file of
45,000 unknown keys then prints 51 lines, not megabytes. Every list of problems the user sees is held to it
(``capped``), whatever found them: the reader, the schema, the policy configuration, the exceptions."""


def capped(problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` with at most MAX_PROBLEMS_PER_FILE per file, in the order given, each file's others said
    by one line after its last one shown: "... and N more problem(s) in this file". A MoreProblems already in
    the list (problems a reader counted without building them) adds its count to that line."""
    out: list[Problem] = []
    shown: dict[str, int] = {}
    more: dict[str, int] = {}
    after: dict[str, int] = {}
    """Where each file's line goes: after its last problem shown (or where its first count was)."""
    for problem in problems:
        file = problem.file
        if isinstance(problem, MoreProblems):
            more[file] = more.get(file, 0) + problem.count
            after.setdefault(file, len(out))
        elif shown.get(file, 0) < MAX_PROBLEMS_PER_FILE:
            shown[file] = shown.get(file, 0) + 1
            out.append(problem)
            after[file] = len(out)
        else:
            more[file] = more.get(file, 0) + 1
    for file, index in sorted(((f, after[f]) for f, n in more.items() if n), key=lambda item: -item[1]):
        last = out[index - 1] if index and out[index - 1].file == file else None
        line, col = (last.line, last.col) if last is not None else (1, 1)
        message = f"... and {more[file]:,} more problem(s) in this file; fix these and run again to see the rest"
        out.insert(index, MoreProblems(file, line, col, "", message, more[file]))
    return out


def capped_file(file: str, problems: list[Problem], omitted: int) -> list[Problem]:
    """One file's problems held to the one cap (``capped``), with those a reader only counted (``omitted``)."""
    return capped([*problems, MoreProblems(file, 1, 1, "", "", omitted)] if omitted else problems)


class TaxcalcConsentError(Exception):
    """Base of every failure the user can fix; the CLI prints it without a traceback.

    Text arguments are made safe to show (``shown_text``): an error may quote an option's value, a path or a
    name the user wrote.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(shown_text(arg) if isinstance(arg, str) else arg for arg in args))


class SpecError(TaxcalcConsentError):
    """One or more tenant files are invalid. Carries the problems found, in file order, held to the cap."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = tuple(capped(dict.fromkeys(problems)))
        self.total = sum(p.count if isinstance(p, MoreProblems) else 1 for p in self.problems)
        """Every problem found, those only counted included."""
        # The problems are already safe to show, one per line: joined as they are, not escaped again.
        Exception.__init__(self, "\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, choices: Iterable[str], *, known: str | None = None) -> str:
    """The hint after an unknown name: ``; did you mean 'x'?`` for a close choice, else ``; <known>: a, b``
    (when ``known`` names the list) or nothing. Every did-you-mean in the tool says it this way."""
    import difflib

    options = list(choices)
    # A word far longer than every choice matches none; difflib would still index all of it.
    longest = max(map(len, options), default=0)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6) if len(word) <= 2 * longest + 8 else []
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; {known}: {', '.join(options)}" if known else ""
