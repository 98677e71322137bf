"""A folder's ``_defaults.yaml``: read once per folder, checked, and deep-merged under each tenant file beside it
(tenant values win, lists replace).

It is the folder's reviewed place for policy and for TaxCalc-Hub's application id, so it may not name one client
(a tenant, users, group ids), and a tenant file may not replace the application id it sets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taxcalc_consent.infra.model.errors import Problem, capped_file, printable
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.positions import KeyPath, Positions
from taxcalc_consent.infra.model.profiles import EXAMPLES_CLIENT_ID, WHERE_THE_CLIENT_ID_IS
from taxcalc_consent.infra.model.yaml_reader import read_yaml_file

DEFAULTS_FILE = "_defaults.yaml"


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


def folder_defaults(folder: Path) -> tuple[dict[str, Any], bool]:
    """What ``folder``'s _defaults.yaml merges under each tenant file, and whether it was read without a
    problem (its problems themselves are reported by the load that uses it)."""
    defaults = defaults_for(str(folder / "x.yaml"), {}, [])
    return defaults.value, defaults.complete


def replaced_client_id(defaults: Defaults, own: Mapping[str, Any], positions: Positions) -> list[Problem]:
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

# The bundled examples: examples/tenants of the source tree this module is part of (infra/model/ -> the root).
# Installed from a wheel there is no such folder (the package's own folder holds no examples/), so none is exempt.
_BUNDLED_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tenants"


def placeholder_client_id(document: Mapping[str, Any], positions: Positions, file: str) -> list[Problem]:
    """The bundled examples' placeholder application id, refused in every folder but the bundled examples
    themselves (``file``'s folder, links followed, is the source tree's examples/tenants): a copy of them in
    a real repository would otherwise validate and plan, and apply would fail only at the first tenant,
    after the provider's retries, with an error about an application no one meant."""
    written = _value_at(document, ("app", "client_id"))
    if not isinstance(written, str) or written.strip().lower() != EXAMPLES_CLIENT_ID:
        return []
    # Resolved only here, for the placeholder: validating a folder costs no system call per file for this.
    if os.path.realpath(os.path.dirname(os.path.abspath(file))) == str(_BUNDLED_EXAMPLES):
        return []
    return [
        positions.problem(
            ("app", "client_id"),
            f"{EXAMPLES_CLIENT_ID} is the bundled examples' placeholder, not TaxCalc-Hub's application id "
            f"(which is not published): copy the real one from {WHERE_THE_CLIENT_ID_IS}",
        )
    ]


@dataclass(frozen=True)
class Defaults:
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
    ("acknowledged",): (
        "an acknowledgement quiets a warning for one tenant: write it in that tenant's file; to quiet a rule for "
        "the whole folder, set its level under policy.enforcement here"
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


_NO_DEFAULTS = Defaults({}, Positions(""), None)


def defaults_for(shown: str, cache: dict[str, Defaults], problems: list[Problem]) -> Defaults:
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


def _read_defaults(folder: str, shown: str, problems: list[Problem]) -> Defaults:
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
        return Defaults({}, Positions(""), None, complete=False)
    # A folder, a FIFO or a dangling link named _defaults.yaml is reported, never silently skipped.
    value, positions, read_problems, omitted = read_yaml_file(defaults_path, defaults_shown)
    found = capped_file(defaults_shown, read_problems, omitted)
    if value is not None:
        value, refused = _without_identity_keys(value, positions)
        found = [*found, *refused, *placeholder_client_id(value, positions, defaults_path)]
    problems.extend(found)
    if value is None or found:
        # Keep what could be read of it, so tenant files are still checked against the rest; the run
        # fails on the problems above either way.
        return Defaults(value or {}, positions, defaults_shown, complete=False)
    return Defaults(value, positions, defaults_shown)


_DEFAULTS_NEAR_MISSES = frozenset({"_defaults.yaml", "_defaults.yml", "_default.yaml", "_default.yml"})


def _misnamed_defaults(folder: str) -> str | None:
    """A file in ``folder`` meant as its _defaults.yaml but named otherwise (``_defaults.yml``, another
    case, the singular), or None. Asked only when _defaults.yaml is absent: one listing per folder."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None  # the folder's own listing reports this
    return next((n for n in sorted(names) if n.casefold() in _DEFAULTS_NEAR_MISSES and n != DEFAULTS_FILE), None)
