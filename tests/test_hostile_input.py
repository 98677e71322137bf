"""Careless and hostile input (issues 12 and 23): every case with its exit code and the first line of its message.

Each case builds a small project folder (the current directory while it runs, so paths in messages are
short and stable), runs one command through Typer's CliRunner, and checks the exit code, the first line
on stderr exactly, that no traceback appears, and what must or must not be printed. Cases that need a
real terminal, a real process or a file type CliRunner cannot fake run as a subprocess instead.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import random
import re
import stat
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.fleet.engine_setup import PULUMI_MISSING
from taxcalc_consent.cli.main import app
from taxcalc_consent.cli.ui.console import err
from taxcalc_consent.infra.model import loader
from taxcalc_consent.infra.model.catalog import graph_catalog
from taxcalc_consent.infra.model.errors import TaxcalcConsentError, looks_like_secret, quote, redact
from taxcalc_consent.infra.model.profiles import CLIENT_ID_HELP
from tests.conftest import CLIENT_ID, TENANT_ID
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import DEFAULT_ROLE_ID
from tests.fakes.graph_emulator import serve

OTHER_TENANT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
DEFAULTS = f"app:\n  client_id: {CLIENT_ID}\n"
HEAD = f"tenant:\n  id: {TENANT_ID}\n"
ORG = "consent:\n  mode: organization\n"
USERS = "consent:\n  mode: users\n  users: [alice@contoso.com]\n"

# Client secrets in the shapes Entra has issued them (never real ones): since 2021 ("Q~" at 4), before
# that 32 random characters from the portal or 44 characters of base64.
NEW_SECRET = "Xy7" + "8Q~" + "abcdefghijklmnopqrstuvwxyzABCDEFGH"
OLD_SECRET = "1Fq]v@Bmg[-JTH:Ra9.B?hGQ=JmLt4Ve"
BASE64_SECRET = "Wm4dN2ZkYjQ5YTdlNDQ2OGI1YzMzZTFmMGE4YzdiZmM="

# Console markup a name may carry, from a file or from Graph: each must print exactly as written.
MARKUP = ("Finance [/]", "[dim]evil.[/dim]x", "[link=https://evil.example]click[/link]", "Tax :warning: team")


def _no_prerequisites(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No passphrase, no backend setting, and no Pulumi CLI on PATH (an empty folder is all of PATH)."""
    for name in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "A_SECRET"):
        monkeypatch.delenv(name, raising=False)
    (root / "empty").mkdir()
    monkeypatch.setenv("PATH", str(root / "empty"))
    monkeypatch.setenv("TAXCALC_CONSENT_ROOT", str(root))


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    """Put something other than a regular file at ``path``."""
    path.unlink(missing_ok=True)
    make(path)


def _refuse(monkeypatch: pytest.MonkeyPatch, call: str, refused: str) -> None:
    """Make ``os.<call>`` fail with EACCES for one path, as it does for a user without the permission."""
    real = getattr(os, call)

    def guarded(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.fspath(path) == refused:
            raise PermissionError(errno.EACCES, "Permission denied", refused)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, call, guarded)


def users_mode(*groups: str) -> str:
    listed = "".join(f"    - {_quoted(g)}\n" for g in groups)
    return HEAD + f"consent:\n  mode: users\n  groups:\n{listed}"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    first: str
    """The first line on stderr, exactly ("{root}" stands for the project folder)."""
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path, pytest.MonkeyPatch], None] | None = None
    shows: tuple[str, ...] = ()
    """Text that must appear, literally, somewhere in the output."""
    hides: tuple[str, ...] = ()
    """Text that must appear nowhere in the output (secrets)."""
    after: Callable[[Path, Any], None] | None = None
    """More checks once the command ran: on the project folder and Typer's result."""


CASES: list[Case] = [
    # ------------------------------------------------- 1. _defaults.yaml never says which client a file is about
    Case(
        "tenant-id-in-defaults",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:3:1: tenant: the tenant section says which client a file is about: write it in "
        "each tenant file, never in _defaults.yaml, which applies to every tenant in the folder",
        files={"tenants/_defaults.yaml": DEFAULTS + HEAD, "tenants/a.yaml": ORG, "tenants/b.yaml": ORG},
    ),
    Case(
        "tenant-name-in-defaults",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:3:1: tenant: the tenant section says which client a file is about: write it in "
        "each tenant file, never in _defaults.yaml, which applies to every tenant in the folder",
        files={"tenants/_defaults.yaml": DEFAULTS + "tenant:\n  name: Contoso\n", "tenants/a.yaml": HEAD + ORG},
    ),
    Case(
        "users-in-defaults",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:4:3: consent.users: users belong to one client's directory: list them in that "
        "tenant's file, not in _defaults.yaml",
        files={
            "tenants/_defaults.yaml": DEFAULTS + "consent:\n  users: [alice@contoso.com]\n",
            "tenants/a.yaml": HEAD + "consent:\n  mode: users\n",
        },
    ),
    Case(
        "group-object-id-in-defaults",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:6:7: access.groups[1]: a group object id exists in one client's directory only: "
        "list it in that tenant's file (a group display name used in every tenant may stay here)",
        files={
            "tenants/_defaults.yaml": DEFAULTS
            + f"access:\n  groups:\n    - TaxCalc Mailboxes\n    - {OTHER_TENANT_ID}\n",
            "tenants/a.yaml": HEAD + ORG,
        },
    ),
    Case(
        "duplicate-tenant-id-cites-the-first-files-line",
        ("validate", "tenants"),
        2,
        "tenants/b.yaml:5:3: tenant.id: tenant id is also used by tenants/a.yaml:2; one file per tenant",
        files={"tenants/a.yaml": HEAD + ORG, "tenants/b.yaml": ORG + f"tenant:\n  name: B\n  id: {TENANT_ID}\n"},
    ),
    # ------------------------------------------------------------ 4. addresses and ids, by Entra's rules
    *(
        Case(
            f"user-{case_id}",
            ("validate", "tenants"),
            2,
            f"tenants/a.yaml:6:7: consent.users[0]: {message}",
            files={"tenants/a.yaml": HEAD + f"consent:\n  mode: users\n  users:\n    - {written}\n"},
        )
        for case_id, written, message in [
            (
                "zero-width-space",
                '"al\\u200bice@contoso.com"',
                "contains the invisible character U+200B (ZERO WIDTH SPACE) at position 3: delete it "
                "(retype the value rather than pasting it)",
            ),
            (
                "cyrillic-letter",
                "\u0430lice@contoso.com",
                "U+0430 (CYRILLIC SMALL LETTER A) at position 1 is not allowed in a user principal name (a letter "
                "from another alphabet is a different address): Entra allows A-Z a-z 0-9 and ' . - _ ! # ^ ~ "
                "before the @",
            ),
            (
                "cyrillic-letter-in-domain",
                "alice@c\u043entoso.com",
                "after the @, U+043E (CYRILLIC SMALL LETTER O) is not allowed in a domain name here: retype it in "
                "plain ASCII (a look-alike letter is a different domain; an internationalised domain goes in its "
                "xn-- form)",
            ),
            (
                "path",
                "../../x@contoso.com",
                "'/' at position 3 is not allowed in a user principal name: Entra allows A-Z a-z 0-9 and "
                "' . - _ ! # ^ ~ before the @",
            ),
            ("mailto", "mailto:alice@contoso.com", "write the address without 'mailto:': alice@contoso.com"),
            (
                "trailing-newline",
                '"alice@contoso.com\\n"',
                "contains a line break, U+000A (LINE FEED), at position 18: a value is one line, so remove it (a "
                "block scalar, | or >, keeps its last line break unless written |- or >-)",
            ),
            (
                "markup",
                "'[/]bob@contoso.com'",
                "'[' at position 1 is not allowed in a user principal name: Entra "
                "allows A-Z a-z 0-9 and ' . - _ ! # ^ ~ before the @",
            ),
            ("two-ats", "a@b@contoso.com", "a user principal name has one @, between the username and the domain"),
            ("dot-before-at", "alice.@contoso.com", "Entra does not allow a . right before the @; check the address"),
            ("too-long-before-at", "a" * 65 + "@contoso.com", "65 characters before the @; Entra allows at most 64"),
            (
                "all-zero-object-id",
                "00000000-0000-0000-0000-000000000000",
                "the all-zero GUID is a placeholder, not a real user object id",
            ),
            ("braced-object-id", f"'{{{OTHER_TENANT_ID}}}'", f"write the GUID without braces: {OTHER_TENANT_ID}"),
        ]
    ),
    Case(
        "guest-and-symbols-in-upns-are-valid",
        ("validate", "tenants"),
        0,
        "ok  a  (tenants/a.yaml)",
        files={
            "tenants/a.yaml": HEAD + "consent:\n  mode: users\n  users:\n"
            '    - alice_fabrikam.com#EXT#@contoso.onmicrosoft.com\n    - "!x@contoso.com"\n'
            "    - \"'x@contoso.com\"\n    - o'brien^~@contoso.com\n"
        },
    ),
    Case(
        "all-zero-tenant-id",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:2:3: tenant.id: the all-zero GUID is a placeholder, not a real tenant id: copy the "
        "Directory (tenant) ID from Entra admin centre > Identity > Overview",
        files={"tenants/a.yaml": "tenant:\n  id: 00000000-0000-0000-0000-000000000000\n" + ORG},
    ),
    Case(
        "all-zero-client-id",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:4:3: app.client_id: the all-zero GUID is a placeholder, not a real application id: copy "
        "TaxCalc-Hub's Application ID from Entra admin centre > Enterprise applications in a tenant using it",
        files={"tenants/a.yaml": HEAD + "app:\n  client_id: 00000000-0000-0000-0000-000000000000\n" + ORG},
    ),
    Case(
        "all-zero-automation-client-id",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:6:3: auth.client_id: the all-zero GUID is a placeholder, not a real application id: "
        "copy the automation app's Application (client) ID from its registration",
        files={"tenants/a.yaml": HEAD + ORG + "auth:\n  client_id: 00000000-0000-0000-0000-000000000000\n"},
    ),
    Case(
        "tenant-id-with-a-line-break",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:2:3: tenant.id: contains a line break, U+000A (LINE FEED), at position 37: a value is one "
        "line, so remove it (a block scalar, | or >, keeps its last line break unless written |- or >-)",
        files={"tenants/a.yaml": f"tenant:\n  id: |\n    {TENANT_ID}\n" + ORG},
    ),
    Case(
        "braced-guid-unquoted",
        ("validate", "tenants"),
        2,
        f"tenants/a.yaml:2:3: tenant.id: write the GUID without braces: {TENANT_ID}",
        files={"tenants/a.yaml": f"tenant:\n  id: {{{TENANT_ID.upper()}}}\n" + ORG},
    ),
    Case(
        "braced-guid-quoted-as-a-group",
        ("validate", "tenants"),
        2,
        f"tenants/a.yaml:6:7: consent.groups[0]: write the GUID without braces: {OTHER_TENANT_ID}",
        files={"tenants/a.yaml": HEAD + f"consent:\n  mode: users\n  groups:\n    - '{{{OTHER_TENANT_ID}}}'\n"},
    ),
    Case(
        "domain-with-trailing-dot",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:3:3: tenant.domain: expected a domain name such as contoso.com (letters, digits and -, "
        "labels joined by .)",
        files={"tenants/a.yaml": HEAD + "  domain: contoso.com.\n" + ORG},
    ),
    # ------------------------------------------------- 5. one rule for tenant file names, validate and plan alike
    *(
        Case(
            f"file-name-{case_id}-{command[0]}",
            (*command, "tenants"),
            2,
            f"tenants/{stem}.yaml:1:1: {message}",
            files={f"tenants/{stem}.yaml": HEAD + ORG},
        )
        for command in (("validate",), ("plan",))
        for case_id, stem, message in [
            (
                "space",
                "acme corp",
                "' ' at position 5 is not allowed in a tenant name: the file name without .yaml is the tenant's "
                "Pulumi stack name, which takes only letters A-Z a-z, digits, - _ and .; rename the file, e.g. to "
                "acme-corp.yaml",
            ),
            (
                "colon",
                "a:b",
                "':' at position 2 is not allowed in a tenant name: the file name without .yaml is the tenant's "
                "Pulumi stack name, which takes only letters A-Z a-z, digits, - _ and .; rename the file, e.g. to "
                "a-b.yaml",
            ),
            (
                "non-ascii",
                "café",
                "U+00E9 (LATIN SMALL LETTER E WITH ACUTE) at position 4 is not allowed in a tenant name: the file "
                "name without .yaml is the tenant's Pulumi stack name, which takes only letters A-Z a-z, digits, "
                "- _ and .; rename the file, e.g. to cafe.yaml",
            ),
            (
                "200-characters",
                "a" * 200,
                "a tenant name of 200 characters: the file name without .yaml is the tenant's Pulumi stack name, "
                f"which takes at most 100; rename the file, e.g. to {'a' * 100}.yaml",
            ),
            (
                "leading-dash",
                "-acme",
                "a tenant name starts with a letter or digit: the file name without .yaml is the tenant's Pulumi "
                "stack name; rename the file, e.g. to acme.yaml",
            ),
        ]
    ),
    Case(
        "file-names-differing-only-in-case",
        ("validate", "tenants"),
        2,
        "tenants/contoso.yaml:1:1: short name 'contoso' differs from 'Contoso' (tenants/Contoso.yaml) only in "
        "case, and case-insensitive file systems and state backends would take them for one; stacks are named "
        "after the file stem, so rename one file",
        files={
            "tenants/Contoso.yaml": HEAD + ORG,
            "tenants/contoso.yaml": f"tenant:\n  id: {OTHER_TENANT_ID}\n" + ORG,
        },
    ),
    Case(
        "same-stem-yaml-and-yml",
        ("validate", "tenants"),
        2,
        "tenants/acme.yml:1:1: short name 'acme' is also used by tenants/acme.yaml; stacks are named after the "
        "file stem, so rename one file",
        files={"tenants/acme.yaml": HEAD + ORG, "tenants/acme.yml": f"tenant:\n  id: {OTHER_TENANT_ID}\n" + ORG},
    ),
    # --------------------------------------------------------- 6. a secret is never printed back, not even once
    Case(
        "new-format-secret-as-a-key",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:3: consent: this key looks like a client secret: remove it, rotate the secret, and name "
        "an environment variable in auth.client_secret_env instead",
        files={"tenants/a.yaml": HEAD + ORG + f"  {NEW_SECRET}: 1\n"},
        hides=(NEW_SECRET, NEW_SECRET[6:20]),
    ),
    Case(
        "old-format-secret-as-a-key",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:1: this key looks like a client secret: remove it, rotate the secret, and name an "
        "environment variable in auth.client_secret_env instead",
        files={"tenants/a.yaml": HEAD + ORG + f"'{OLD_SECRET}': 1\n"},
        hides=(OLD_SECRET, OLD_SECRET[6:20]),
    ),
    Case(
        "old-format-secret-as-a-profile",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:4:3: app.profile: unknown profile '[redacted]'; known profiles: taxcalc-hub",
        files={"tenants/a.yaml": HEAD + f"app:\n  profile: '{OLD_SECRET}'\n" + ORG},
        hides=(OLD_SECRET, OLD_SECRET[6:20]),
    ),
    Case(
        "old-format-secret-as-a-scope",
        ("validate", "--json", "tenants"),
        2,
        "tenants/a.yaml:5:12: consent.scopes[0]: unknown delegated scope '[redacted]' on Microsoft Graph",
        files={"tenants/a.yaml": HEAD + f"consent:\n  mode: organization\n  scopes: ['{BASE64_SECRET}']\n"},
        hides=(BASE64_SECRET, BASE64_SECRET[6:20]),
    ),
    *(
        Case(
            f"secret-on-the-command-line-{case_id}",
            args,
            2,
            first,
            shows=(shown,),
            hides=(NEW_SECRET, NEW_SECRET[6:20], OLD_SECRET, OLD_SECRET[6:20]),
        )
        for case_id, args, first, shown in [
            (
                "as-a-shard",
                ("plan", "--shard", NEW_SECRET, "tenants"),
                "Usage: taxcalc-consent plan [OPTIONS] PATH...",
                "Error: Invalid value for '--shard': '[redacted]': expected K/N",
            ),
            (
                "as-a-command",
                (NEW_SECRET,),
                "Usage: taxcalc-consent [OPTIONS] COMMAND [ARGS]...",
                "Error: No such command '[redacted]'.",
            ),
            (
                "as-an-option",
                ("validate", f"--{NEW_SECRET}", "tenants"),
                "Usage: taxcalc-consent validate [OPTIONS] PATH...",
                "Error: No such option: --[redacted]",
            ),
            (
                "as-a-tenant-id",
                ("init", "acme", "--tenant-id", OLD_SECRET),
                "error: --tenant-id '[redacted]': expected a GUID: 32 hexadecimal digits as 8-4-4-4-12, such as "
                "0f8fad5b-d9cb-469f-a165-70867728950e: copy the Directory (tenant) ID from Entra admin centre > "
                "Overview",
                "[redacted]",
            ),
            (
                "as-a-user",
                ("init", "acme", "--tenant-id", TENANT_ID, "--mode", "users", "--user", f"{NEW_SECRET}@contoso.com"),
                "error: --user: this looks like an Entra client secret: rotate it, and name the environment variable "
                "that holds it in auth.client_secret_env instead",
                "rotate it",
            ),
        ]
    ),
    # ----------------------------------------------------------------- 7. errors that can be acted on
    Case(
        "nul-in-a-value",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:3:11: U+0000 (NUL) is not allowed in YAML: delete it (save as plain text)",
        files={"tenants/a.yaml": HEAD + "  name: Co\x00ntoso\n" + ORG},
    ),
    Case(
        "escape-in-a-value",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:3:9: U+001B (ESC) is not allowed in YAML: delete it (save as plain text)",
        files={"tenants/a.yaml": HEAD + "  name: \x1b[31mContoso\n" + ORG},
    ),
    Case(
        "zero-width-space-in-a-name",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:3:3: tenant.name: contains the invisible character U+200B (ZERO WIDTH SPACE) at position 4: "
        "delete it (retype the value rather than pasting it)",
        files={"tenants/a.yaml": HEAD + '  name: "Con\\u200btoso"\n' + ORG},
    ),
    Case(
        "bidi-override-in-a-scope",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:23: consent.scopes[1]: contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE) "
        "at position 8: delete it (retype the value rather than pasting it)",
        files={"tenants/a.yaml": HEAD + "consent:\n  mode: organization\n  scopes: [User.Read, Mail.Se\u202end]\n"},
    ),
    Case(
        "zero-width-joiner-in-a-key",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:1: a key contains the invisible character U+200D (ZERO WIDTH JOINER) at position 4: "
        "delete it (retype the value rather than pasting it)",
        files={"tenants/a.yaml": HEAD + ORG + "acc\u200dess: {}\n"},
    ),
    Case(
        "rule-id-not-kebab-case",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:5:5: policy.enforcement.High_Risk_App_Roles: expected a policy rule id: lower-case "
        "words joined by -, such as high-risk-app-roles; did you mean 'high-risk-app-roles'?",
        files={
            "tenants/_defaults.yaml": DEFAULTS + "policy:\n  enforcement:\n    High_Risk_App_Roles: advisory\n",
            "tenants/a.yaml": HEAD + ORG,
        },
    ),
    *(
        Case(
            f"tenants-folder-holds-{case_id}",
            ("validate", "tenants"),
            2,
            f"tenants/b.yaml:1:1: {message}",
            files={"tenants/a.yaml": HEAD + ORG},
            setup=lambda root, _, make=make: make(root / "tenants/b.yaml"),
        )
        for case_id, make, message in [
            ("a-folder", os.mkdir, "a folder, not a file: a *.yaml entry here must be a tenant file"),
            ("a-fifo", os.mkfifo, "a named pipe (FIFO), not a file: a *.yaml entry here must be a tenant file"),
            (
                "a-link-to-a-device",
                lambda p: os.symlink("/dev/zero", p),
                "a character device, not a file: a *.yaml entry here must be a tenant file",
            ),
            (
                "a-link-to-a-folder",
                lambda p: os.symlink(".", p),
                "a folder, not a file: a *.yaml entry here must be a tenant file",
            ),
            (
                "a-dangling-link",
                lambda p: os.symlink("gone.yaml", p),
                "symbolic link to a missing file; fix or remove the link",
            ),
            (
                "a-link-loop",
                lambda p: os.symlink("b.yaml", p),
                "symbolic link loop: the link points back at itself; fix or remove it",
            ),
        ]
    ),
    Case(
        "a-device-given",
        ("validate", "/dev/zero"),
        2,
        "error: /dev/zero: a character device, not a file: pass tenant files (*.yaml) or folders of them",
    ),
    Case(
        "a-folder-with-no-tenant-files",
        ("validate", "/proc/1"),
        2,
        "error: /proc/1: no tenant files (*.yaml) in this folder",
    ),
    Case(
        "a-link-loop-given",
        ("validate", "tenants/a.yaml"),
        2,
        "error: tenants/a.yaml: symbolic link loop: the link points back at itself; fix or remove it",
        setup=lambda root, _: os.symlink("a.yaml", root / "tenants/a.yaml"),
    ),
    Case(
        "a-fifo-given",
        ("validate", "tenants/a.yaml"),
        2,
        "error: tenants/a.yaml: a named pipe (FIFO), not a file: pass tenant files (*.yaml) or folders of them",
        setup=lambda root, _: os.mkfifo(root / "tenants/a.yaml"),
    ),
    # Running as root, chmod cannot make a folder unreadable: the refusal is made at the loader's one seam
    # to the file system (os.scandir / os.stat / os.open) instead; test_unreadable_for_real does it for real.
    Case(
        "an-unreadable-folder",
        ("validate", "tenants"),
        2,
        "error: tenants: cannot list this folder: permission denied: make it (and its folders) readable by this user",
        setup=lambda _, monkeypatch: _refuse(monkeypatch, "scandir", "tenants"),
    ),
    Case(
        "a-file-under-an-unreadable-folder",
        ("validate", "locked/a.yaml"),
        2,
        "error: locked/a.yaml: permission denied: make it (and its folders) readable by this user",
        setup=lambda _, monkeypatch: _refuse(monkeypatch, "stat", "locked/a.yaml"),
    ),
    Case(
        "an-unreadable-file",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:1:1: permission denied: make it (and its folders) readable by this user",
        files={"tenants/a.yaml": HEAD + ORG},
        setup=lambda _, monkeypatch: _refuse(monkeypatch, "open", "tenants/a.yaml"),
    ),
    Case(
        "defaults-is-a-folder",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:1:1: a folder, not a file: expected a YAML text file here",
        files={"tenants/a.yaml": HEAD + ORG},
        setup=lambda root, _: _replace(root / "tenants/_defaults.yaml", os.mkdir),
        hides=("missing application id",),
    ),
    Case(
        "defaults-is-a-fifo",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:1:1: a named pipe (FIFO), not a file: expected a YAML text file here",
        files={"tenants/a.yaml": HEAD + ORG},
        setup=lambda root, _: _replace(root / "tenants/_defaults.yaml", os.mkfifo),
        hides=("missing application id",),
    ),
    Case(
        "defaults-is-a-dangling-link",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:1:1: symbolic link to a missing file; fix or remove the link",
        files={"tenants/a.yaml": HEAD + ORG},
        setup=lambda root, _: _replace(root / "tenants/_defaults.yaml", lambda p: os.symlink("gone.yaml", p)),
        hides=("missing application id",),
    ),
    Case(
        "defaults-is-a-link-loop",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:1:1: symbolic link loop: the link points back at itself; fix or remove it",
        files={"tenants/a.yaml": HEAD + ORG},
        setup=lambda root, _: _replace(root / "tenants/_defaults.yaml", lambda p: os.symlink(p.name, p)),
        hides=("missing application id",),
    ),
    # ----------------------------------------------------- 3. tracebacks where a located error is promised
    Case(
        "nested-flow-mappings",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:128: x"
        + ".a" * 31
        + ": nested more than 32 levels deep; a tenant file needs no more than four",
        files={"tenants/a.yaml": HEAD + ORG + "x: " + "{a: " * 600 + "}" * 600 + "\n"},
    ),
    Case(
        "nested-block-mappings",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:37:65: x"
        + ".a" * 31
        + ": nested more than 32 levels deep; a tenant file needs no more than four",
        files={"tenants/a.yaml": HEAD + ORG + "x:\n" + "".join("  " * i + "a:\n" for i in range(1, 300))},
    ),
    Case(
        "nested-flow-sequences",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:1003: invalid YAML: while increasing flow level; exceeded maximum nesting depth",
        files={"tenants/a.yaml": HEAD + ORG + "x: " + "[" * 2000 + "]" * 2000 + "\n"},
    ),
    # -------------------------------------------------------------------- 10. large hostile files, capped
    *(
        Case(
            f"many-{case_id}",
            ("validate", "tenants"),
            2,
            first,
            files={"tenants/a.yaml": body},
            shows=(more, f"{total:,} problem(s) in 1 file(s); nothing was changed"),
        )
        for case_id, body, first, more, total in [
            (
                "unknown-keys",
                HEAD + ORG + "".join(f"k{i:05d}: {i}\n" for i in range(45_000)),
                "tenants/a.yaml:5:1: k00000: unknown key 'k00000'; expected one of: tenant, app, consent, access, "
                "auth, exceptions, acknowledged, policy, consent_settings",
                "tenants/a.yaml:54:1: ... and 44,950 more problem(s) in this file; fix these and run again to see "
                "the rest",
                45_000,
            ),
            (
                "unknown-scopes",
                HEAD
                + "consent:\n  mode: organization\n  scopes:\n"
                + "".join(f"    - S{i}.Read\n" for i in range(20_000)),
                "tenants/a.yaml:6:7: consent.scopes[0]: unknown delegated scope 'S0.Read' on Microsoft Graph; "
                "did you mean 'User.Read'?",
                "tenants/a.yaml:55:7: ... and 19,950 more problem(s) in this file; fix these and run again to see "
                "the rest",
                20_000,
            ),
            (
                "duplicate-keys",
                HEAD + ORG + "".join("access: {}\n" for _ in range(20_000)),
                "tenants/a.yaml:6:1: access: duplicate key (first written at line 5); keep one",
                "tenants/a.yaml:55:1: ... and 19,949 more problem(s) in this file; fix these and run again to see "
                "the rest",
                19_999,
            ),
        ]
    ),
    # ------------------------------------------------------------------ 8. init writes only what validates
    Case(
        "init-the-same-user-twice",
        ("init", "acme", "--tenant-id", TENANT_ID, "--mode", "users", "--user", "a@x.com", "--user", "A@x.com"),
        2,
        "error: --user 'A@x.com' is the same user as --user 'a@x.com' (user principal names and object ids ignore "
        "case): give each user once",
    ),
    *(
        Case(
            f"init-user-starting-with-{case_id}",
            ("init", "acme", "--tenant-id", TENANT_ID, "--mode", "users", "--user", user),
            2,
            f"error: --user {user!r}: {char!r} at position 1 is not allowed in a user principal name: Entra allows "
            "A-Z a-z 0-9 and ' . - _ ! # ^ ~ before the @",
        )
        for case_id, user, char in [
            ("star", "*x@contoso.com", "*"),
            ("bracket", "[x@contoso.com", "["),
            ("double-quote", '"x@contoso.com', '"'),
        ]
    ),
    Case(
        "init-without-a-client-id-anywhere",
        ("init", "acme", "--tenant-id", TENANT_ID, "--dir", "elsewhere"),
        2,
        "error: TaxCalc-Hub's application id is needed: pass --client-id GUID, or set app.client_id once for every "
        f"tenant in elsewhere/_defaults.yaml. {CLIENT_ID_HELP}",
    ),
    Case(
        "init-all-zero-tenant-id",
        ("init", "acme", "--tenant-id", "00000000-0000-0000-0000-000000000000"),
        2,
        "error: --tenant-id '00000000-0000-0000-0000-000000000000': the all-zero GUID is a placeholder, not a real "
        "tenant id: copy the Directory (tenant) ID from Entra admin centre > Overview",
    ),
    Case(
        "init-braced-tenant-id",
        ("init", "acme", "--tenant-id", f"{{{TENANT_ID}}}"),
        2,
        f"error: --tenant-id '{{{TENANT_ID}}}': write the GUID without braces: {TENANT_ID}",
    ),
    Case(
        "init-name-with-a-space",
        ("init", "acme corp", "--tenant-id", TENANT_ID),
        2,
        "error: NAME 'acme corp': ' ' at position 5 is not allowed in a tenant name: the file name without .yaml is "
        "the tenant's Pulumi stack name, which takes only letters A-Z a-z, digits, - _ and .; choose another NAME, "
        "e.g. acme-corp",
    ),
    Case(
        "init-name-with-a-line-break",
        ("init", "acme\n", "--tenant-id", TENANT_ID),
        2,
        "error: NAME 'acme\\n': U+000A (LINE FEED) at position 5 is not allowed in a tenant name: the file name "
        "without .yaml is the tenant's Pulumi stack name, which takes only letters A-Z a-z, digits, - _ and .; "
        "choose another NAME, e.g. acme",
    ),
    Case(
        "init-name-differing-only-in-case",
        ("init", "Acme", "--tenant-id", OTHER_TENANT_ID),
        2,
        "tenants/Acme.yaml:1:1: tenants/acme.yaml already names this stack (stack names ignore case); choose "
        "another name",
        files={"tenants/acme.yaml": HEAD + ORG},
    ),
    Case(
        "init-a-tenant-id-another-file-uses",
        ("init", "beta", "--tenant-id", TENANT_ID),
        2,
        "tenants/beta.yaml:6:3: tenant.id: tenant id is also used by tenants/acme.yaml:2; one file per tenant",
        files={"tenants/acme.yaml": HEAD + ORG},
    ),
    Case(
        "init-dir-is-a-file",
        ("init", "acme", "--tenant-id", TENANT_ID, "--dir", "tenants/_defaults.yaml"),
        2,
        "error: --dir tenants/_defaults.yaml: a file, not a folder; name the folder of tenant files",
    ),
    Case(
        "init-dir-is-a-dangling-link",
        ("init", "acme", "--tenant-id", TENANT_ID, "--client-id", CLIENT_ID, "--dir", "gone"),
        2,
        "error: --dir gone: symbolic link to a missing folder; fix the link",
        setup=lambda root, _: os.symlink("nowhere", root / "gone"),
    ),
    Case(
        "init-dir-under-a-file",
        ("init", "acme", "--tenant-id", TENANT_ID, "--client-id", CLIENT_ID, "--dir", "tenants/_defaults.yaml/x"),
        2,
        "error: --dir tenants/_defaults.yaml/x: a part of this path is a file, not a folder",
    ),
    Case(
        "init-dir-in-proc",
        ("init", "acme", "--tenant-id", TENANT_ID, "--client-id", CLIENT_ID, "--dir", "/proc/1"),
        2,
        "error: cannot write /proc/1/acme.yaml: No such file or directory; choose another --dir",
    ),
    Case(
        "init-mandatory-policy-violation",
        ("init", "acme", "--tenant-id", TENANT_ID),
        2,
        "  tenants/acme.yaml:16:3: consent.mode: mandatory: tenant-wide-consent: organization mode grants every user "
        "in the tenant (AllPrincipals), including users added later: if only some mailboxes send from TaxCalc, use "
        "mode: users with consent.users or consent.groups",
        files={"tenants/_defaults.yaml": DEFAULTS + "policy:\n  enforcement:\n    tenant-wide-consent: mandatory\n"},
    ),
    # ------------------------------------------- 9. every missing prerequisite of an engine run, in one run
    *(
        Case(
            f"{command[0]}-without-passphrase-secret-or-pulumi",
            (*command, "tenants"),
            2,
            "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): the passphrase that encrypts stack "
            "secrets in file://{root}/.pulumi-state; it is never prompted for",
            files={"tenants/a.yaml": HEAD + USERS + "auth:\n  method: client-secret\n  client_secret_env: A_SECRET\n"},
            setup=_no_prerequisites,
            shows=(
                "tenants/a.yaml: auth.client_secret_env names A_SECRET, which is not set or empty",
                PULUMI_MISSING,
                "error: 3 problem(s) to fix before any tenant can run; nothing was changed",
            ),
        )
        for command in (("plan",), ("apply", "--yes"), ("drift",), ("offboard", "--yes"))
    ),
    Case(
        "plan-without-pulumi-only",
        ("plan", "tenants"),
        1,
        f"error: {PULUMI_MISSING}",
        files={"tenants/a.yaml": HEAD + USERS},
        setup=lambda root, monkeypatch: (
            _no_prerequisites(root, monkeypatch),
            monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple"),
            monkeypatch.setenv("ARM_USE_MSI", "true"),  # a way to sign in (infra.signin): only Pulumi is missing
        ),
    ),
    # ---------------------------------------------------------------- 2. nothing is read as console markup
    Case(
        "markup-in-unknown-key",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:1: [link=https://evil.example]x[/link]: unknown key '[link=https://evil.example]x[/link]'; "
        "expected one of: tenant, app, consent, access, auth, exceptions, acknowledged, policy, consent_settings",
        files={"tenants/a.yaml": HEAD + ORG + "'[link=https://evil.example]x[/link]': 1\n"},
    ),
    Case(
        "markup-in-unknown-scopes",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:12: consent.scopes[0]: unknown delegated scope '[/]' on Microsoft Graph",
        files={"tenants/a.yaml": HEAD + "consent:\n  mode: organization\n  scopes: ['[/]', '[dim]x[/dim]']\n"},
        shows=("consent.scopes[1]: unknown delegated scope '[dim]x[/dim]' on Microsoft Graph",),
    ),
    Case(
        "markup-in-group-names-validate",
        ("validate", "tenants"),
        0,
        "ok  a  (tenants/a.yaml)",
        files={"tenants/a.yaml": users_mode(*MARKUP)},
    ),
    Case(
        "markup-in-group-names-plan-table",
        ("plan", "--offline", "tenants"),
        0,
        "a  tenants/a.yaml  tenant " + TENANT_ID,
        files={"tenants/a.yaml": users_mode(*MARKUP)},
        shows=tuple(f"each user member of group {name}" for name in MARKUP),
    ),
]


# =====================================================================================================
# Second round (issue 23): what the tool writes, what a tag hides, what a terminal shows. Every case here
# failed before: it overwrote an input, hung, printed without bound, let a hidden character or a secret
# through, crashed, or printed something raw.
# =====================================================================================================

# Secrets in the shapes an MSP's tools issue them (never real ones), each built from parts so that no
# scanner takes this file for a leak. The shapes and their sources: SECRET_SHAPES in infra/model/errors.py.
PULUMI_TOKEN = "pul-" + "3f9c0a7d1e5b2c8a" * 2 + "4d6e8f01"
GITHUB_TOKEN = "gh" + "p_" + "A1bC2dE3fH4iJ5kL6mN7oP8qR9sT0uVwXyZ1"
GITHUB_FINE_GRAINED = "github" + "_pat_" + "11ABCDEFG0123456789abc" + "_" + "Zy9" * 19 + "Qx"
ADO_PAT = "Fb" * 38 + "AZ" + "DO" + "Bu7T"
STORAGE_KEY = "Kq9" * 28 + "x+" + "=="
SAS_QUERY = "sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig=" + "Vx3" * 14 + "Q%2B" + "%3D"
LONG_VALUE = "a" * 100_000
TIMESTAMP = 1_798_675_200  # 2027-01-01 as a Unix timestamp


def _binary(text: str) -> str:
    """``text`` written as a YAML !!binary scalar (base64 of its UTF-8 bytes)."""
    return "!!binary " + base64.b64encode(text.encode("utf-8")).decode("ascii")


def _exception(expires: str = "2027-03-31", reason: str = "CHG-1234 bulk mail pilot") -> str:
    return (
        "consent:\n  mode: organization\n  app_roles: [Mail.Send]\nexceptions:\n"
        f"  - rule: high-risk-app-roles\n    permission: Mail.Send\n    reason: {reason}\n    expires: {expires}\n"
    )


def _same(path: str, body: str) -> Callable[[Path, Any], None]:
    """After the run: the input at ``path`` still holds exactly what the case wrote there."""

    def check(root: Path, _: Any) -> None:
        assert (root / path).read_text(encoding="utf-8") == body

    return check


def _not_written(path: str) -> Callable[[Path, Any], None]:
    def check(root: Path, _: Any) -> None:
        assert not os.path.lexists(root / path), path

    return check


def _bounded(limit: int) -> Callable[[Path, Any], None]:
    def check(_: Path, result: Any) -> None:
        assert len(result.stdout) + len(result.stderr) < limit, len(result.stdout) + len(result.stderr)

    return check


def _json_on_stdout(_: Path, result: Any) -> None:
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert all(problem["file"].isprintable() for problem in document["problems"]), document


def _no_raw_controls(_: Path, result: Any) -> None:
    output = result.stdout + result.stderr
    assert not any(c in output for c in ("\x1b", "\x07", "\x85", "\u2028", "\r")), repr(output[:500])


def _node(kind: int, device: tuple[int, int] = (0, 0)) -> Callable[[Path], object]:
    """A device or pipe of our own in the test's folder: a regression renames a file over this one, never
    over the machine's /dev/null (as root, that would break it for every process)."""

    def make(path: Path) -> None:
        try:
            os.mknod(path, kind | 0o666, os.makedev(*device))
        except PermissionError:
            pytest.skip("creating a device node needs CAP_MKNOD")

    return make


VALID = HEAD + ORG
INVALID = HEAD + "consent:\n  mode: everyone\n"

SECOND_ROUND: list[Case] = [
    # ------------------------------------- 1. --out: never over an input, never over what is not a regular file
    *(
        Case(
            f"out-names-{case_id}",
            (*command, "--out", target, "tenants"),
            2,
            f"error: --out {target}: a file this run read as input: an output never replaces an input; name a new "
            "file for the document (nothing was written, nothing changed)",
            files={"tenants/a.yaml": VALID},
            after=_same(target, VALID if target.endswith("a.yaml") else DEFAULTS),
        )
        for case_id, command, target in [
            ("a-tenant-file", ("validate",), "tenants/a.yaml"),
            ("the-defaults", ("validate", "--json"), "tenants/_defaults.yaml"),
            ("a-tenant-file-plan", ("plan", "--offline", "--json"), "tenants/a.yaml"),
            ("a-tenant-file-plan-tables", ("plan", "--offline"), "tenants/a.yaml"),
            ("a-tenant-file-apply", ("apply", "--yes"), "tenants/a.yaml"),
        ]
    ),
    Case(
        "out-names-an-invalid-input",
        ("validate", "--json", "--out", "tenants/a.yaml", "tenants"),
        2,
        "tenants/a.yaml:4:3: consent.mode: Input should be 'organization' or 'users'",
        files={"tenants/a.yaml": INVALID},
        shows=("error: --out tenants/a.yaml: a file this run read as input",),
        after=_same("tenants/a.yaml", INVALID),
    ),
    Case(
        "out-names-a-hard-link-to-an-input",
        ("validate", "--out", "report.json", "tenants"),
        2,
        "error: --out report.json: a file this run read as input: an output never replaces an input; name a new "
        "file for the document (nothing was written, nothing changed)",
        files={"tenants/a.yaml": VALID},
        setup=lambda root, _: os.link(root / "tenants/a.yaml", root / "report.json"),
        after=_same("tenants/a.yaml", VALID),
    ),
    *(
        Case(
            f"out-is-{case_id}",
            ("validate", "--out", "out.json", "tenants"),
            1,
            f"error: --out out.json: {what}, not a regular file: the tool writes a file whole, by renaming a new one "
            "into place, never through a symbolic link nor over a device, a pipe or a socket; to pass the document "
            "to a program, use --json and a pipe (taxcalc-consent ... --json | jq .)",
            files={"tenants/a.yaml": VALID, "elsewhere.txt": "not a report\n"},
            setup=lambda root, _, make=make: make(root / "out.json"),
            after=lambda root, _: (_special(root / "out.json"), _same("elsewhere.txt", "not a report\n")(root, _)),
        )
        for case_id, make, what in [
            ("a-fifo", os.mkfifo, "a named pipe (FIFO)"),
            ("a-link-to-a-device", lambda p: os.symlink("/dev/null", p), "a symbolic link to a character device"),
            ("a-link-to-a-file", lambda p: os.symlink("tenants/../elsewhere.txt", p), "a symbolic link to a file"),
            ("a-character-device", _node(stat.S_IFCHR, (1, 3)), "a character device"),
        ]
    ),
    Case(
        "out-of-a-failed-run-says-valid-false",
        ("validate", "--out", "report.json", "tenants"),
        2,
        "tenants/a.yaml:4:3: consent.mode: Input should be 'organization' or 'users'",
        files={"tenants/a.yaml": INVALID, "report.json": '{"format": "taxcalc-consent/validate@1", "valid": true}\n'},
        shows=("wrote report.json",),
        after=lambda root, _: _assert_invalid_report(root / "report.json"),
    ),
    Case(
        "out-of-a-failed-engine-run-says-valid-false",
        ("apply", "--yes", "--report", "run.json", "tenants"),
        2,
        "tenants/a.yaml:4:3: consent.mode: Input should be 'organization' or 'users'",
        files={"tenants/a.yaml": INVALID, "run.json": '{"format": "taxcalc-consent/run@1"}\n'},
        after=lambda root, _: _assert_invalid_report(root / "run.json"),
    ),
    # ------------------------------------------------------------- 3. output held to the input's measure
    Case(
        "two-hundred-unknown-rule-ids",
        ("validate", "tenants"),
        2,
        "tenants/_defaults.yaml:5:5: policy.enforcement.r000: unknown policy rule 'r000'; known rules: "
        "known-permissions, allowed-scopes, high-risk-app-roles, expired-exception, assignment-coverage, "
        "sign-in-scopes-covered, admin-consent-reviewers, tenant-wide-consent, offline-access, user-consent-all-apps",
        files={
            "tenants/_defaults.yaml": DEFAULTS
            + "policy:\n  enforcement:\n"
            + "".join(f"    r{i:03d}: advisory\n" for i in range(200)),
            "tenants/a.yaml": VALID,
        },
        shows=(
            "tenants/_defaults.yaml:54:5: ... and 150 more problem(s) in this file; fix these and run again to see "
            "the rest",
            "200 problem(s) in 1 file(s); nothing was changed",
        ),
        after=lambda _, result: _line_count(result, 52),
    ),
    Case(
        "two-hundred-exceptions-to-unknown-rules",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:6:6: exceptions[0].rule: unknown policy rule 'r000'; known rules: known-permissions, "
        "allowed-scopes, high-risk-app-roles, expired-exception, assignment-coverage, sign-in-scopes-covered, "
        "admin-consent-reviewers, tenant-wide-consent, offline-access, user-consent-all-apps",
        files={
            "tenants/a.yaml": VALID
            + "exceptions:\n"
            + "".join(
                f"  - {{rule: r{i:03d}, permission: Mail.Send, reason: pilot, expires: 2027-03-31}}\n"
                for i in range(200)
            )
        },
        shows=("... and 150 more problem(s) in this file", "200 problem(s) in 1 file(s)"),
        after=lambda _, result: _line_count(result, 52),
    ),
    Case(
        "a-long-value-repeated-through-aliases",
        ("validate", "tenants"),
        2,
        f"tenants/a.yaml:5:12: consent.scopes[0]: unknown delegated scope '{'a' * 60}'… "
        "(100,000 characters) on Microsoft Graph",
        files={
            "tenants/a.yaml": HEAD
            + "consent:\n  mode: organization\n"
            + f"  scopes: [&long '{LONG_VALUE}', "
            + ", ".join(["*long"] * 60)
            + "]\n"
        },
        # 61 problems about a 100 KB value: before, each quoted it whole (6 MB).
        after=_bounded(20_000),
    ),
    # ------------------------------------------------------------------------ 4. what a tag or a line break hides
    Case(
        "binary-group-name-with-a-zero-width-space",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:6:7: consent.groups[0]: contains the invisible character U+200B (ZERO WIDTH SPACE) at "
        "position 4: delete it (retype the value rather than pasting it)",
        files={"tenants/a.yaml": HEAD + "consent:\n  mode: users\n  groups:\n    - " + _binary("Tax\u200bCalc") + "\n"},
    ),
    Case(
        "binary-entra-secret",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:3:3: tenant.name: this value looks like an Entra client secret: remove it, rotate the "
        "secret, and name an environment variable in auth.client_secret_env instead",
        files={"tenants/a.yaml": HEAD + f"  name: {_binary(NEW_SECRET)}\n" + ORG},
        hides=(NEW_SECRET, base64.b64encode(NEW_SECRET.encode()).decode()),
    ),
    Case(
        "set-of-users-with-a-bidi-override",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:3: consent.users: contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE) at "
        "position 3: delete it (retype the value rather than pasting it)",
        files={"tenants/a.yaml": HEAD + 'consent:\n  mode: users\n  users: !!set\n    ? "al\\u202eice@contoso.com"\n'},
    ),
    *(
        Case(
            f"raw-{case_id}-in-a-value",
            ("validate", "tenants"),
            2,
            f"tenants/a.yaml:3:12: {named} is a line break to YAML but not to editors: a tenant file breaks lines "
            "with LF (or CRLF) only, and a value is one line; delete it (retype the text rather than pasting it)",
            files={"tenants/a.yaml": HEAD + f"  name: Con{char}toso\n" + ORG + "x: 1\n"},
        )
        for case_id, char, named in [
            ("line-separator", "\u2028", "U+2028 (LINE SEPARATOR)"),
            ("paragraph-separator", "\u2029", "U+2029 (PARAGRAPH SEPARATOR)"),
            ("next-line", "\x85", "U+0085 (NEXT LINE)"),
            ("carriage-return", "\r", "U+000D (CARRIAGE RETURN)"),
        ]
    ),
    *(
        Case(
            f"escaped-{case_id}-in-a-group-name-{command[0]}",
            (*command, "tenants"),
            2,
            f"tenants/a.yaml:6:7: consent.groups[0]: contains a line break, {named}, at position 8: a value is one "
            "line, so remove it (a block scalar, | or >, keeps its last line break unless written |- or >-)",
            files={
                "tenants/a.yaml": HEAD
                + f'consent:\n  mode: users\n  groups:\n    - "Mailbox{escape}ok  b  (tenants/b.yaml)"\n'
            },
            hides=("\nok  b",),
        )
        for command in (("validate",), ("plan", "--offline"))
        for case_id, escape, named in [
            ("line-feed", "\\n", "U+000A (LINE FEED)"),
            ("carriage-return", "\\r", "U+000D (CARRIAGE RETURN)"),
            ("line-separator", "\\L", "U+2028 (LINE SEPARATOR)"),
            ("next-line", "\\N", "U+0085 (NEXT LINE)"),
        ]
    ),
    Case(
        "a-multi-line-reason",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:9:5: exceptions[0].reason: contains a line break, U+000A (LINE FEED), at position 8: a "
        "value is one line, so remove it (a block scalar, | or >, keeps its last line break unless written |- or >-)",
        files={"tenants/a.yaml": HEAD + _exception(reason="|\n      CHG-123\n      approved by ok")},
    ),
    # ---------------------------------------------------------------------------- 5. what a terminal shows
    Case(
        "escape-sequence-in-a-file-name",
        ("validate", "tenants"),
        2,
        "tenants/\\x1b]0;pwned\\x07.yaml:1:1: U+001B (ESC) at position 1 is not allowed in a tenant name: the file "
        "name without .yaml is the tenant's Pulumi stack name, which takes only letters A-Z a-z, digits, - _ and .; "
        "rename the file, e.g. to 0-pwned.yaml",
        files={"tenants/\x1b]0;pwned\x07.yaml": VALID},
        after=_no_raw_controls,
    ),
    Case(
        "escape-sequence-in-a-folder-name-validate",
        ("validate", "t\x1b[2Jx"),
        0,
        "ok  a  (t\\x1b[2Jx/a.yaml)",
        files={"t\x1b[2Jx/_defaults.yaml": DEFAULTS, "t\x1b[2Jx/a.yaml": VALID},
        after=_no_raw_controls,
    ),
    Case(
        "escape-sequence-in-a-folder-name-plan-json",
        ("plan", "--offline", "--json", "--out", "plan.json", "t\x1b[2Jx"),
        0,
        "wrote plan.json",
        files={"t\x1b[2Jx/_defaults.yaml": DEFAULTS, "t\x1b[2Jx/a.yaml": VALID},
        shows=('"file": "t\\\\x1b[2Jx/a.yaml"',),
        after=_no_raw_controls,
    ),
    Case(
        "latin-1-file-name-validate-json",
        ("validate", "--json", "tenants"),
        2,
        "tenants/caf\\xe9.yaml:1:1: the byte 0xE9 (the name is not UTF-8: Latin-1 from a Windows zip, say) at "
        "position 4 is not allowed in a tenant name: the file name without .yaml is the tenant's Pulumi stack name, "
        "which takes only letters A-Z a-z, digits, - _ and .; rename the file, e.g. to caf.yaml",
        setup=lambda root, _: (root / os.fsdecode(b"tenants/caf\xe9.yaml")).write_text(VALID, encoding="utf-8"),
        after=_json_on_stdout,
    ),
    # ---------------------------------------------------------- 6. values that pass for what they are not
    *(
        Case(
            f"exception-expires-{case_id}",
            ("validate", "tenants"),
            2,
            f"tenants/a.yaml:10:5: exceptions[0].expires: {message}",
            files={"tenants/a.yaml": HEAD + _exception(expires=expires)},
        )
        for case_id, expires, message in [
            (
                "a-unix-timestamp",
                str(TIMESTAMP),
                "expected a date as YYYY-MM-DD, not a number (a Unix timestamp is not read as a date)",
            ),
            ("a-quoted-timestamp", f"'{TIMESTAMP}'", "expected a date as YYYY-MM-DD"),
            ("a-date-and-time", "2027-03-31T00:00:00", "expected a date as YYYY-MM-DD, without a time"),
        ]
    ),
    *(
        Case(
            f"exception-reason-{case_id}",
            ("validate", "tenants"),
            2,
            "tenants/a.yaml:9:5: exceptions[0].reason: expected the reason for the exception (who approved it and "
            f"why, e.g. a change number), not {what}",
            files={"tenants/a.yaml": HEAD + _exception(reason=reason)},
        )
        for case_id, reason, what in [("empty", "''", "an empty text"), ("blanks", "'   '", "only blanks")]
    ),
    # ----------------------------------------------------- 7. secrets of other shapes; names that are no secret
    *(
        Case(
            f"{kind}-as-an-option-value",
            ("plan", "--shard", token, "tenants"),
            2,
            "Usage: taxcalc-consent plan [OPTIONS] PATH...",
            shows=("Error: Invalid value for '--shard': '[redacted]': expected K/N",),
            hides=(token, token[8:30]),
        )
        # GitHub tokens and storage keys were caught before by a rule for random-looking strings, which also
        # hid names such as Application.ReadWrite.OwnedBy; now by their shapes, as the others.
        for kind, token in [
            ("pulumi-token", PULUMI_TOKEN),
            ("github-token", GITHUB_TOKEN),
            ("github-fine-grained-token", GITHUB_FINE_GRAINED),
            ("azure-devops-pat", ADO_PAT),
            ("storage-account-key", STORAGE_KEY),
        ]
    ),
    *(
        Case(
            f"{kind}-as-a-stray-key",
            ("validate", "tenants"),
            2,
            "tenants/a.yaml:5:1: this key looks like a client secret: remove it, rotate the secret, and name an "
            "environment variable in auth.client_secret_env instead",
            files={"tenants/a.yaml": VALID + f"'{token}': 1\n"},
            hides=(token, token[8:30]),
        )
        for kind, token in [("pulumi-token", PULUMI_TOKEN), ("azure-devops-pat", ADO_PAT), ("storage-key", STORAGE_KEY)]
    ),
    *(
        Case(
            f"{kind}-as-a-value",
            ("validate", "tenants"),
            2,
            f"tenants/a.yaml:3:3: tenant.name: this value looks like {what}: remove it, rotate the secret, and name "
            "an environment variable in auth.client_secret_env instead",
            files={"tenants/a.yaml": HEAD + f"  name: '{value}'\n" + ORG},
            hides=(secret, secret[8:30]),
        )
        for kind, value, secret, what in [
            ("pulumi-token", PULUMI_TOKEN, PULUMI_TOKEN, "a Pulumi access token"),
            ("github-token", f"token {GITHUB_TOKEN}", GITHUB_TOKEN, "a GitHub token"),
            ("azure-devops-pat", ADO_PAT, ADO_PAT, "an Azure DevOps personal access token"),
            (
                "storage-connection-string",
                f"DefaultEndpointsProtocol=https;AccountName=x;AccountKey={STORAGE_KEY}",
                STORAGE_KEY,
                "an Azure Storage account key",
            ),
            (
                "sas-url",
                f"https://x.blob.core.windows.net/c?{SAS_QUERY}",
                SAS_QUERY[-40:],
                "an Azure Storage shared access signature",
            ),
        ]
    ),
    Case(
        "pulumi-token-as-an-init-option",
        ("init", "acme", "--tenant-id", PULUMI_TOKEN),
        2,
        "error: --tenant-id: this looks like a Pulumi access token: rotate it, and name the environment variable "
        "that holds it in auth.client_secret_env instead",
        hides=(PULUMI_TOKEN, PULUMI_TOKEN[8:30]),
    ),
    Case(
        "application-permission-among-scopes-is-named",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:12: consent.scopes[0]: 'Application.ReadWrite.OwnedBy' is an application permission, not "
        "a delegated scope: list it under consent.app_roles, or pick the delegated scope the app asks for",
        files={"tenants/a.yaml": HEAD + "consent:\n  mode: organization\n  scopes: [Application.ReadWrite.OwnedBy]\n"},
    ),
    # --------------------------------------------------------------------------------------- 8. quiet widening
    Case(
        "tenant-file-replaces-the-application-id",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:4:3: app.client_id: TaxCalc-Hub's application id is set for every tenant in this folder in "
        "tenants/_defaults.yaml:2, and a tenant file may not replace it (consent here would go to another "
        "application without the review _defaults.yaml gets): remove app.client_id from this file, or, after "
        "review, let tenant files set it with policy.client_id_in_tenant_files: true in _defaults.yaml",
        files={"tenants/a.yaml": HEAD + f"app:\n  client_id: {OTHER_TENANT_ID}\n" + ORG},
    ),
    Case(
        "tenant-file-replaces-the-application-id-where-policy-allows",
        ("validate", "tenants"),
        0,
        "ok  a  (tenants/a.yaml)",
        files={
            "tenants/_defaults.yaml": DEFAULTS + "policy:\n  client_id_in_tenant_files: true\n",
            "tenants/a.yaml": HEAD + f"app:\n  client_id: {OTHER_TENANT_ID}\n" + ORG,
        },
    ),
    Case(
        "tenant-file-repeats-the-application-id",
        ("validate", "tenants"),
        0,
        "ok  a  (tenants/a.yaml)",
        files={"tenants/a.yaml": HEAD + f"app:\n  client_id: {CLIENT_ID.upper()}\n" + ORG},
    ),
    Case(
        "init-replaces-the-application-id",
        ("init", "acme", "--tenant-id", TENANT_ID, "--client-id", OTHER_TENANT_ID),
        2,
        "tenants/acme.yaml:11:3: app.client_id: TaxCalc-Hub's application id is set for every tenant in this folder "
        "in tenants/_defaults.yaml:2, and a tenant file may not replace it (consent here would go to another "
        "application without the review _defaults.yaml gets): remove app.client_id from this file, or, after "
        "review, let tenant files set it with policy.client_id_in_tenant_files: true in _defaults.yaml",
        after=_not_written("tenants/acme.yaml"),
    ),
    *(
        Case(
            f"near-miss-file-name-{case_id}",
            ("validate", "tenants"),
            2,
            f"tenants/{name}:1:1: not read: a tenant file's name ends in .yaml or .yml, and this one in {suffix!r}, "
            "which Windows and macOS read as a tenant file (skipped here, it would pass without a check); rename "
            f"it to {stem}.yaml, or move it out of this folder if it is no tenant",
            files={"tenants/a.yaml": VALID, f"tenants/{name}": f"tenant:\n  id: {OTHER_TENANT_ID}\n" + ORG},
        )
        for case_id, name, stem, suffix in [
            ("upper-case", "b.YAML", "b", ".YAML"),
            ("mixed-case-yml", "b.Yml", "b", ".Yml"),
            ("trailing-space", "b.yaml ", "b", ".yaml "),
            ("trailing-dot", "b.yaml.", "b", ".yaml."),
        ]
    ),
    Case(
        "near-miss-file-name-named-directly",
        ("validate", "tenants/a.yaml", "tenants/b.YAML"),
        2,
        "tenants/b.YAML:1:1: not read: a tenant file's name ends in .yaml or .yml, and this one in '.YAML', which "
        "Windows and macOS read as a tenant file (skipped here, it would pass without a check); rename it to "
        "b.yaml, or move it out of this folder if it is no tenant",
        files={"tenants/a.yaml": VALID, "tenants/b.YAML": f"tenant:\n  id: {OTHER_TENANT_ID}\n" + ORG},
    ),
    Case(
        "editor-backup-named-directly",
        ("validate", "tenants/a.yaml~"),
        2,
        "error: tenants/a.yaml~: not a tenant file: a tenant file's name ends in .yaml or .yml (this one is named "
        "like a copy of one, an editor's backup say)",
        files={"tenants/a.yaml~": VALID},
    ),
    *(
        Case(
            f"near-miss-file-name-{case_id}",
            ("validate", "tenants"),
            0,
            f"tenants/{name}:1:1: warning: not read: named like a copy of a tenant file (an editor's backup or a file "
            "set aside); delete it or move it out of this folder, or rename it to end in .yaml if it is a tenant",
            files={"tenants/a.yaml": VALID, f"tenants/{name}": VALID},
            shows=("1 tenant file(s) valid",),
        )
        for case_id, name in [
            ("editor-backup", "a.yaml~"),
            ("yml-backup", "a.yml~"),
            ("bak", "a.yaml.bak"),
            ("emacs-autosave", "#a.yaml#"),
        ]
    ),
]
CASES += SECOND_ROUND


def _special(path: Path) -> None:
    """The link or special file at ``path`` is still what it was: nothing was renamed over it."""
    assert not stat.S_ISREG(os.lstat(path).st_mode), path


def _assert_invalid_report(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "taxcalc-consent/validate@1"
    assert document["valid"] is False
    assert document["problems"][0]["key"] == "consent.mode"


def _line_count(result: Any, lines: int) -> None:
    assert len(result.stderr.splitlines()) == lines, result.stderr


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    # Wide enough that no table cell folds: the literal checks below read whole lines.
    monkeypatch.setattr(err, "width", 400)
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "_defaults.yaml").write_text(DEFAULTS, encoding="utf-8")
    yield tmp_path


def _write(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(project, case.files)
    if case.setup is not None:
        case.setup(project, monkeypatch)
    result = CliRunner().invoke(app, list(case.args))
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output
    assert result.exit_code == case.code, output
    assert result.stderr.splitlines()[0] == case.first.replace("{root}", str(project)), result.stderr
    for text in case.shows:
        assert text in output, (text, output)
    for text in case.hides:
        assert text not in output, (text, output)
    if case.after is not None:
        case.after(project, result)


def test_names_from_graph_are_never_markup(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client's tenant names its groups; the audit prints them as Graph returned them."""
    monkeypatch.setenv("TAXCALC_CONSENT_GRAPH_TOKEN", "emulator-token")
    with scenarios.deterministic_ids(monkeypatch):
        tenant = scenarios.fabrikam_partly_consented()
        sp = tenant.service_principal_by_app_id(CLIENT_ID)
        assert sp is not None
        for name in MARKUP:
            group = tenant.add_group(name)
            tenant.create_app_role_assignment(group.id, sp.id, DEFAULT_ROLE_ID)
    scenarios.write_tenant_file(project / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        result = CliRunner().invoke(app, ["audit", "tenants", "--graph-endpoint", emulator.base_url])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    for name in MARKUP:
        assert f"group {name}" in result.stderr, name


def test_redaction_knows_secret_shapes_and_spares_names() -> None:
    """infra/model/errors.py's shapes, measured: every shape redacted alone and inside a message, the legacy portal
    password's rule missing what it says it misses, and no ordinary name hidden."""
    rng = random.Random(12)
    portal = string.ascii_letters + string.digits + "-_.:?@[]*+/="
    passwords = ["".join(rng.choice(portal) for _ in range(32)) for _ in range(4000)]
    missed = [s for s in passwords if redact(f"unknown key {s!r}") != "unknown key '[redacted]'"]
    assert len(missed) <= len(passwords) / 1000, missed[:5]
    base64_alphabet = string.ascii_letters + string.digits + "+/"
    old_base64 = ["".join(rng.choice(base64_alphabet) for _ in range(43)) + "=" for _ in range(500)]
    old_ado = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(52)) for _ in range(500)]
    shapes = [
        NEW_SECRET,
        OLD_SECRET,
        BASE64_SECRET,
        "abcdef0123456789abcdef0123456789",
        PULUMI_TOKEN,
        GITHUB_TOKEN,
        GITHUB_FINE_GRAINED,
        ADO_PAT,
        STORAGE_KEY,
        *old_base64,
        *(s for s in old_ado if any(c.isdigit() for c in s)),
    ]
    for secret in shapes:
        assert redact(f"x {secret} y") == "x [redacted] y", secret
        assert looks_like_secret(secret), secret
    assert redact(f"https://x.blob.core.windows.net/c?{SAS_QUERY}") == (
        "https://x.blob.core.windows.net/c?" + SAS_QUERY.split("sig=")[0] + "sig=[redacted]"
    )
    spared = [
        TENANT_ID.upper(),
        "Application.ReadWrite.OwnedBy",
        "DeviceManagementConfiguration.ReadWrite.All",
        "Sites.Selected-Finance-Team-2024",
        "Finance-Team-2024-Q1-Shared-Mailboxes",
        "Finance-Team-2024-Q1-Shared-Mail",
        "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "https://login.microsoftonline.com/common/oauth2/nativeclient",
        "/tmp/pytest-of-root/pytest-68/test_Validate_json_reports_pro0/tenants/a.yaml:2",
        "exceptions[12].permission",
        "policy.enforcement.tenant-wide-consent",
        *graph_catalog().delegated,
        *graph_catalog().application,
    ]
    for text in spared:
        assert redact(f"unknown scope {text!r}") == f"unknown scope {text!r}", text
        assert not looks_like_secret(text), text


def test_redaction_of_a_long_value_takes_linear_time() -> None:
    """Patterns of open length start only where a run starts: a 100 KB value of one character is searched in
    milliseconds (a pattern that backtracked would take minutes, once per message quoting it)."""
    for value in ("a" * 100_000, "Ab1/" * 25_000, "=" + "a" * 100_000, "AZDO" * 25_000, "sig=" + "a" * 100_000):
        started = time.perf_counter()
        redact(value)
        quote(value)
        looks_like_secret(value)
        assert time.perf_counter() - started < 2, value[:10]


def _run(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The tool as a real process, so that a regression (waiting on a pipe) fails on the timeout."""
    return subprocess.run(
        [sys.executable, "-m", "taxcalc_consent.cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (os.mkfifo, "a named pipe (FIFO)"),
        (lambda p: os.symlink("/dev/zero", p), "a symbolic link to a character device"),
    ],
    ids=["a-fifo", "a-link-to-dev-zero"],
)
def test_init_neither_waits_on_nor_reads_what_sits_at_the_schema_path(
    project: Path, make: Callable[[Path], object], what: str
) -> None:
    """init reads the schema beside the tenant file before it refreshes it: a pipe there hung init after the
    tenant file was written, a link to /dev/zero read until memory ran out."""
    make(project / "tenants/tenant.schema.json")
    run = _run(project, "init", "acme", "--tenant-id", TENANT_ID)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines()[0] == (
        f"error: tenants/tenant.schema.json: {what}, not a regular file: the tool writes a file whole, by renaming "
        "a new one into place, never through a symbolic link nor over a device, a pipe or a socket; nothing was "
        "written: remove it (init writes the tenant file's schema there)"
    )
    assert "Traceback" not in run.stderr
    assert not (project / "tenants/acme.yaml").exists()


def test_a_fifo_as_stack_settings_cannot_hang_a_run(project: Path) -> None:
    """Stack settings are read beside where adopt and the fleet write them, through the same guarded read."""
    os.mkfifo(project / "Pulumi.acme.yaml")
    code = (
        "from pathlib import Path\n"
        "from taxcalc_consent.infra.model.workspace import read_stack_settings\n"
        "from taxcalc_consent.infra.model.errors import TaxcalcConsentError\n"
        "try:\n    read_stack_settings(Path('Pulumi.acme.yaml'))\n"
        "except TaxcalcConsentError as exc:\n    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.stdout.strip() == (
        "Pulumi.acme.yaml: a named pipe (FIFO), not a file: expected a Pulumi stack config file here"
    ), run.stderr


def test_out_to_a_process_substitution_is_refused_before_the_work(project: Path) -> None:
    """``--out >(jq .)`` names /dev/fd/N, a pipe: refused at once (exit 1) instead of failing after the work
    was done; --json and a pipe is the way to hand the document to a program."""
    (project / "tenants/a.yaml").write_text(VALID, encoding="utf-8")
    reader, writer = os.pipe()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "taxcalc_consent.cli", "validate", "--out", f"/dev/fd/{writer}", "tenants"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            pass_fds=(writer,),
        )
    finally:
        os.close(writer)
        os.close(reader)
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines()[0] == (
        f"error: --out /dev/fd/{writer}: a symbolic link to a named pipe (FIFO), not a regular file: the tool "
        "writes a file whole, by renaming a new one into place, never through a symbolic link nor over a device, "
        "a pipe or a socket; to pass the document to a program, use --json and a pipe (taxcalc-consent ... --json "
        "| jq .)"
    )
    assert "ok  a" not in run.stderr  # refused before any file was checked


def test_a_failed_run_replaces_the_report_of_a_passing_one(project: Path) -> None:
    """A CI gate that reads --out sees this run's verdict: the same document --json prints, valid or not."""
    (project / "tenants/a.yaml").write_text(VALID, encoding="utf-8")
    passing = CliRunner().invoke(app, ["validate", "--json", "--out", "report.json", "tenants"])
    assert passing.exit_code == 0 and json.loads((project / "report.json").read_text())["valid"] is True
    (project / "tenants/a.yaml").write_text(INVALID, encoding="utf-8")
    failing = CliRunner().invoke(app, ["validate", "--json", "--out", "report.json", "tenants"])
    assert failing.exit_code == 2
    written = (project / "report.json").read_text(encoding="utf-8")
    assert json.loads(written)["valid"] is False
    assert written == failing.stdout


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads any folder whatever its mode; the table's monkeypatched cases cover this as root",
)
def test_unreadable_for_real(project: Path) -> None:
    locked = project / "locked"
    locked.mkdir()
    (locked / "a.yaml").write_text(HEAD + ORG, encoding="utf-8")
    locked.chmod(0)
    try:
        listing = CliRunner().invoke(app, ["validate", "locked"])
        under = CliRunner().invoke(app, ["validate", "locked/a.yaml"])
    finally:
        locked.chmod(0o755)
    assert listing.exit_code == 2 and "cannot list this folder: permission denied" in listing.stderr
    assert under.exit_code == 2 and "locked/a.yaml: permission denied" in under.stderr


def test_problems_beyond_the_cap_are_counted_not_explained(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The did-you-mean (difflib) is the costly part of a problem: it runs for the problems shown only."""
    from taxcalc_consent.infra.model import catalog, errors, validation

    calls = {"did_you_mean": 0}
    real = errors.did_you_mean

    def counted(*args: Any, **kwargs: Any) -> str:
        calls["did_you_mean"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(errors, "did_you_mean", counted)
    monkeypatch.setattr(catalog, "did_you_mean", counted)
    monkeypatch.setattr(validation, "did_you_mean", counted)
    keys = "".join(f"k{i:05d}: {i}\n" for i in range(30_000))
    scopes = "".join(f"    - S{i}.Read\n" for i in range(30_000))
    (project / "tenants/a.yaml").write_text(HEAD + "consent:\n  mode: organization\n  scopes:\n" + scopes + keys)
    result = CliRunner().invoke(app, ["validate", "tenants"])
    assert result.exit_code == 2
    assert calls["did_you_mean"] <= 2 * errors.MAX_PROBLEMS_PER_FILE
    assert len(result.stderr.splitlines()) == errors.MAX_PROBLEMS_PER_FILE + 2
    assert "60,000 problem(s) in 1 file(s)" in result.stderr


@pytest.mark.parametrize(
    ("args", "users"),
    [
        (("--mode", "organization"), []),
        (("--mode", "users", "--user", "#x@contoso.com"), ["#x@contoso.com"]),
        (("--mode", "users", "--user", "!x@Contoso.com"), ["!x@contoso.com"]),
        (
            ("--mode", "users", "--user", "'x@contoso.com", "--user", "o'brien^~@contoso.com"),
            ["'x@contoso.com", "o'brien^~@contoso.com"],
        ),
        (
            ("--mode", "users", "--user", "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
            ["alice_fabrikam.com#ext#@contoso.onmicrosoft.com"],
        ),
        (("--mode", "users", "--user", OTHER_TENANT_ID.upper()), [OTHER_TENANT_ID]),
    ],
    ids=["organization", "hash", "bang", "quotes", "guest", "object-id"],
)
def test_every_file_init_writes_round_trips_through_validate(
    project: Path, args: tuple[str, ...], users: list[str]
) -> None:
    written = CliRunner().invoke(app, ["init", "acme", "--tenant-id", TENANT_ID, *args])
    assert written.exit_code == 0, written.output
    checked = CliRunner().invoke(app, ["validate", "tenants"])
    assert checked.exit_code == 0, checked.output
    (tenant,) = loader.load_tenants(["tenants"])
    assert tenant.spec.tenant.id == TENANT_ID
    assert tenant.spec.consent.users == users


COMMANDS: list[tuple[str, ...]] = [
    ("init", "acme corp", "--tenant-id", TENANT_ID),
    ("validate", "no/such.yaml"),
    ("plan", "--offline", "no/such.yaml"),
    ("plan", "no/such.yaml"),
    ("apply", "no/such.yaml"),
    ("drift", "no/such.yaml"),
    ("offboard", "no/such.yaml"),
    ("audit", "no/such.yaml"),
    ("adopt", "no/such.yaml"),
    ("schema", "--out", "no/such/folder/tenant.schema.json"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_debug_works_before_and_after_the_command_name(project: Path, command: tuple[str, ...]) -> None:
    plain = CliRunner().invoke(app, list(command))
    assert plain.exit_code == 2 and isinstance(plain.exception, SystemExit), plain.output
    assert plain.stderr.startswith("error: ")
    name, *rest = command
    for args in (["--debug", name, *rest], [name, "--debug", *rest], [name, *rest, "--debug"]):
        debugged = CliRunner().invoke(app, args)
        assert isinstance(debugged.exception, TaxcalcConsentError), (args, debugged.output)


def test_help_shows_metavars_not_type_names() -> None:
    raw_type = re.compile(r"<(?:str|path|int(?: range)?|float|bool|list\[[^>]*\])>|\{[A-Za-z.]+\}")
    for name in sorted({c[0] for c in COMMANDS}):
        shown = CliRunner().invoke(app, [name, "--help"]).output
        assert raw_type.search(shown) is None, (name, shown)
        assert "--debug" in shown, name
    usage = {name: CliRunner().invoke(app, [name, "--help"]).output.splitlines()[0] for name in ("init", "validate")}
    assert usage == {
        "init": "Usage: taxcalc-consent init [OPTIONS] [NAME]",  # NAME is optional with --domain and --from
        "validate": "Usage: taxcalc-consent validate [OPTIONS] PATH...",
    }


def test_a_fifo_among_tenant_files_cannot_hang_a_real_run(project: Path) -> None:
    """A real process, so a regression (opening the FIFO blocking) fails on the timeout instead of hanging."""
    (project / "tenants/a.yaml").write_text(HEAD + ORG, encoding="utf-8")
    os.mkfifo(project / "tenants/b.yaml")
    run = subprocess.run(
        [sys.executable, "-m", "taxcalc_consent.cli", "validate", "tenants"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines()[0] == (
        "tenants/b.yaml:1:1: a named pipe (FIFO), not a file: a *.yaml entry here must be a tenant file"
    )
    assert "Traceback" not in run.stderr


def test_json_documents_hold_no_hidden_characters() -> None:
    """A value Graph returned (a group named with an escape sequence, a line separator) or a path a file system
    named (a byte of a name that is not UTF-8) reaches a JSON document escaped as on a terminal: a consumer
    printing it (jq -r) shows it, and a name that is not UTF-8 cannot fail the encoder."""
    from taxcalc_consent.infra.model.document_json import to_json

    document = {"groups": ["Tax\x1b]0;pwned\x07", "Mail\u2028boxes", "Rev\u202eiewers"], "file": "caf\udce9.yaml"}
    assert json.loads(to_json(document)) == {
        "groups": ["Tax\\x1b]0;pwned\\x07", "Mail\\u2028boxes", "Rev\\u202eiewers"],
        "file": "caf\\xe9.yaml",
    }
    plain = {"groups": ["TaxCalc Mailboxes", "Équipe fiscale"], "note": "a\\nb"}
    assert json.loads(to_json(plain)) == plain
