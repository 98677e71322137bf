"""Find, read and validate tenant files, reporting every problem with its file, line and key path.

A tenants folder holds one YAML file per tenant (the file stem is the tenant's short name) and
optionally ``_defaults.yaml``, deep-merged under every tenant file beside it (tenant values win,
lists replace). Files whose names start with ``_`` are never tenants.
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ValidationError

from taxcalc_consent.infra.catalog import PermissionCatalog, PermissionKind, graph_catalog
from taxcalc_consent.infra.errors import Problem, SpecError, TaxcalcConsentError
from taxcalc_consent.infra.profiles import CLIENT_ID_HELP, PROFILES
from taxcalc_consent.infra.spec import TenantSpec

MAX_FILE_BYTES = 1024 * 1024
"""Tenant files are small; anything larger is a mistake (or an attack on the parser)."""

MAX_NODES = 100_000
"""Upper bound on YAML nodes after alias expansion: a billion-laughs file stops here, fast."""

DEFAULTS_FILE = "_defaults.yaml"
TENANT_SUFFIXES = (".yaml", ".yml")

KeyPath = tuple[str | int, ...]

# Keys that hold secrets. A tenant file names the environment variable instead (auth.client_secret_env).
_SECRET_KEY = re.compile(r"secret|passw(or)?d|pwd|token|private[_-]?key|api[_-]?key|certificate", re.IGNORECASE)
_SECRET_KEY_ALLOWED = frozenset({"client_secret_env"})
# Entra client secrets: 3 characters, a digit, "Q~", then 31-34 more (learn.microsoft.com: credential formats).
_ENTRA_SECRET_VALUE = re.compile(r"[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}")
_SECRET_KEY_MESSAGE = (
    "secrets never go in tenant files: put the value in an environment variable (or your CI's secret store) "
    "and name that variable in auth.client_secret_env"
)
_SECRET_VALUE_MESSAGE = (
    "this value looks like an Entra client secret: remove it, rotate the secret, and name an environment "
    "variable in auth.client_secret_env instead"
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


def collect_tenant_files(paths: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """Expand files and folders into tenant files, in argument order, folders in name order.

    Returns ``(path as given, Path)`` pairs. ``_``-prefixed files are skipped even when named
    directly, so ``tenants/*.yaml`` from a shell works.
    """
    if not paths:
        raise UsageError("no tenant files given: pass tenant files or folders, e.g. examples/tenants")
    found: dict[str, str] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            # os.scandir and name strings: Path objects per child cost more than validating a small file.
            with os.scandir(path) as entries:
                names = sorted(
                    e.name
                    for e in entries
                    if e.name.endswith(TENANT_SUFFIXES) and _is_tenant_name(e.name) and e.is_file()
                )
            if not names:
                raise UsageError(f"{given}: no tenant files (*.yaml) in this folder")
            folder = os.fspath(path)
            for name in names:
                shown = name if folder == "." else os.path.join(folder, name)
                found.setdefault(os.path.abspath(shown), shown)
        elif path.is_file():
            if _is_tenant_name(path.name):
                found.setdefault(os.path.abspath(path), str(given))
        else:
            raise UsageError(f"{given}: no such file or folder")
    if not found:
        raise UsageError("no tenant files among the paths given (files starting with _ are not tenants)")
    return [(shown, Path(shown)) for shown in found.values()]


def _is_tenant_name(name: str) -> bool:
    return not name.startswith(("_", "."))


# ---------------------------------------------------------------------------------------------- YAML


class _TooManyNodes(Exception):
    pass


class _Reader:
    """Build plain Python values from a composed YAML node tree, recording each key path's position."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions = Positions(file)
        self.problems: list[Problem] = []
        self.nodes = 0
        self._constructor = yaml.constructor.SafeConstructor()

    def read(self, node: yaml.Node, path: KeyPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooManyNodes
        tag = node.tag
        if tag == _STR_TAG:  # the common case first: most values are text
            if _ENTRA_SECRET_VALUE.search(node.value):
                self.problems.append(self.positions.problem(path, _SECRET_VALUE_MESSAGE))
                return None
            return node.value
        if tag == _MAP_TAG and isinstance(node, yaml.MappingNode):
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
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.problems.append(self.positions.problem(path, _yaml_message(exc)))
            return None
        except ValueError:
            # PyYAML resolves 2027-13-01 as a timestamp, then datetime refuses it.
            self.problems.append(self.positions.problem(path, "invalid date: expected a real date as YYYY-MM-DD"))
            return None

    def _refuse_key(self, mark: Mark, path: KeyPath, message: str) -> None:
        """A problem at a key itself (its own position), for keys that never make it into the document."""
        self.problems.append(Problem(*mark, format_key_path(path), message))

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
                key = self._constructor.construct_object(key_node)
            else:
                key = None
            if not isinstance(key, str):
                self._refuse_key(mark, path, "keys must be plain text")
                continue
            if key in first_seen:
                first_line = first_seen[key][1]
                self._refuse_key(mark, (*path, key), f"duplicate key (first written at line {first_line}); keep one")
                continue
            first_seen[key] = mark
            self.positions.by_path[(*path, key)] = mark
            if _SECRET_KEY.search(key) and key not in _SECRET_KEY_ALLOWED:
                # Refused here, before the value is even constructed, so it can never be echoed.
                self.problems.append(self.positions.problem((*path, key), _SECRET_KEY_MESSAGE))
                continue
            out[key] = self.read(value_node, (*path, key))
        return out


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


def read_yaml_file(path: Path, shown: str) -> tuple[Any, Positions, list[Problem]]:
    """Read one YAML file into plain values and positions. Never raises for the file's content."""
    start = Positions(shown)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            # read(n) would allocate n bytes up front: ask for no more than the file holds.
            raw = handle.read(min(size, MAX_FILE_BYTES) + 1)
            if len(raw) > MAX_FILE_BYTES:
                size = max(size, len(raw))
                return (
                    None,
                    start,
                    [Problem(shown, 1, 1, "", f"file is {size:,} bytes; tenant files are limited to 1 MiB")],
                )
    except OSError as exc:
        return None, start, [Problem(shown, 1, 1, "", f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return (
            None,
            start,
            [
                Problem(
                    shown,
                    line,
                    col,
                    "",
                    f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                )
            ],
        )
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, start, [Problem(shown, line, col, "", _yaml_message(exc))]
    except yaml.YAMLError as exc:
        return None, start, [Problem(shown, 1, 1, "", f"invalid YAML: {type(exc).__name__}")]
    if root is None:
        return (
            None,
            start,
            [Problem(shown, 1, 1, "", "file is empty: see docs/tenant-file.md or run `taxcalc-consent init`")],
        )
    reader = _Reader(shown)
    reader.positions.by_path[()] = (shown, root.start_mark.line + 1, root.start_mark.column + 1)
    try:
        value = reader.read(root, ())
    except _TooManyNodes:
        why = "YAML aliases expand" if _distinct_nodes(root) < MAX_NODES else "the file holds"
        return (
            None,
            start,
            [Problem(shown, 1, 1, "", f"{why} to more than {MAX_NODES:,} values; refusing to read it")],
        )
    if not isinstance(value, dict):
        where = reader.positions.locate(())
        reader.problems.append(
            Problem(shown, where.line, where.col, "", "expected a mapping of keys (tenant:, consent:, ...)")
        )
        value = None
    return value, reader.positions, reader.problems


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


def _schema_problems(error: Mapping[str, Any], positions: Positions) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _fields_at(loc[:-1]), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(_fields_at(loc[:-1]))}"
        return positions.problem(loc, f"unknown key {key!r}{hint}")
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
        close = difflib.get_close_matches(app.profile, list(PROFILES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known profiles: {', '.join(sorted(PROFILES))}"
        yield positions.problem(("app", "profile"), f"unknown profile {app.profile!r}{hint}")
    own_app = own.get("app") if isinstance(own.get("app"), Mapping) else {}
    if app.register_app:
        if isinstance(own_app, Mapping) and own_app.get("client_id") is not None:
            yield positions.problem(
                ("app", "client_id"),
                "remove client_id: with register: true Entra assigns the application id when it creates the app",
            )
    else:
        if app.client_id is None and (profile is None or profile.client_id is None):
            yield positions.problem(("app", "client_id"), f"missing application id. {CLIENT_ID_HELP}")
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


def _permission_problems(
    names: Sequence[str],
    kind: PermissionKind,
    path: KeyPath,
    positions: Positions,
    catalog: PermissionCatalog,
) -> Iterator[Problem]:
    for index, name in enumerate(names):
        if not isinstance(name, str) or catalog.get(kind, name) is None:
            yield positions.problem((*path, index), catalog.explain_unknown(kind, str(name)))
    yield from _duplicate_problems(list(names), path, positions)


def _duplicate_problems(values: Sequence[str], path: KeyPath, positions: Positions) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first:
            line = positions.locate((*path, first[value])).line
            yield positions.problem((*path, index), f"listed twice (first at line {line}); remove one")
        else:
            first[value] = index


def validate_document(
    document: dict[str, Any], own: Mapping[str, Any], positions: Positions, catalog: PermissionCatalog
) -> tuple[TenantSpec | None, list[Problem]]:
    problems: list[Problem] = []
    # Catalog checks read the raw lists, so an unknown scope is reported even when other keys are wrong.
    consent = document.get("consent")
    kinds: tuple[tuple[str, PermissionKind], ...] = (("scopes", "delegated"), ("app_roles", "application"))
    for key, kind in kinds:
        names = consent.get(key) if isinstance(consent, dict) else None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            problems.extend(_permission_problems(names, kind, ("consent", key), positions, catalog))
    spec: TenantSpec | None = None
    try:
        spec = TenantSpec.model_validate(document)
    except ValidationError as exc:
        problems.extend(_schema_problems(e, positions) for e in exc.errors(include_input=False, include_url=False))
    if spec is not None:
        problems.extend(_semantic_problems(spec, own, positions, catalog))
    return (None if problems else spec), problems


def load_tenants(paths: Sequence[str | Path], catalog: PermissionCatalog | None = None) -> list[LoadedTenant]:
    """Load, merge and validate every tenant file under ``paths``; raise SpecError listing all problems."""
    return _load_tenants(paths, catalog or graph_catalog())


def _load_tenants(paths: Sequence[str | Path], catalog: PermissionCatalog) -> list[LoadedTenant]:
    files = collect_tenant_files(paths)
    problems: list[Problem] = []
    tenants: list[LoadedTenant] = []
    defaults_cache: dict[str, tuple[dict[str, Any], Positions, str] | None] = {}
    for shown, path in files:
        defaults = _defaults_for(path, shown, defaults_cache, problems)
        own, own_positions, read_problems = read_yaml_file(path, shown)
        if own is None:
            problems.extend(read_problems)
            continue
        if defaults is not None:
            document, positions = merge_defaults(defaults[0], own, defaults[1], own_positions)
        else:
            document, positions = own, own_positions
        spec, found = validate_document(document, own, positions, catalog)
        # A value the YAML reader already refused (a bad date, say) is not reported a second time.
        refused = {(p.file, p.key_path) for p in read_problems}
        problems.extend(sorted([*read_problems, *(p for p in found if (p.file, p.key_path) not in refused)]))
        if spec is not None and not read_problems:
            tenants.append(LoadedTenant(path.stem, shown, spec, positions, defaults[2] if defaults else None))
    problems.extend(_cross_file_problems(tenants))
    if problems:
        raise SpecError(problems)
    return tenants


def _defaults_for(
    path: Path,
    shown: str,
    cache: dict[str, tuple[dict[str, Any], Positions, str] | None],
    problems: list[Problem],
) -> tuple[dict[str, Any], Positions, str] | None:
    # abspath, not resolve(): realpath's per-component lstat calls cost more than validating the file.
    folder = os.path.abspath(path.parent)
    if folder not in cache:
        defaults_path = path.parent / DEFAULTS_FILE
        cache[folder] = None
        if defaults_path.is_file():
            defaults_shown = str(Path(shown).parent / DEFAULTS_FILE)
            value, positions, found = read_yaml_file(defaults_path, defaults_shown)
            problems.extend(found)
            if value is not None and not found:
                cache[folder] = (value, positions, defaults_shown)
    return cache[folder]


def _cross_file_problems(tenants: Sequence[LoadedTenant]) -> Iterator[Problem]:
    by_id: dict[str, LoadedTenant] = {}
    by_name: dict[str, LoadedTenant] = {}
    for tenant in tenants:
        first = by_id.setdefault(tenant.spec.tenant.id, tenant)
        if first is not tenant:
            where = first.positions.locate(("tenant", "id"))
            yield tenant.positions.problem(
                ("tenant", "id"), f"tenant id is also used by {first.file}:{where.line}; one file per tenant"
            )
        first = by_name.setdefault(tenant.name, tenant)
        if first is not tenant:
            yield Problem(
                tenant.file,
                1,
                1,
                "",
                f"short name {tenant.name!r} is also used by {first.file}; "
                "stacks are named after the file stem, so rename one file",
            )
