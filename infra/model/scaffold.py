"""A new tenant file with short comments, as ``taxcalc-consent init`` writes it.

Values are emitted by PyYAML, never pasted into text: a user principal name such as ``#x@contoso.com``
or ``!x@contoso.com`` is quoted, not read back as a comment or a tag. Comments are whole lines of fixed
text between the sections. Before anything is written the text is checked as ``validate`` would check
it (``loader.check_new_tenant``), beside the folder's _defaults.yaml and other tenant files, so ``init``
never writes a file that the ``validate`` it suggests then refuses.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, get_args

import yaml

from taxcalc_consent.infra.model.defaults import folder_defaults
from taxcalc_consent.infra.model.errors import TaxcalcConsentError, secret_in
from taxcalc_consent.infra.model.files import (
    FileExists,
    TargetRefused,
    file_kind,
    os_error_message,
    writable_target,
    write_atomically,
    write_if_changed,
)
from taxcalc_consent.infra.model.guid import guid_problem
from taxcalc_consent.infra.model.loader import LoadedTenant, check_new_tenant
from taxcalc_consent.infra.model.profiles import (
    CLIENT_ID_HELP,
    DEFAULT_PROFILE,
    PROFILES,
    AuthMethod,
    ConsentMode,
    EngineerMethod,
)
from taxcalc_consent.infra.model.spec import user_ref_problem
from taxcalc_consent.infra.model.tenant_files import tenant_name_problem


class ScaffoldError(TaxcalcConsentError):
    pass


_SECRET_GIVEN = (
    "this looks like {}: rotate it, and name the environment variable that holds it in auth.client_secret_env instead"
)


SCHEMA_FILE_NAME = "tenant.schema.json"
"""Written beside the tenant files by ``init``, so the ``$schema`` reference in each resolves for an
installed tool too (the schema of the version that wrote it; ``init`` refreshes it)."""


@dataclass(frozen=True)
class NewTenantFile:
    """A tenant file ready to write: where, its text, and the tenant it was checked to be."""

    path: Path
    text: str
    tenant: LoadedTenant


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe emitter, with list items indented under their key as people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _emit(section: dict[str, Any]) -> list[str]:
    text = yaml.dump(section, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 16)
    return text.splitlines()


@dataclass(frozen=True)
class TenantFileOptions:
    """What ``init`` was told about the new tenant (each option as given), or what ``discover`` read from Graph."""

    tenant_id: str
    mode: ConsentMode | None = None
    """None: users mode when --user or --group names anyone, else organization."""
    users: Sequence[str] = ()
    groups: Sequence[str] = ()
    client_id: str | None = None
    display_name: str | None = None
    domain: str | None = None
    assignment_required: bool = False
    auth_method: AuthMethod | None = None
    auth_client_id: str | None = None
    auth_secret_env: str | None = None
    relationship_id: str | None = None
    """The MSP's GDAP relationship with this client (``discover``), which plan and apply check first."""
    relationship_ends: date | None = None


def render_tenant_file(options: TenantFileOptions, mode: ConsentMode, schema_ref: str | None) -> str:
    """The tenant file's text: each section emitted by PyYAML under a few lines of fixed comments."""
    lines = [f"# yaml-language-server: $schema={schema_ref}"] if schema_ref else []
    # Only what an installed user has (docs/ is not in the wheel): the schema init writes beside the file, whose
    # descriptions say what each key means, and the command that prints it.
    described = f"{schema_ref} (`taxcalc-consent schema`)" if schema_ref else "`taxcalc-consent schema`"
    lines += [f"# One client tenant for taxcalc-consent. Each key is described in {described}.", ""]
    lines += ["# The Entra tenant (directory) id: Entra admin centre > Identity > Overview."]
    tenant: dict[str, Any] = {"id": options.tenant_id}
    if options.display_name is not None:
        tenant["name"] = options.display_name
    if options.domain is not None:
        tenant["domain"] = options.domain
    if len(tenant) > 1:
        lines += ["# name and domain are for people: every report shows them beside the file's name."]
    if options.relationship_id:
        lines += ["# relationship: the MSP's GDAP relationship with this client (plan and apply check it first)."]
        relationship: dict[str, Any] = {"id": options.relationship_id}
        if options.relationship_ends is not None:
            relationship["ends"] = options.relationship_ends
        tenant["relationship"] = relationship
    lines += _emit({"tenant": tenant})
    app: dict[str, Any] = {"profile": DEFAULT_PROFILE}
    if options.client_id:
        lines += ["", "# TaxCalc-Hub's application (client) id, as Enterprise applications shows it."]
        app["client_id"] = options.client_id
    else:
        lines += ["", "# TaxCalc-Hub's application (client) id comes from _defaults.yaml in this folder."]
    lines += _emit({"app": app})
    consent: dict[str, Any] = {"mode": mode}
    if mode == "organization":
        lines += ["", "# organization: one tenant-wide grant (AllPrincipals): every user, no prompt."]
    else:
        lines += ["", "# users: one grant per mailbox user (Principal), for these users (and direct members of these"]
        lines += ["# groups) only."]
        if options.users:
            consent["users"] = list(options.users)
        if options.groups:
            consent["groups"] = list(options.groups)
    scopes = ", ".join(PROFILES[DEFAULT_PROFILE].scopes)
    lines += ["# The scopes default to the profile's; to change them, add:", f"#   scopes: [{scopes}]"]
    lines += _emit({"consent": consent})
    lines += ["", "# true: only users and groups assigned to TaxCalc-Hub may sign in to it."]
    access: dict[str, Any] = {"assignment_required": options.assignment_required}
    if options.assignment_required:
        lines += ["# The users and groups consented above are the ones assigned."]
        if options.users:
            access["users"] = list(options.users)
        if options.groups:
            access["groups"] = list(options.groups)
    lines += _emit({"access": access})
    auth: dict[str, Any] = {}
    if options.auth_method is not None:
        auth["method"] = options.auth_method
    if options.auth_client_id is not None:
        auth["client_id"] = options.auth_client_id
    if options.auth_secret_env is not None:
        auth["client_secret_env"] = options.auth_secret_env
    if auth:
        who = (
            "an engineer's own sign-in, through the MSP's GDAP access"
            if options.auth_method in get_args(EngineerMethod)
            else "the automation identity (the secret itself never goes here)"
        )
        lines += ["", f"# How the tool signs in to this tenant: {who}."]
        lines += _emit({"auth": auth})
    return "\n".join(lines) + "\n"


def tenant_file_stem(name: str) -> str:
    """NAME as ``init`` takes it: ``dunmore`` or ``dunmore.yaml`` (what a person types after seeing a file name)
    both name stack ``dunmore``."""
    for suffix in (".yaml", ".yml"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


TENANTS_FOLDER = "tenants"


def default_tenants_folder(here: Path) -> Path:
    """Where ``init`` writes without ``--dir``: ``tenants/`` under ``here``, unless ``here`` is itself a tenants
    folder (it holds ``_defaults.yaml``, or is named ``tenants`` and has no ``tenants/`` inside), where a file
    written into ``tenants/tenants/`` would be one that ``validate .`` never reads."""
    nested = here / TENANTS_FOLDER
    if nested.is_dir():
        return nested
    if (here / "_defaults.yaml").is_file() or here.resolve().name == TENANTS_FOLDER:
        return here
    return nested


def prepare_tenant_file(folder: Path, name: str, options: TenantFileOptions) -> NewTenantFile:
    """Check every argument and the folder, render the file and check it as ``validate`` would.

    Raises ScaffoldError naming the option at fault, or SpecError (located in the would-be file) when
    the result would not validate; nothing is written either way.
    """
    # A secret pasted into an option is refused before anything else looks at it (and before lower-casing
    # would hide its shape from validate): the tenant file is never where a secret goes.
    for option, value in (
        ("NAME", name),
        ("--tenant-id", options.tenant_id),
        ("--client-id", options.client_id),
        ("--name", options.display_name),
        ("--domain", options.domain),
        ("--auth-client-id", options.auth_client_id),
        ("--auth-secret-env", options.auth_secret_env),
        *(("--user", user) for user in options.users),
        *(("--group", group) for group in options.groups),
    ):
        kind = secret_in(value) if value is not None else None
        if kind is not None:
            raise ScaffoldError(f"{option}: {_SECRET_GIVEN.format(kind)}")
    name = tenant_file_stem(name)
    problem = tenant_name_problem(name, fix="choose another NAME, e.g. {}")
    if problem is not None:
        raise ScaffoldError(f"NAME {name!r}: {problem}")
    for option, value, what, where in (
        (
            "--tenant-id",
            options.tenant_id,
            "tenant id",
            "copy the Directory (tenant) ID from Entra admin centre > Overview",
        ),
        ("--client-id", options.client_id, "application id", CLIENT_ID_HELP),
        (
            "--auth-client-id",
            options.auth_client_id,
            "application id",
            "the automation app's Application (client) ID, from Entra admin centre > App registrations",
        ),
    ):
        problem = None if value is None else guid_problem(value, what)
        if problem is not None:
            # "write it without braces" says what to do; a shape or placeholder problem says where to look.
            hint = f": {where}" if problem.startswith(("expected", "the all-zero")) else ""
            raise ScaffoldError(f"{option} {value!r}: {problem}{hint}")
    users = _checked_users(options.users)
    groups = _checked_groups(options.groups)
    mode = options.mode or ("users" if users or groups else "organization")
    if mode == "users" and not (users or groups):
        raise ScaffoldError("--mode users needs at least one --user (a UPN or object id) or --group")
    if mode == "organization" and (users or groups):
        raise ScaffoldError(
            "--user and --group name who gets a grant of their own (users mode); --mode organization grants every "
            "user tenant-wide: leave out --mode, or the users and groups"
        )
    _check_folder(folder)
    target = folder / f"{name}.yaml"
    if os.path.lexists(target):
        raise ScaffoldError(f"{target} already exists; not overwriting it")
    if options.client_id is None:
        defaults, readable = folder_defaults(folder)
        app = defaults.get("app")
        if readable and not (isinstance(app, dict) and app.get("client_id")):
            raise ScaffoldError(
                f"TaxCalc-Hub's application id is needed: pass --client-id GUID, or set app.client_id once for "
                f"every tenant in {folder / '_defaults.yaml'}. {CLIENT_ID_HELP}"
            )
    checked = replace(
        options,
        tenant_id=options.tenant_id.lower(),
        client_id=options.client_id.lower() if options.client_id else None,
        auth_client_id=options.auth_client_id.lower() if options.auth_client_id else None,
        users=users,
        groups=groups,
    )
    text = render_tenant_file(checked, mode, SCHEMA_FILE_NAME)
    return NewTenantFile(target, text, check_new_tenant(text, target))


def _checked_groups(groups: Sequence[str]) -> list[str]:
    """Each --group given once (display names match ignoring case, as Graph's $filter does)."""
    first: dict[str, str] = {}
    for group in groups:
        key = group.strip().casefold()
        if not key:
            raise ScaffoldError("--group '': expected a group display name or object id")
        if key in first:
            raise ScaffoldError(
                f"--group {group!r} is the same group as --group {first[key]!r} (display names ignore case): "
                "give each group once"
            )
        first[key] = group
    return [group.strip() for group in groups]


def _checked_users(users: Sequence[str]) -> list[str]:
    """Each --user checked as the tenant file's consent.users is, lower-cased, each given once."""
    normalised: list[str] = []
    first: dict[str, str] = {}
    for user in users:
        problem = user_ref_problem(user)
        if problem is not None:
            raise ScaffoldError(f"--user {user!r}: {problem}")
        key = user.lower()
        if key in first:
            raise ScaffoldError(
                f"--user {user!r} is the same user as --user {first[key]!r} (user principal names and object ids "
                "ignore case): give each user once"
            )
        first[key] = user
        normalised.append(key)
    return normalised


def _check_folder(folder: Path) -> None:
    """--dir must be a folder, or not exist yet (it is created); not a file, a device or a broken link."""
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        if os.path.islink(folder):
            raise ScaffoldError(f"--dir {folder}: symbolic link to a missing folder; fix the link") from None
        return
    except OSError as exc:
        raise ScaffoldError(f"--dir {folder}: {os_error_message(exc, folder)}") from None
    if not stat.S_ISDIR(mode):
        raise ScaffoldError(f"--dir {folder}: {file_kind(mode)}, not a folder; name the folder of tenant files")


def write_new_tenant_file(new: NewTenantFile) -> Path:
    """Write the checked file (never over an existing one) and the schema beside it.

    Both targets are checked first: a schema path that is a named pipe, a device or a link to one is refused
    before the tenant file is written, so a refusal never leaves half of the work done."""
    schema = new.path.parent / SCHEMA_FILE_NAME
    try:
        writable_target(schema)
    except TargetRefused as exc:
        raise ScaffoldError(
            f"{schema}: {exc}; nothing was written: remove it (init writes the tenant file's schema there)"
        ) from None
    for path, write in (
        (new.path, lambda: write_atomically(new.path, new.text, exclusive=True)),
        (new.path.parent / SCHEMA_FILE_NAME, lambda: write_schema_beside(new.path.parent)),
    ):
        try:
            write()
        except FileExists:
            raise ScaffoldError(f"{path} already exists; not overwriting it") from None
        except TargetRefused as exc:
            raise ScaffoldError(f"cannot write {path}: {exc}") from None
        except OSError as exc:
            raise ScaffoldError(f"cannot write {path}: {exc.strerror or exc}; choose another --dir") from None
    return new.path


def write_schema_beside(folder: Path) -> Path:
    """Write (or refresh) the tenant file's JSON Schema into ``folder``; returns its path."""
    from taxcalc_consent.infra.model.document_json import to_json
    from taxcalc_consent.infra.model.schema import tenant_file_schema

    path = folder / SCHEMA_FILE_NAME
    write_if_changed(path, to_json(tenant_file_schema()))
    return path
