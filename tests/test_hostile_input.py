"""Careless and hostile input (issue 12): every case with its exit code and the first line of its message.

Each case builds a small project folder (the current directory while it runs, so paths in messages are
short and stable), runs one command through Typer's CliRunner, and checks the exit code, the first line
on stderr exactly, that no traceback appears, and what must or must not be printed. Cases that need a
real terminal, a real process or a file type CliRunner cannot fake run as a subprocess instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.console import err
from taxcalc_consent.cli.main import app
from tests.conftest import CLIENT_ID, TENANT_ID
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import DEFAULT_ROLE_ID
from tests.fakes.graph_emulator import serve

OTHER_TENANT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
DEFAULTS = f"app:\n  client_id: {CLIENT_ID}\n"
HEAD = f"tenant:\n  id: {TENANT_ID}\n"
ORG = "consent:\n  mode: organization\n"

# Console markup a name may carry, from a file or from Graph: each must print exactly as written.
MARKUP = ("Finance [/]", "[dim]evil.[/dim]x", "[link=https://evil.example]click[/link]", "Tax :warning: team")


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    """Put something other than a regular file at ``path``."""
    path.unlink(missing_ok=True)
    make(path)


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
    """The first line on stderr, exactly."""
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path, pytest.MonkeyPatch], None] | None = None
    shows: tuple[str, ...] = ()
    """Text that must appear, literally, somewhere in the output."""
    hides: tuple[str, ...] = ()
    """Text that must appear nowhere in the output (secrets)."""


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
    # ---------------------------------------------------------------- 2. nothing is read as console markup
    Case(
        "markup-in-unknown-key",
        ("validate", "tenants"),
        2,
        "tenants/a.yaml:5:1: [link=https://evil.example]x[/link]: unknown key '[link=https://evil.example]x[/link]'; "
        "expected one of: tenant, app, consent, access, auth, exceptions, policy",
        files={"tenants/a.yaml": HEAD + ORG + "'[link=https://evil.example]x[/link]': 1\n"},
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
    assert result.stderr.splitlines()[0] == case.first, result.stderr
    for text in case.shows:
        assert text in output, (text, output)
    for text in case.hides:
        assert text not in output, (text, output)


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
