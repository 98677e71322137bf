"""Load tenant files: each one found, read, merged over its folder's defaults and validated, then the checks
across files; every problem reported with its file, line and key path.

The public entry for reading tenant files (``load_tenants``, ``iter_tenants``, ``check_new_tenant``); each step
has its own module: ``tenant_files`` (finding them, stack names), ``yaml_reader`` (the hardened reader with
positions), ``defaults`` (``_defaults.yaml``), ``validation`` (the schema's errors and the semantic checks).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from taxcalc_consent.infra.model.catalog import PermissionCatalog, graph_catalog
from taxcalc_consent.infra.model.defaults import (
    Defaults,
    defaults_for,
    merge_defaults,
    placeholder_client_id,
    replaced_client_id,
)
from taxcalc_consent.infra.model.errors import Problem, SpecError, capped_file, printable
from taxcalc_consent.infra.model.positions import Position, Positions
from taxcalc_consent.infra.model.spec import TenantSpec
from taxcalc_consent.infra.model.tenant_files import collect_tenant_files, folder_entries, tenant_name_problem
from taxcalc_consent.infra.model.validation import validate_document
from taxcalc_consent.infra.model.yaml_reader import ReadYaml, parse_yaml, read_yaml_file


@dataclass(frozen=True)
class LoadedTenant:
    """A validated tenant file: its short name, the path as given, the spec and where each key came from."""

    name: str
    file: str
    spec: TenantSpec
    positions: Positions
    defaults_file: str | None = None


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
    defaults_cache: dict[str, Defaults] = {}
    for path in files:
        defaults = defaults_for(path, defaults_cache, problems)
        stem = os.path.splitext(os.path.basename(path))[0]  # as named: its name is checked, escapes and all
        # What messages and documents show of the path: as given, unless it holds what a terminal or JSON
        # cannot show as itself (an escape sequence, a byte of a name that is not UTF-8).
        shown = path if path.isprintable() else printable(path)
        tenant, found = _check_tenant_file(stem, shown, read_yaml_file(path, shown), defaults, catalog, path)
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
    defaults = defaults_for(shown, {}, problems)
    tenant, found = _check_tenant_file(
        path.stem, shown, parse_yaml(text.encode("utf-8"), shown), defaults, catalog or graph_catalog(), shown
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
    names = folder_entries(os.fspath(folder))[0]
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


def _check_tenant_file(
    name: str, shown: str, read: ReadYaml, defaults: Defaults, catalog: PermissionCatalog, path: str
) -> tuple[LoadedTenant | None, list[Problem]]:
    """One tenant file (at ``path``, shown as ``shown``), read and merged over its folder's defaults: the
    tenant, or its problems (capped)."""
    found: list[Problem] = []
    name_problem = tenant_name_problem(name)
    if name_problem is not None:
        found.append(Problem(shown, 1, 1, "", name_problem))
    if read.value is None:
        return None, capped_file(shown, [*found, *read.problems], read.omitted)
    if defaults.shown is None:
        document, positions = read.value, read.positions
    else:
        document, positions = merge_defaults(defaults.value, read.value, defaults.positions, read.positions)
    validated = validate_document(document, read.value, positions, catalog, defaults_complete=defaults.complete)
    # Whose id it is matters once it is an id: a malformed one is reported as such, and only that.
    malformed = any(p.key_path == "app.client_id" for p in validated.problems)
    owned = (
        []
        if malformed
        else [
            *replaced_client_id(defaults, read.value, positions),
            *placeholder_client_id(read.value, read.positions, path),
        ]
    )
    # A value the YAML reader already refused (a bad date, say) is not reported a second time.
    refused = {(p.file, p.key_path) for p in read.problems}
    later = (p for p in (*validated.problems, *owned) if (p.file, p.key_path) not in refused)
    found += sorted([*read.problems, *later])
    if validated.spec is not None and not found:
        return LoadedTenant(name, shown, validated.spec, positions, defaults.shown), []
    return None, capped_file(shown, found, read.omitted + validated.omitted)


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
