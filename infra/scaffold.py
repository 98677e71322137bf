"""A new tenant file with short comments, as ``taxcalc-consent init`` writes it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from taxcalc_consent.infra.errors import TaxcalcConsentError
from taxcalc_consent.infra.files import FileExists, write_atomically, write_if_changed
from taxcalc_consent.infra.profiles import CLIENT_ID_HELP, ConsentMode
from taxcalc_consent.infra.spec import _user_ref, is_guid

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")


class ScaffoldError(TaxcalcConsentError):
    pass


def render_tenant_file(
    tenant_id: str, mode: ConsentMode, users: Sequence[str], client_id: str | None, schema_ref: str | None
) -> str:
    lines = []
    if schema_ref:
        lines.append(f"# yaml-language-server: $schema={schema_ref}")
    lines += [
        "# One client tenant for taxcalc-consent. Reference: docs/tenant-file.md",
        "tenant:",
        f"  id: {tenant_id}  # Entra tenant (directory) id",
        "app:",
        "  profile: taxcalc-hub",
    ]
    if client_id:
        lines.append(f"  client_id: {client_id}")
    else:
        lines += [f"  # {line}" for line in _wrap(CLIENT_ID_HELP)]
        lines.append("  # client_id: 00000000-0000-0000-0000-000000000000")
    lines += ["consent:"]
    if mode == "organization":
        lines.append("  mode: organization  # one tenant-wide grant (AllPrincipals): every user, no prompt")
    else:
        lines.append("  mode: users  # one grant per mailbox user (Principal)")
        lines.append("  users:")
        lines += [f"    - {user}" for user in users]
    lines += [
        "  # scopes: [openid, profile, email, offline_access, User.Read, Mail.Send]  # the profile's default",
        "access:",
        "  assignment_required: false  # true: only assigned users and groups may sign in",
        "",
    ]
    return "\n".join(lines)


def _wrap(text: str, width: int = 96) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line] if line else out


def write_tenant_file(
    folder: Path, name: str, tenant_id: str, mode: ConsentMode, users: Sequence[str], client_id: str | None
) -> Path:
    """Write ``folder/name.yaml``; refuse bad names, bad ids and existing files."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a tenant short name: use lower-case letters, digits, - and _ (it names the stack)"
        )
    if not is_guid(tenant_id):
        raise ScaffoldError(f"--tenant-id {tenant_id!r} is not a GUID; copy the Directory (tenant) ID from Entra")
    if client_id is not None and not is_guid(client_id):
        raise ScaffoldError(f"--client-id {client_id!r} is not a GUID")
    normalised = []
    for user in users:
        try:
            normalised.append(_user_ref(user))
        except ValueError as exc:
            raise ScaffoldError(f"--user {user!r}: {exc}") from None
    if mode == "users" and not normalised:
        raise ScaffoldError("--mode users needs at least one --user (a UPN or object id)")
    if mode == "organization" and normalised:
        raise ScaffoldError("--user only applies with --mode users")
    target = folder / f"{name}.yaml"
    if target.exists():
        raise ScaffoldError(f"{target} already exists; not overwriting it")
    text = render_tenant_file(
        tenant_id.lower(), mode, normalised, client_id.lower() if client_id else None, SCHEMA_FILE_NAME
    )
    try:
        write_atomically(target, text, exclusive=True)
    except FileExists:
        raise ScaffoldError(f"{target} already exists; not overwriting it") from None
    write_schema_beside(folder)
    return target


SCHEMA_FILE_NAME = "tenant.schema.json"
"""Written beside the tenant files by ``init``, so the ``$schema`` reference in each resolves for an
installed tool too (the schema of the version that wrote it; ``init`` refreshes it)."""


def write_schema_beside(folder: Path) -> Path:
    """Write (or refresh) the tenant file's JSON Schema into ``folder``; returns its path."""
    from taxcalc_consent.infra.documents import to_json
    from taxcalc_consent.infra.schema import tenant_file_schema

    path = folder / SCHEMA_FILE_NAME
    write_if_changed(path, to_json(tenant_file_schema()))
    return path
