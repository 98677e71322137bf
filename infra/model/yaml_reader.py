"""The hardened YAML reader: one tenant file (or _defaults.yaml, or _rollout.yaml) into plain values and the
position of every key path, refusing what a tenant file must never hold.

Bounded in size, nodes and depth (a billion-laughs file or a deep nest stops fast); a secret, a key naming a
secret, an invisible character or a line break in a value is refused where it is written, before it is used
or echoed. Never raises for a file's content: every problem comes back located.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from taxcalc_consent.infra.model.characters import describe_char, invisible_char
from taxcalc_consent.infra.model.errors import MAX_PROBLEMS_PER_FILE, Problem, looks_like_secret, secret_in
from taxcalc_consent.infra.model.files import TooLarge, Unreadable, read_regular_file
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.positions import KeyPath, Mark, Positions, format_key_path

MAX_FILE_BYTES = 1024 * 1024
"""Tenant files are small; anything larger is a mistake (or an attack on the parser)."""

MAX_NODES = 100_000
"""Upper bound on YAML nodes after alias expansion: a billion-laughs file stops here, fast."""

MAX_DEPTH = 32
"""Upper bound on nesting: a tenant file needs four levels; a few hundred would exhaust Python's stack."""


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


_TAB_INDENT = (
    "a tab indents this line: YAML does not allow tabs for indentation; indent with spaces (2 per level; most "
    "editors can insert spaces when Tab is pressed)"
)


def _indenting_tab(text: str, line: int) -> int | None:
    """The 1-based column of a tab in ``line``'s indentation, if one is there: what PyYAML reports as "found
    character that cannot start any token", which names neither the tab nor the fix."""
    lines = text.split("\n")
    if not 0 < line <= len(lines):
        return None
    row = lines[line - 1]
    indent = row[: len(row) - len(row.lstrip(" \t"))]
    return indent.index("\t") + 1 if "\t" in indent else None


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
    except TooLarge as exc:
        message = f"file is {exc.size:,} bytes; tenant files are limited to 1 MiB"
    except Unreadable as exc:
        message = str(exc)
    else:
        return parse_yaml(raw, shown)
    return ReadYaml(None, Positions(shown), [Problem(shown, 1, 1, "", message)])


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
        tab = _indenting_tab(text, line)
        if tab is not None:
            return refused(line, tab, _TAB_INDENT)
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
