"""One merged tenant document checked: a TenantSpec, or every problem located in the file's own words.

pydantic's errors are said as the file's keys (``unknown key 'scops'; did you mean 'scopes'?``), and the checks
that span keys, or ask the permission catalog and the profiles, are made here: the schema (``spec``) only says
what a well-formed value looks like.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from taxcalc_consent.infra.model.catalog import PermissionCatalog, PermissionKind
from taxcalc_consent.infra.model.errors import MAX_PROBLEMS_PER_FILE, Problem, did_you_mean, quote
from taxcalc_consent.infra.model.positions import KeyPath, Positions, format_key_path
from taxcalc_consent.infra.model.profiles import CLIENT_ID_HELP, PROFILES
from taxcalc_consent.infra.model.spec import TenantSpec


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
