"""Find, read and validate tenant files, reporting every problem with its file, line and key path.

A tenants folder holds one YAML file per tenant (the file stem is the tenant's short name) and
optionally ``_defaults.yaml``, deep-merged under every tenant file beside it (tenant values win,
lists replace). Files whose names start with ``_`` are never tenants.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import typing
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ValidationError

from taxcalc_consent.infra.model.catalog import PermissionCatalog, PermissionKind, graph_catalog
from taxcalc_consent.infra.model.characters import describe_char, invisible_char
from taxcalc_consent.infra.model.errors import (
    MAX_PROBLEMS_PER_FILE,
    MoreProblems,
    Problem,
    SpecError,
    TaxcalcConsentError,
    capped,
    did_you_mean,
    looks_like_secret,
    printable,
    quote,
    secret_in,
)
from taxcalc_consent.infra.model.files import Unreadable, file_kind, os_error_message, read_regular_file
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.profiles import CLIENT_ID_HELP, PROFILES
from taxcalc_consent.infra.model.spec import TenantSpec

MAX_FILE_BYTES = 1024 * 1024
"""Tenant files are small; anything larger is a mistake (or an attack on the parser)."""

MAX_NODES = 100_000
"""Upper bound on YAML nodes after alias expansion: a billion-laughs file stops here, fast."""

MAX_DEPTH = 32
"""Upper bound on nesting: a tenant file needs four levels; a few hundred would exhaust Python's stack."""

DEFAULTS_FILE = "_defaults.yaml"
TENANT_SUFFIXES = (".yaml", ".yml")

KeyPath = tuple[str | int, ...]

# Keys that hold secrets. A tenant file names the environment variable instead (auth.client_secret_env).
_SECRET_KEY = re.compile(r"secret|passw(or)?d|pwd|token|private[_-]?key|api[_-]?key|certificate", re.IGNORECASE)
_SECRET_KEY_ALLOWED = frozenset({"client_secret_env"})
_SECRET_KEY_MESSAGE = (
    "secrets never go in tenant files: put the value in an environment variable (or your CI's secret store) "
    "and name that variable in auth.client_secret_env"
)
_SECRET_VALUE_MESSAGE = (
    "this value looks like {}: remove it, rotate the secret, and name an environment variable in "
    "auth.client_secret_env instead"
)
_SECRET_AS_KEY_MESSAGE = (
    "this key looks like a client secret: remove it, rotate the secret, and name an environment variable "
    "in auth.client_secret_env instead"
)
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UsageError(TaxcalcConsentError):
    """The command was pointed at something that is not a tenant file or folder."""


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


@dataclass(frozen=True)
class LoadedTenant:
    """A validated tenant file: its short name, the path as given, the spec and where each key came from."""

    name: str
    file: str
    spec: TenantSpec
    positions: Positions
    defaults_file: str | None = None


def format_key_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# --------------------------------------------------------------------------------------------- files


class Collected(NamedTuple):
    """The tenant files a command was pointed at, and what was found beside them."""

    files: list[str]
    """Each file's path as given (a folder's files joined to the folder as given), in argument order."""
    problems: list[Problem]
    """Entries that must be tenant files and cannot be read as one, and near-miss names that are errors."""
    notices: list[Problem]
    """Near-miss names that are not errors: named, not read (warnings)."""


def collect_tenant_files(paths: Sequence[str | Path]) -> Collected:
    """Expand files and folders into tenant files, in argument order, folders in name order.

    Every ``*.yaml``/``*.yml`` entry of a folder must be a readable regular file (a folder, a pipe, a device,
    a broken or looping link is a problem), and an entry named almost like one is named, never silently
    skipped (``near_miss``). ``_``-prefixed files are skipped even when named directly, so ``tenants/*.yaml``
    from a shell works. A path given that cannot be used at all is a UsageError.
    """
    if not paths:
        raise UsageError("no tenant files given: pass tenant files or folders, e.g. examples/tenants")
    found: dict[str, str] = {}
    problems: list[Problem] = []
    notices: list[Problem] = []
    for given in paths:
        try:
            mode = os.stat(given).st_mode
        except OSError as exc:
            missing = exc.errno == errno.ENOENT and not os.path.islink(given)
            raise UsageError(
                f"{given}: {'no such file or folder' if missing else os_error_message(exc, given)}"
            ) from None
        if stat.S_ISDIR(mode):
            folder = os.fspath(given)
            names, refused, noticed = _folder_entries(folder)
            problems.extend(refused)
            notices.extend(noticed)
            if not names and not refused:
                raise UsageError(f"{given}: no tenant files (*.yaml) in this folder")
            # A name from the listing is one plain component, so its absolute path is the folder's plus it.
            absolute = os.path.abspath(folder)
            for name in names:
                shown = name if folder == "." else os.path.join(folder, name)
                found.setdefault(os.path.join(absolute, name), shown)
        elif stat.S_ISREG(mode):
            name = os.path.basename(given)
            if not _is_tenant_name(name):
                continue
            if not name.endswith(TENANT_SUFFIXES):
                # One rule for names, named directly or found in a folder: acme.YAML is refused at its file,
                # and a backup (acme.yaml~) or any other file is no tenant file (it would be stack "acme").
                missed = near_miss(name)
                if missed is not None and missed[0]:
                    problems.append(Problem(str(given), 1, 1, "", missed[1]))
                    continue
                kind = " (this one is named like a copy of one, an editor's backup say)" if missed else ""
                raise UsageError(f"{given}: not a tenant file: a tenant file's name ends in .yaml or .yml{kind}")
            found.setdefault(os.path.abspath(given), str(given))
        else:
            raise UsageError(f"{given}: {file_kind(mode)}, not a file: pass tenant files (*.yaml) or folders of them")
    if not found and not problems:
        raise UsageError("no tenant files among the paths given (files starting with _ are not tenants)")
    return Collected(list(found.values()), problems, notices)


def _folder_entries(folder: str) -> tuple[list[str], list[Problem], list[Problem]]:
    """The tenant file names in ``folder``, sorted; a problem for each *.yaml entry that is no file and for
    each near-miss name that is an error; a notice for each near-miss name that is not (``near_miss``)."""
    names: list[str] = []
    problems: list[Problem] = []
    notices: list[Problem] = []
    try:
        # os.scandir and name strings: Path objects per child cost more than validating a small file.
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if not (name.endswith(TENANT_SUFFIXES) and _is_tenant_name(name)):
                    missed = near_miss(name)
                    if missed is not None:
                        is_error, why = missed
                        shown = name if folder == "." else os.path.join(folder, name)
                        (problems if is_error else notices).append(Problem(shown, 1, 1, "", why))
                    continue
                try:
                    if entry.is_file():  # follows a symbolic link, as reading the file will
                        names.append(name)
                        continue
                    why = f"{file_kind(entry.stat().st_mode)}, not a file: a *.yaml entry here must be a tenant file"
                except OSError as exc:
                    why = os_error_message(exc, entry.path)
                shown = name if folder == "." else os.path.join(folder, name)
                problems.append(Problem(shown, 1, 1, "", why))
    except OSError as exc:
        raise UsageError(f"{folder}: cannot list this folder: {os_error_message(exc, folder)}") from None
    return sorted(names), sorted(problems), sorted(notices)


_NEAR_SUFFIXES = (".yaml", ".yml")


def near_miss(name: str) -> tuple[bool, str] | None:
    """Whether a folder entry that is not read as a tenant file was probably meant as one (or is a copy of
    one), and what to say: (True, why) for an error, (False, why) for a warning, None for neither.

    Errors: a tenant file's suffix in another case (``acme.YAML``, ``acme.Yml``), or followed by blanks or dots
    (``acme.yaml ``): written as a tenant, and on a case-insensitive file system (Windows, macOS) read as one,
    so a run here that skipped it would pass a tenant it never checked. Warnings: a name holding ``.yaml`` or
    ``.yml`` with more after it (``acme.yaml~``, ``acme.yaml.bak``, ``acme.yml.orig``, ``#acme.yaml#``): an
    editor's backup or a copy set aside, named so that it is noticed, not read. Names starting with ``_`` or
    ``.`` are never tenants (``_defaults.yaml``'s own near misses are refused where defaults are read)."""
    if name.startswith(("_", ".")):
        return None
    folded = name.casefold()
    if ".y" not in folded:  # the common case: README.md, notes.txt
        return None
    base = name.rstrip(" .\t")
    if base.lower().endswith(_NEAR_SUFFIXES):
        stem = base[: -5 if base.lower().endswith(".yaml") else -4]
        return True, (
            f"not read: a tenant file's name ends in .yaml or .yml, and this one in {quote(name[len(stem) :])}, "
            "which Windows and macOS read as a tenant file (skipped here, it would pass without a check); rename "
            f"it to {stem}.yaml, or move it out of this folder if it is no tenant"
        )
    if any(mark in folded for mark in _NEAR_SUFFIXES):
        return False, (
            "warning: not read: named like a copy of a tenant file (an editor's backup or a file set aside); "
            "delete it or move it out of this folder, or rename it to end in .yaml if it is a tenant"
        )
    return None


STACK_NAME_MAX = 100
_TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)
_TENANT_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def tenant_name_problem(name: str, *, fix: str = "rename the file, e.g. to {}.yaml") -> str | None:
    """Why ``name`` (a tenant file's name without .yaml) cannot be a tenant's short name; None when it can.

    The short name is the tenant's Pulumi stack name, so it follows Pulumi's rule for stack names
    (pulumi/pulumi sdk/go/common/tokens/stack.go, ParseStackName: letters, digits, -, _ and ., 1 to 100
    characters) and starts with a letter or digit (a leading _ or . marks a file that is not a tenant, and
    a leading - would read as an option). Names are also unique without regard to case across every file
    a command reads (see across_files): Contoso and contoso are one stack on a case-insensitive
    file system. ``validate``, ``init`` and the fleet's preflight all ask this one function; ``fix`` says
    what to do, with ``{}`` for a suggested name.
    """
    if _TENANT_NAME.fullmatch(name):  # the common case, without building a suggestion
        return None
    # "Café Crème & Co" -> "Cafe-Creme-Co": accents dropped, anything else outside the rule becomes "-".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    suggestion = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_name).strip("-_.")[:STACK_NAME_MAX]
    rename = "; " + (fix.format(suggestion) if suggestion and suggestion != name else fix.split(", e.g.")[0])
    stack = "the file name without .yaml is the tenant's Pulumi stack name"
    if not name:
        return f"an empty tenant name: {stack}{rename}"
    for index, char in enumerate(name):
        if char not in _TENANT_NAME_CHARS:
            what = repr(char) if char.isascii() and char.isprintable() else describe_char(char)
            return (
                f"{what} at position {index + 1} is not allowed in a tenant name: {stack}, which takes only "
                f"letters A-Z a-z, digits, - _ and .{rename}"
            )
    if not name[0].isalnum():
        return f"a tenant name starts with a letter or digit: {stack}{rename}"
    if len(name) > STACK_NAME_MAX:
        return f"a tenant name of {len(name)} characters: {stack}, which takes at most {STACK_NAME_MAX}{rename}"
    return None


def _is_tenant_name(name: str) -> bool:
    return not name.startswith(("_", "."))


# ---------------------------------------------------------------------------------------------- YAML


class _TooManyNodes(Exception):
    pass


class _TooDeep(Exception):
    """Raised once, at the first node nested beyond MAX_DEPTH, after recording its problem."""


class _Reader:
    """Build plain Python values from a composed YAML node tree, recording each key path's position."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions = Positions(file)
        self.problems: list[Problem] = []
        self.omitted = 0
        """Problems found beyond MAX_PROBLEMS_PER_FILE: counted, not built (they are never shown)."""
        self.nodes = 0

    def refuse(self, path: KeyPath, message: str) -> None:
        """Record a problem at ``path`` (found in document order, so the first ones are the ones shown)."""
        if len(self.problems) < MAX_PROBLEMS_PER_FILE:
            self.problems.append(self.positions.problem(path, message))
        else:
            self.omitted += 1

    def read(self, node: yaml.Node, path: KeyPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooManyNodes
        tag = node.tag
        if tag == _STR_TAG:  # the common case first: most values are short, printable text
            value: str = node.value
            # Only text of 40 characters or more can hold a secret of a marked shape, and only text that is not
            # all printable an invisible character or a line break (both tests in C): the rest is as written.
            if len(value) >= 40 or not value.isprintable():
                return self._text(value, path)
            return value
        if len(path) >= MAX_DEPTH and tag in (_MAP_TAG, _SEQ_TAG):
            start = node.start_mark
            message = f"nested more than {MAX_DEPTH} levels deep; a tenant file needs no more than four"
            self.problems.append(Problem(self.file, start.line + 1, start.column + 1, format_key_path(path), message))
            raise _TooDeep
        if tag == _MAP_TAG and isinstance(node, yaml.MappingNode):
            braced = _braced_guid(node) if node.flow_style and len(node.value) == 1 else None
            if braced is not None:
                # {6e2b...} unquoted is a YAML mapping with one key and no value; "a valid string" would puzzle.
                self.refuse(path, f"write the GUID without braces: {braced}")
                return None
            return self._read_mapping(node, path)
        if tag == _SEQ_TAG and isinstance(node, yaml.SequenceNode):
            out = []
            for index, item in enumerate(node.value):
                item_path = (*path, index)
                start = item.start_mark
                self.positions.by_path[item_path] = (self.file, start.line + 1, start.column + 1)
                out.append(self.read(item, item_path))
            return out
        try:
            value = _construct(node)
        except yaml.constructor.ConstructorError as exc:
            self.refuse(path, _yaml_message(exc))
            return None
        except ValueError:
            # PyYAML resolves 2027-13-01 as a timestamp, then datetime refuses it.
            self.refuse(path, "invalid date: expected a real date as YYYY-MM-DD")
            return None
        # What another tag makes is checked as what it becomes: !!binary bytes are text to the model (pydantic
        # decodes them), and !!set, !!omap and !!pairs hold text too. None of it escapes the checks on text.
        return self._constructed(value, path)

    def _text(self, value: str, path: KeyPath) -> str | None:
        """A text value as it will be used, or None (and a problem) when it may not be: a secret of a known
        shape, an invisible character, a line break (a value is one line)."""
        kind = secret_in(value)  # returns at once for text under 40 characters
        if kind is not None:
            self.refuse(path, _SECRET_VALUE_MESSAGE.format(kind))
            return None
        # Only text that is not all printable can hold an invisible character or a line break (in C, fast).
        if not value.isprintable():
            hidden = invisible_char(value)
            if hidden is not None:
                self.refuse(path, hidden)
                return None
        return value

    def _constructed(self, value: Any, path: KeyPath) -> Any:
        if isinstance(value, bytes):
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                self.refuse(path, "binary data that is not UTF-8 text: a tenant file holds text, never !!binary")
                return None
            return self._text(text, path)
        if isinstance(value, str):
            return self._text(value, path)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self._constructed(item, path) for item in value]
            return None if any(item is None for item in items) else type(value)(items)
        if isinstance(value, dict):
            pairs = [(self._constructed(k, path), self._constructed(v, path)) for k, v in value.items()]
            return None if any(k is None for k, _ in pairs) else dict(pairs)
        return value

    def _refuse_key(self, mark: Mark, path: KeyPath, message: str) -> None:
        """A problem at a key itself (its own position), for keys that never make it into the document."""
        if len(self.problems) < MAX_PROBLEMS_PER_FILE:
            self.problems.append(Problem(*mark, format_key_path(path), message))
        else:
            self.omitted += 1

    def _read_mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            start = key_node.start_mark
            mark: Mark = (self.file, start.line + 1, start.column + 1)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._refuse_key(
                    mark, path, "YAML merge keys (<<) are not supported: put shared settings in _defaults.yaml"
                )
                continue
            if key_node.tag == _STR_TAG:
                key: Any = key_node.value
            elif isinstance(key_node, yaml.ScalarNode):
                key = _construct(key_node)
            else:
                key = None
            if not isinstance(key, str):
                self._refuse_key(mark, path, "keys must be plain text")
                continue
            if not key.isprintable():
                hidden = invisible_char(key)
                if hidden is not None:
                    self._refuse_key(mark, path, f"a key {hidden}")
                    continue
            if key in first_seen:
                first_line = first_seen[key][1]
                self._refuse_key(mark, (*path, key), f"duplicate key (first written at line {first_line}); keep one")
                continue
            first_seen[key] = mark
            key_path = (*path, key)
            self.positions.by_path[key_path] = mark
            if key not in _ORDINARY_KEYS:
                refused = _key_refusal(key)
                if refused == _SECRET_AS_KEY_MESSAGE:
                    self._refuse_key(mark, path, refused)
                    continue
                if refused is not None:
                    # Refused here, before the value is even constructed, so it can never be echoed.
                    self.refuse(key_path, refused)
                    continue
                if len(_ORDINARY_KEYS) < 1024:  # the keys of tenant files are few; a hostile file's are not
                    _ORDINARY_KEYS.add(key)
            out[key] = self.read(value_node, key_path)
        return out


_ORDINARY_KEYS: set[str] = set()
"""Keys already found to be neither a secret nor a secret's name: every tenant file repeats the same few
(a refused key is never remembered, so no secret is kept here)."""


def _key_refusal(key: str) -> str | None:
    """Why a mapping key is refused for what it says (a secret written as a key, or a key that names a
    secret); None when it is not."""
    if len(key) >= 22 and looks_like_secret(key):  # the shortest secret shape has 22 characters
        return _SECRET_AS_KEY_MESSAGE
    if _SECRET_KEY.search(key) and key not in _SECRET_KEY_ALLOWED:
        return _SECRET_KEY_MESSAGE
    return None


_SCALARS = yaml.constructor.SafeConstructor()
"""Shared by every reader: PyYAML's constructors of scalars (bool, int, float, null, timestamp, binary)
keep no state, unlike ``construct_object``, which remembers every node it built."""


def _construct(node: yaml.Node) -> Any:
    """A value PyYAML's safe loader would build for ``node`` (not text, a mapping or a list: those are read
    above); ConstructorError for a tag it does not know, as ``yaml.safe_load`` raises."""
    if isinstance(node, yaml.ScalarNode):
        constructors: dict[str | None, Callable[[Any, yaml.Node], Any]] = _SCALARS.yaml_constructors
        construct = constructors.get(node.tag) or constructors[None]
        return construct(_SCALARS, node)
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)  # !!set, !!omap and the like


def _braced_guid(node: yaml.MappingNode) -> str | None:
    """The GUID in ``{6e2b...}`` written unquoted (a flow mapping of one key with no value), else None."""
    key, value = node.value[0]
    if key.tag == _STR_TAG and value.tag == "tag:yaml.org,2002:null" and value.value == "" and is_guid(key.value):
        return str(key.value).lower()
    return None


def _distinct_nodes(root: yaml.Node) -> int:
    """How many nodes the file itself holds, each alias counted once (the error path only)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return len(seen)


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    # Only Graph-free, value-free parts: ``str(exc)`` would quote the offending line, maybe a secret.
    parts = [p for p in (exc.context, exc.problem) if p]
    return "invalid YAML: " + "; ".join(parts) if parts else "invalid YAML"


# What YAML 1.1 allows in a stream (yaml.org/spec/1.1/#c-printable); the parser refuses the rest.
_NOT_YAML_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _unprintable_problem(text: str, shown: str) -> Problem:
    found = _NOT_YAML_PRINTABLE.search(text)
    if found is None:  # the parser refused something this pattern does not know: still say where to look
        return Problem(shown, 1, 1, "", "invalid YAML: the file holds a character YAML does not allow")
    line, col = _line_col(text, found.start())
    return Problem(
        shown, line, col, "", f"{describe_char(found.group())} is not allowed in YAML: delete it (save as plain text)"
    )


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, lines counted by LF alone, as editors, grep and git do."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# Line breaks to YAML 1.1 that editors, grep and git do not count as such: NEL (U+0085), LINE SEPARATOR,
# PARAGRAPH SEPARATOR and a CR not followed by LF (CRLF endings are fine). The parser would count lines by
# them, so every position after one would name the wrong line, and a pasted one inside a value would quietly
# split or fold it. Each is refused where it is, named, before the file is parsed.
_YAML_ONLY_BREAK = re.compile("[\x85\u2028\u2029]|\r(?!\n)")


def _yaml_only_break(text: str, shown: str) -> Problem | None:
    if text.isascii() and "\r" not in text:  # the common case, in C
        return None
    found = _YAML_ONLY_BREAK.search(text)
    if found is None:
        return None
    line, col = _line_col(text, found.start())
    return Problem(
        shown,
        line,
        col,
        "",
        f"{describe_char(found.group())} is a line break to YAML but not to editors: a tenant file breaks lines "
        "with LF (or CRLF) only, and a value is one line; delete it (retype the text rather than pasting it)",
    )


class ReadYaml(NamedTuple):
    """One YAML file read into plain values: None when it could not be read as a mapping."""

    value: dict[str, Any] | None
    positions: Positions
    problems: list[Problem]
    omitted: int = 0
    """Problems beyond MAX_PROBLEMS_PER_FILE, counted only."""


def read_yaml_file(path: str | Path, shown: str) -> ReadYaml:
    """Read one YAML file into plain values and positions. Never raises for the file's content."""
    try:
        raw = read_regular_file(path, MAX_FILE_BYTES, expected="a YAML text file")
    except Unreadable as exc:
        return ReadYaml(None, Positions(shown), [Problem(shown, 1, 1, "", str(exc))])
    if len(raw) > MAX_FILE_BYTES:
        size = max(len(raw), os.stat(path).st_size)
        message = f"file is {size:,} bytes; tenant files are limited to 1 MiB"
        return ReadYaml(None, Positions(shown), [Problem(shown, 1, 1, "", message)])
    return parse_yaml(raw, shown)


def parse_yaml(raw: bytes, shown: str) -> ReadYaml:
    """Parse the bytes of a tenant file (or of one about to be written, by ``init``) as ``shown``."""
    start = Positions(shown)

    def refused(line: int, col: int, message: str) -> ReadYaml:
        return ReadYaml(None, start, [Problem(shown, line, col, "", message)])

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return refused(line, col, f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8")
    odd_break = _yaml_only_break(text, shown)
    if odd_break is not None:
        return ReadYaml(None, start, [odd_break])
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return refused(line, col, _yaml_message(exc))
    except yaml.reader.ReaderError:
        return ReadYaml(None, start, [_unprintable_problem(text, shown)])
    except yaml.YAMLError as exc:
        return refused(1, 1, f"invalid YAML: {type(exc).__name__}")
    except RecursionError:  # the pure-Python parser recurses per level; libyaml stops at its own limit
        return refused(1, 1, f"nested more than {MAX_DEPTH} levels deep; refusing to read it")
    if root is None:
        return refused(
            1,
            1,
            "file is empty: `taxcalc-consent init` writes a tenant file (`taxcalc-consent schema` lists every key)",
        )
    reader = _Reader(shown)
    reader.positions.by_path[()] = (shown, root.start_mark.line + 1, root.start_mark.column + 1)
    try:
        value = reader.read(root, ())
    except _TooDeep:
        return ReadYaml(None, start, reader.problems)
    except _TooManyNodes:
        why = "YAML aliases expand" if _distinct_nodes(root) < MAX_NODES else "the file holds"
        return refused(1, 1, f"{why} to more than {MAX_NODES:,} values; refusing to read it")
    if not isinstance(value, dict):
        where = reader.positions.locate(())
        reader.problems.append(
            Problem(shown, where.line, where.col, "", "expected a mapping of keys (tenant:, consent:, ...)")
        )
        value = None
    return ReadYaml(value, reader.positions, reader.problems, reader.omitted)


# -------------------------------------------------------------------------------------------- merge


def merge_defaults(
    defaults: Mapping[str, Any], tenant: Mapping[str, Any], defaults_pos: Positions, tenant_pos: Positions
) -> tuple[dict[str, Any], Positions]:
    """Deep-merge ``tenant`` over ``defaults``: mappings merge, everything else (lists too) replaces."""

    def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in over.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    positions = Positions(tenant_pos.file, {**defaults_pos.by_path, **tenant_pos.by_path})
    if () in tenant_pos.by_path:
        positions.by_path[()] = tenant_pos.by_path[()]
    else:
        positions.by_path.pop((), None)
    return merge(defaults, tenant), positions


# ---------------------------------------------------------------------------------------- validation


def _fields_at(loc: Sequence[str | int]) -> list[str]:
    """The field names (as written in YAML) valid at a pydantic error location, for did-you-mean."""
    model: Any = TenantSpec
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        by_alias = {(f.alias or name): f for name, f in model.model_fields.items()}
        info = by_alias.get(part)
        if info is None:
            return []
        model = _model_in(info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _error_loc(error: Mapping[str, Any]) -> KeyPath:
    loc: KeyPath = tuple(error["loc"])
    return loc[:-1] if loc[-1:] == ("[key]",) else loc  # pydantic's marker for "the key itself"


def _error_path(error: Mapping[str, Any]) -> KeyPath:
    """Where a pydantic error is reported: a missing key at its parent, anything else at itself."""
    loc = _error_loc(error)
    return loc[:-1] if error["type"] == "missing" else loc


def _schema_problems(error: Mapping[str, Any], positions: Positions) -> Problem:
    loc = _error_loc(error)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        hint = did_you_mean(key, _fields_at(loc[:-1]), known="expected one of")
        return positions.problem(loc, f"unknown key {quote(key)}{hint}")
    if kind == "missing":
        where = positions.locate(loc[:-1])
        return Problem(where.file, where.line, where.col, format_key_path(loc), f"missing required key {loc[-1]!r}")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in {"date_from_datetime_parsing", "date_parsing", "date_type", "date_from_datetime_inexact"}:
        message = "expected a date as YYYY-MM-DD"
    elif kind in {"model_type", "dict_type"}:
        # pydantic would name the Python class ("instance of ConsentSection"), which means nothing here.
        message = "expected a mapping of keys (key: value lines), not a list or a single value"
    return positions.problem(loc, message)


_MISSING_CLIENT_ID = "missing application id"


def _semantic_problems(
    spec: TenantSpec, own: Mapping[str, Any], positions: Positions, catalog: PermissionCatalog
) -> Iterator[Problem]:
    """Checks across keys and against the catalog and profiles."""
    app, consent = spec.app, spec.consent
    if "policy" in own:
        yield positions.problem(
            ("policy",),
            "policy settings belong in _defaults.yaml, so that one tenant file cannot loosen its own policy",
        )
    profile = PROFILES.get(app.profile)
    if profile is None:
        hint = did_you_mean(app.profile, sorted(PROFILES), known="known profiles")
        yield positions.problem(("app", "profile"), f"unknown profile {quote(app.profile)}{hint}")
    own_app = own.get("app") if isinstance(own.get("app"), Mapping) else {}
    if app.register_app:
        if isinstance(own_app, Mapping) and own_app.get("client_id") is not None:
            yield positions.problem(
                ("app", "client_id"),
                "remove client_id: with register: true Entra assigns the application id when it creates the app",
            )
    else:
        if app.client_id is None and (profile is None or profile.client_id is None):
            yield positions.problem(("app", "client_id"), f"{_MISSING_CLIENT_ID}. {CLIENT_ID_HELP}")
        if app.redirect_uris:
            yield positions.problem(("app", "redirect_uris"), "redirect_uris only apply with register: true")

    if consent.scopes is not None and not consent.scopes:
        yield positions.problem(
            ("consent", "scopes"),
            "an empty list grants nothing: list scopes, or remove the key to use the profile's scopes",
        )

    if consent.mode == "users":
        if not consent.users and not consent.groups:
            yield positions.problem(
                ("consent", "mode"),
                "users mode needs consent.users or consent.groups (or use mode: organization for every user)",
            )
    else:
        for key in ("users", "groups"):
            if getattr(consent, key):
                yield positions.problem(
                    ("consent", key),
                    f"consent.{key} only applies in users mode: organization mode already grants every user; "
                    "remove it or set mode: users",
                )
    for section, key in (
        ("consent", "users"),
        ("consent", "groups"),
        ("access", "users"),
        ("access", "groups"),
    ):
        values: list[str] = getattr(getattr(spec, section), key)
        yield from _duplicate_problems([v.casefold() for v in values], (section, key), positions)
    yield from _consent_settings_problems(spec, own, positions)


_CONSENT_SETTING_WORDS = {
    "user_consent": "the user consent setting",
    "admin_consent_workflow": "the admin consent workflow",
}


def _consent_settings_problems(spec: TenantSpec, own: Mapping[str, Any], positions: Positions) -> Iterator[Problem]:
    """The tenant-wide consent settings: a tenant file sets only what its folder's policy lets it set."""
    written = own.get("consent_settings")
    allowed = set(spec.policy.consent_settings_in_tenant_files)
    for key in written if isinstance(written, Mapping) else ():
        if key in _CONSENT_SETTING_WORDS and key not in allowed:
            yield positions.problem(
                ("consent_settings", key),
                f"{_CONSENT_SETTING_WORDS[key]} applies to every app in the tenant, so it is set in _defaults.yaml: "
                f"this folder's policy.consent_settings_in_tenant_files does not list {key} (add it there, after "
                "review, to let tenant files set it)",
            )
    workflow = spec.consent_settings.admin_consent_workflow
    if workflow is not None and workflow.reviewers is not None:
        path: KeyPath = ("consent_settings", "admin_consent_workflow", "reviewers")
        reviewers = workflow.reviewers
        for key, values in (("users", reviewers.users), ("groups", reviewers.groups), ("roles", reviewers.roles)):
            yield from _duplicate_problems([v.casefold() for v in values], (*path, key), positions)


def _permission_problems(
    names: Sequence[str],
    kind: PermissionKind,
    path: KeyPath,
    positions: Positions,
    catalog: PermissionCatalog,
) -> tuple[list[Problem], int]:
    """Unknown and repeated names, the first MAX_PROBLEMS_PER_FILE of them explained, the rest counted."""
    problems: list[Problem] = []
    omitted = 0
    for index, name in enumerate(names):
        if not isinstance(name, str) or catalog.get(kind, name) is None:
            if len(problems) < MAX_PROBLEMS_PER_FILE:
                problems.append(positions.problem((*path, index), catalog.explain_unknown(kind, str(name))))
            else:
                omitted += 1
    problems.extend(_duplicate_problems(list(names), path, positions))
    return problems, omitted


def _duplicate_problems(values: Sequence[str], path: KeyPath, positions: Positions) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first:
            line = positions.locate((*path, first[value])).line
            yield positions.problem((*path, index), f"listed twice (first at line {line}); remove one")
        else:
            first[value] = index


class Validated(NamedTuple):
    spec: TenantSpec | None
    """None when there is any problem."""
    problems: list[Problem]
    omitted: int = 0
    """Problems beyond MAX_PROBLEMS_PER_FILE per source, counted but not explained."""


def validate_document(
    document: dict[str, Any],
    own: Mapping[str, Any],
    positions: Positions,
    catalog: PermissionCatalog,
    *,
    defaults_complete: bool = True,
) -> Validated:
    """Check one merged tenant document. With ``defaults_complete`` false (its _defaults.yaml had problems,
    already reported), a key that the defaults may have been meant to supply is not reported missing:
    "missing application id" beside an unreadable _defaults.yaml would send the user the wrong way.

    Only the first MAX_PROBLEMS_PER_FILE problems of each kind, in file order, are explained (a did-you-mean
    costs far more than finding the problem); the rest are counted, so the time stays linear and small."""
    problems: list[Problem] = []
    omitted = 0
    # Catalog checks read the raw lists, so an unknown scope is reported even when other keys are wrong.
    consent = document.get("consent")
    kinds: tuple[tuple[str, PermissionKind], ...] = (("scopes", "delegated"), ("app_roles", "application"))
    for key, kind in kinds:
        names = consent.get(key) if isinstance(consent, dict) else None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            found, more = _permission_problems(names, kind, ("consent", key), positions, catalog)
            problems.extend(found)
            omitted += more
    spec: TenantSpec | None = None
    try:
        spec = TenantSpec.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if not defaults_complete:
            errors = [e for e in errors if e["type"] != "missing" or e["loc"][:1] == ("tenant",)]
        if len(errors) > MAX_PROBLEMS_PER_FILE:
            errors.sort(key=lambda e: positions.locate(_error_path(e)))
            omitted += len(errors) - MAX_PROBLEMS_PER_FILE
            del errors[MAX_PROBLEMS_PER_FILE:]
        problems.extend(_schema_problems(e, positions) for e in errors)
    if spec is not None:
        found_semantic = _semantic_problems(spec, own, positions, catalog)
        problems.extend(p for p in found_semantic if defaults_complete or not p.message.startswith(_MISSING_CLIENT_ID))
    return Validated(None if problems else spec, problems, omitted)


def _capped(shown: str, problems: list[Problem], omitted: int) -> list[Problem]:
    """A file's problems held to the one cap (``errors.capped``), with those only counted (``omitted``)."""
    return capped([*problems, MoreProblems(shown, 1, 1, "", "", omitted)] if omitted else problems)


def load_tenants(paths: Sequence[str | Path], catalog: PermissionCatalog | None = None) -> list[LoadedTenant]:
    """Load, merge and validate every tenant file under ``paths``; raise SpecError listing all problems."""
    return list(iter_tenants(paths, catalog))


def iter_tenants(paths: Sequence[str | Path], catalog: PermissionCatalog | None = None) -> Iterator[LoadedTenant]:
    """Like ``load_tenants``, yielding each valid tenant as soon as its file is read, so a caller can plan
    it and let it go: a fleet of thousands of tenant files is never held in memory at once (and the
    garbage collector, which walks every live object now and then, never has thousands to walk).

    SpecError, listing every problem of every file, is raised after the last tenant: a caller must use
    nothing it was given before the generator is exhausted without an error."""
    files, problems, _ = collect_tenant_files(paths)
    identities: list[Identity] = []
    yield from check_files(files, catalog or graph_catalog(), problems, identities)
    problems.extend(across_files(identities))
    if problems:
        raise SpecError(problems)


class Identity(NamedTuple):
    """What the checks across tenant files need of a tenant: its id, where the id is written, its name."""

    tenant_id: str
    written: Position
    name: str
    file: str


def check_files(
    files: Sequence[str], catalog: PermissionCatalog, problems: list[Problem], identities: list[Identity]
) -> Iterator[LoadedTenant]:
    """Check ``files`` (from ``collect_tenant_files``) one after another, yielding each valid tenant, adding
    each file's problems to ``problems`` and each tenant's identity to ``identities``, for ``across_files``.
    Raises nothing for the files' content: the caller decides when the problems become a SpecError."""
    defaults_cache: dict[str, _Defaults] = {}
    for path in files:
        defaults = _defaults_for(path, defaults_cache, problems)
        stem = os.path.splitext(os.path.basename(path))[0]  # as named: its name is checked, escapes and all
        # What messages and documents show of the path: as given, unless it holds what a terminal or JSON
        # cannot show as itself (an escape sequence, a byte of a name that is not UTF-8).
        shown = path if path.isprintable() else printable(path)
        tenant, found = _check_tenant_file(stem, shown, read_yaml_file(path, shown), defaults, catalog)
        problems.extend(found)
        if tenant is not None:
            written = tenant.positions.locate(("tenant", "id"))
            identities.append(Identity(tenant.spec.tenant.id, written, tenant.name, tenant.file))
            yield tenant


def check_new_tenant(text: str, path: Path, catalog: PermissionCatalog | None = None) -> LoadedTenant:
    """Validate ``text`` as ``validate`` would once it is written to ``path``, beside the folder's
    _defaults.yaml and other tenant files; raise SpecError (located in ``path``'s lines) otherwise.

    ``init`` calls this before writing, so it never writes a file that ``validate`` then refuses.
    """
    shown = str(path)
    problems: list[Problem] = []
    defaults = _defaults_for(shown, {}, problems)
    tenant, found = _check_tenant_file(
        path.stem, shown, parse_yaml(text.encode("utf-8"), shown), defaults, catalog or graph_catalog()
    )
    problems.extend(found)
    if tenant is not None:
        problems.extend(_sibling_problems(tenant, path.parent))
    if problems or tenant is None:
        raise SpecError(problems)
    return tenant


def _sibling_problems(tenant: LoadedTenant, folder: Path) -> Iterator[Problem]:
    """The same short name (in any case) or tenant id in another file of ``folder``, read leniently."""
    if not folder.is_dir():
        return
    names = _folder_entries(os.fspath(folder))[0]
    for name in names:
        other = folder / name
        stem = Path(name).stem
        if stem.casefold() == tenant.name.casefold():
            yield Problem(
                tenant.file,
                1,
                1,
                "",
                f"{other} already names this stack (stack names ignore case); choose another name",
            )
            continue
        read = read_yaml_file(other, str(other))
        section = read.value.get("tenant") if read.value else None
        other_id = section.get("id") if isinstance(section, dict) else None
        if isinstance(other_id, str) and other_id.strip().lower() == tenant.spec.tenant.id:
            where = read.positions.locate(("tenant", "id"))
            yield tenant.positions.problem(
                ("tenant", "id"), f"tenant id is also used by {where.file}:{where.line}; one file per tenant"
            )


def folder_defaults(folder: Path) -> tuple[dict[str, Any], bool]:
    """What ``folder``'s _defaults.yaml merges under each tenant file, and whether it was read without a
    problem (its problems themselves are reported by the load that uses it)."""
    defaults = _defaults_for(str(folder / "x.yaml"), {}, [])
    return defaults.value, defaults.complete


def _check_tenant_file(
    name: str, shown: str, read: ReadYaml, defaults: _Defaults, catalog: PermissionCatalog
) -> tuple[LoadedTenant | None, list[Problem]]:
    """One tenant file, read and merged over its folder's defaults: the tenant, or its problems (capped)."""
    found: list[Problem] = []
    name_problem = tenant_name_problem(name)
    if name_problem is not None:
        found.append(Problem(shown, 1, 1, "", name_problem))
    if read.value is None:
        return None, _capped(shown, [*found, *read.problems], read.omitted)
    if defaults.shown is None:
        document, positions = read.value, read.positions
    else:
        document, positions = merge_defaults(defaults.value, read.value, defaults.positions, read.positions)
    validated = validate_document(document, read.value, positions, catalog, defaults_complete=defaults.complete)
    # Whose id it is matters once it is an id: a malformed one is reported as such, and only that.
    malformed = any(p.key_path == "app.client_id" for p in validated.problems)
    owned = [] if malformed else _replaced_client_id(defaults, read.value, positions)
    # A value the YAML reader already refused (a bad date, say) is not reported a second time.
    refused = {(p.file, p.key_path) for p in read.problems}
    later = (p for p in (*validated.problems, *owned) if (p.file, p.key_path) not in refused)
    found += sorted([*read.problems, *later])
    if validated.spec is not None and not found:
        return LoadedTenant(name, shown, validated.spec, positions, defaults.shown), []
    return None, _capped(shown, found, read.omitted + validated.omitted)


def _replaced_client_id(defaults: _Defaults, own: Mapping[str, Any], positions: Positions) -> list[Problem]:
    """TaxCalc-Hub's application id belongs to the _defaults.yaml that sets it: a tenant file naming another
    one would move the consent, tenant-wide Mail.Send included, to another application without the review
    _defaults.yaml gets, while the plan still says TaxCalc-Hub. Refused at the tenant file's line, unless the
    defaults' own policy says ``client_id_in_tenant_files: true``. The same id, written again, is no change."""
    ours = _value_at(own, ("app", "client_id"))
    theirs = _value_at(defaults.value, ("app", "client_id"))
    if not isinstance(ours, str) or not isinstance(theirs, str) or defaults.shown is None:
        return []
    if ours.strip().lower() == theirs.strip().lower() or _value_at(defaults.value, _CLIENT_ID_POLICY) is True:
        return []
    where = defaults.positions.locate(("app", "client_id"))
    return [
        positions.problem(
            ("app", "client_id"),
            f"TaxCalc-Hub's application id is set for every tenant in this folder in {where.file}:{where.line}, "
            "and a tenant file may not replace it (consent here would go to another application without the "
            "review _defaults.yaml gets): remove app.client_id from this file, or, after review, let tenant "
            f"files set it with policy.{_CLIENT_ID_POLICY[-1]}: true in _defaults.yaml",
        )
    ]


_CLIENT_ID_POLICY: KeyPath = ("policy", "client_id_in_tenant_files")


@dataclass(frozen=True)
class _Defaults:
    """A folder's _defaults.yaml as merged under each of its tenant files."""

    value: dict[str, Any]
    positions: Positions
    shown: str | None
    """The file as shown in messages; None when the folder has none."""
    complete: bool = True
    """False when the file had problems: what it may have meant to supply is then not reported missing."""


# Keys that say which client a file is about. _defaults.yaml is merged under every tenant file in its
# folder, so one of these there would silently point every tenant at the same client, e.g. plan consent
# meant for one firm into another firm's tenant. auth.client_id stays allowed: an MSP commonly signs in
# to every client tenant with one multi-tenant automation app, so its id is shared by design.
_IDENTITY_KEYS: dict[KeyPath, str] = {
    ("tenant",): (
        "the tenant section says which client a file is about: write it in each tenant file, never in "
        "_defaults.yaml, which applies to every tenant in the folder"
    ),
    ("consent", "users"): (
        "users belong to one client's directory: list them in that tenant's file, not in _defaults.yaml"
    ),
    ("access", "users"): (
        "users belong to one client's directory: list them in that tenant's file, not in _defaults.yaml"
    ),
    ("consent_settings", "admin_consent_workflow", "reviewers", "users"): (
        "reviewers who are users belong to one client's directory: list them in that tenant's file (its folder's "
        "policy.consent_settings_in_tenant_files must list admin_consent_workflow), or name a directory role here"
    ),
}
_GROUP_LISTS: tuple[KeyPath, ...] = (
    ("consent", "groups"),
    ("access", "groups"),
    ("consent_settings", "admin_consent_workflow", "reviewers", "groups"),
)
_GROUP_ID_IN_DEFAULTS = (
    "a group object id exists in one client's directory only: list it in that tenant's file "
    "(a group display name used in every tenant may stay here)"
)


def _without_identity_keys(value: dict[str, Any], positions: Positions) -> tuple[dict[str, Any], list[Problem]]:
    """Refuse (located) and drop the keys of ``_defaults.yaml`` that identify one client."""
    problems: list[Problem] = []
    out = dict(value)
    for path, message in _IDENTITY_KEYS.items():
        parent: Any = out
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            problems.append(positions.problem(path, message))
    for group_path in _GROUP_LISTS:
        groups = _value_at(out, group_path)
        for index, group in enumerate(groups if isinstance(groups, list) else []):
            if isinstance(group, str) and is_guid(group.strip().strip("{}")):
                problems.append(positions.problem((*group_path, index), _GROUP_ID_IN_DEFAULTS))
    if problems:
        out.pop("tenant", None)
        for list_path in (*_GROUP_LISTS, *(p for p in _IDENTITY_KEYS if len(p) > 1)):
            out = _without(out, list_path)
    return out, problems


def _value_at(document: Mapping[str, Any], path: KeyPath) -> Any:
    node: Any = document
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _without(document: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    """``document`` without the key at ``path`` (copied along the way; the rest shared)."""
    head, *rest = path
    if head not in document:
        return document
    out = dict(document)
    if not rest:
        del out[head]
    elif isinstance(out[head], dict):
        out[head] = _without(out[head], tuple(rest))
    return out


_NO_DEFAULTS = _Defaults({}, Positions(""), None)


def _defaults_for(shown: str, cache: dict[str, _Defaults], problems: list[Problem]) -> _Defaults:
    """The defaults merged under the tenant file ``shown`` (its path as given), read once per folder (``cache``
    is keyed by the folder as given, which costs no system call per file, and by its absolute path, so two
    spellings share one reading)."""
    given = os.path.dirname(shown)
    found = cache.get(given)
    if found is None:
        # abspath, not resolve(): realpath's per-component lstat calls cost more than validating the file.
        folder = os.path.abspath(given)
        found = cache.get(folder)
        if found is None:
            found = _read_defaults(folder, shown, problems)
        cache[given] = cache[folder] = found
    return found


def _read_defaults(folder: str, shown: str, problems: list[Problem]) -> _Defaults:
    defaults_path = str(Path(shown).parent / DEFAULTS_FILE)
    defaults_shown = printable(defaults_path)
    if not os.path.lexists(defaults_path):
        misnamed = _misnamed_defaults(folder)
        if misnamed is None:
            return _NO_DEFAULTS
        # Tenant files may end in .yml, so _defaults.yml looks right; its policy must not silently
        # not apply. Nothing of it is read, and what it may have supplied is not reported missing.
        problems.append(
            Problem(
                str(Path(shown).parent / misnamed),
                1,
                1,
                "",
                f"not read: a folder's defaults are read only from {DEFAULTS_FILE}; rename this file "
                f"to {DEFAULTS_FILE}",
            )
        )
        return _Defaults({}, Positions(""), None, complete=False)
    # A folder, a FIFO or a dangling link named _defaults.yaml is reported, never silently skipped.
    value, positions, read_problems, omitted = read_yaml_file(defaults_path, defaults_shown)
    found = _capped(defaults_shown, read_problems, omitted)
    if value is not None:
        value, refused = _without_identity_keys(value, positions)
        found = [*found, *refused]
    problems.extend(found)
    if value is None or found:
        # Keep what could be read of it, so tenant files are still checked against the rest; the run
        # fails on the problems above either way.
        return _Defaults(value or {}, positions, defaults_shown, complete=False)
    return _Defaults(value, positions, defaults_shown)


_DEFAULTS_NEAR_MISSES = frozenset({"_defaults.yaml", "_defaults.yml", "_default.yaml", "_default.yml"})


def _misnamed_defaults(folder: str) -> str | None:
    """A file in ``folder`` meant as its _defaults.yaml but named otherwise (``_defaults.yml``, another
    case, the singular), or None. Asked only when _defaults.yaml is absent: one listing per folder."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None  # the folder's own listing reports this
    return next((n for n in sorted(names) if n.casefold() in _DEFAULTS_NEAR_MISSES and n != DEFAULTS_FILE), None)


def across_files(identities: Iterable[Identity]) -> list[Problem]:
    """The checks across tenant files, in file order: one tenant id, and one short name (in any case), per
    file."""
    problems: list[Problem] = []
    ids: dict[str, Position] = {}
    names: dict[str, tuple[str, str]] = {}
    for tenant in identities:
        first_id = ids.get(tenant.tenant_id)
        if first_id is None:
            ids[tenant.tenant_id] = tenant.written
        else:
            where = tenant.written
            message = f"tenant id is also used by {first_id.file}:{first_id.line}; one file per tenant"
            problems.append(Problem(where.file, where.line, where.col, "tenant.id", message))
        first_name, first_file = names.setdefault(tenant.name.casefold(), (tenant.name, tenant.file))
        if first_file == tenant.file:  # this tenant itself: files are listed once each
            continue
        if first_name == tenant.name:
            why = f"short name {tenant.name!r} is also used by {first_file}"
        else:
            why = (
                f"short name {tenant.name!r} differs from {first_name!r} ({first_file}) only in case, and "
                "case-insensitive file systems and state backends would take them for one"
            )
        problems.append(
            Problem(tenant.file, 1, 1, "", f"{why}; stacks are named after the file stem, so rename one file")
        )
    return problems
