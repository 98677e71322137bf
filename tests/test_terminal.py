"""The tool at any width: in a real terminal (tmux) at 60 and 200 columns, and piped with and without $COLUMNS.

A UPN, a GUID, a scope or a path is never cut or folded (a table too narrow for them stacks its rows), prose
wraps at spaces, and plan and audit colour what a user will see the same way, only at a terminal and never with
NO_COLOR. tmux comes from Debian's package (.ci/run installs it); under CI=true a missing tmux fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import CLIENT_ID, ROOT
from tests.fakes import consent_tenants as scenarios
from tests.fakes.graph_emulator import GraphEmulator, serve

TOOL = [sys.executable, "-m", "taxcalc_consent.cli"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RED = re.compile(r"\x1b\[(?:[0-9;]*;)?31m")
ANY_COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|38;[0-9;]+|9[0-7])m")


def _tmux() -> str:
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing: .ci/run installs it (apt-get install tmux)")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    return found


def in_terminal(args: list[str], width: int, env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> str:
    """Run the tool in a tmux pane ``width`` columns wide; what the terminal shows, colours included."""
    tmux = _tmux()
    socket = f"taxcalc-test-{uuid.uuid4().hex[:12]}"
    variables = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **(env or {})}
    command = (
        f"cd {shlex.quote(str(cwd))} && env -u COLUMNS -u NO_COLOR "
        + " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())
        + f" {shlex.join(TOOL + args)}; {shlex.quote(tmux)} -L {socket} wait-for -S done; sleep 60"
    )
    base = [tmux, "-L", socket, "-f", "/dev/null"]
    try:
        subprocess.run([*base, "new-session", "-d", "-x", str(width), "-y", "50", "-s", "t", command], check=True)
        subprocess.run([*base, "set-option", "-g", "history-limit", "50000"], check=True)
        subprocess.run([*base, "wait-for", "done"], check=True, timeout=120)
        shown = subprocess.run(
            [*base, "capture-pane", "-p", "-e", "-S", "-", "-E", "-", "-t", "t"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        subprocess.run([*base, "kill-server"], check=False, capture_output=True)
    return shown


def piped(args: list[str], env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    done = subprocess.run(TOOL + args, cwd=cwd, env={**environ, **(env or {})}, capture_output=True, text=True)
    assert done.returncode in (0, 3), done.stderr
    return done.stderr


def plain_lines(shown: str) -> list[str]:
    return [ANSI.sub("", line).rstrip() for line in shown.splitlines()]


def tokens_of_plan() -> list[str]:
    """What must never be cut: every UPN, object id, tenant id, application id, scope and path in the plan."""
    done = subprocess.run(
        [*TOOL, "plan", "--offline", "--json", "examples/tenants"], cwd=ROOT, capture_output=True, text=True
    )
    document = json.loads(done.stdout)
    found: set[str] = set()
    for tenant in document["tenants"]:
        found |= {tenant["file"], tenant["tenant_id"]}
        found |= {tenant["app"]["client_id"]} - {None}
        for grant in tenant["grants"]:
            found |= set(grant["scopes"]) | ({grant["principal"]} - {None})
        found |= {a["principal"] for a in tenant["assignments"] if " " not in a["principal"]}
    return sorted(found)


def check_nothing_cut(lines: list[str], width: int, tokens: list[str], expected: Counter[str]) -> None:
    text = "\n".join(lines)
    for line in lines:
        # Longer than the width only when the line is one token that is itself longer (then never cut).
        assert len(line) <= width or " " not in line.strip(), (width, line)
    counts = Counter({token: len(re.findall(rf"(?<![\w.@-]){re.escape(token)}(?![\w.@-])", text)) for token in tokens})
    assert counts == expected, (width, {t: (counts[t], expected[t]) for t in tokens if counts[t] != expected[t]})


@pytest.fixture(scope="module")
def plan_tokens() -> tuple[list[str], Counter[str]]:
    """The tokens, and how often each shows in the plan rendered on one unbounded line per row (piped)."""
    tokens = tokens_of_plan()
    wide = "\n".join(plain_lines(piped(["plan", "--offline", "examples/tenants"])))
    counts = Counter({t: len(re.findall(rf"(?<![\w.@-]){re.escape(t)}(?![\w.@-])", wide)) for t in tokens})
    assert all(counts[t] > 0 for t in tokens), counts
    return tokens, counts


@pytest.mark.parametrize("width", [60, 200])
def test_plan_in_a_terminal_never_cuts_a_token_and_colours_outcomes(
    width: int, plan_tokens: tuple[list[str], Counter[str]]
) -> None:
    tokens, expected = plan_tokens
    shown = in_terminal(["plan", "--offline", "examples/tenants"], width)
    lines = plain_lines(shown)
    check_nothing_cut(lines, width, tokens, expected)
    text = "\n".join(lines)
    if width == 60:
        assert "- resource: delegated grant on Microsoft Graph" in text  # stacked: no room for the tokens
        assert "┃" not in text
    else:
        assert "┃ resource" in text  # a table where the tokens fit
    # Prose wraps at spaces, its continuation lines indented under their first (checked whole above).
    assert any(line.startswith("      ") and line.strip() for line in lines)
    (approval,) = [line for line in shown.splitlines() if "admin approval required" in ANSI.sub("", line)][:1]
    assert RED.search(approval), repr(approval)


def test_no_colour_with_no_color_even_at_a_terminal() -> None:
    shown = in_terminal(["plan", "--offline", "examples/tenants/fabrikam.yaml"], 200, {"NO_COLOR": "1"})
    assert "admin approval required" in ANSI.sub("", shown)
    assert not ANY_COLOUR.search(shown), repr(shown[:400])


@pytest.mark.parametrize("columns", ["60", "200"])
def test_piped_honours_columns_and_writes_no_colour(columns: str, plan_tokens: tuple[list[str], Counter[str]]) -> None:
    tokens, expected = plan_tokens
    out = piped(["plan", "--offline", "examples/tenants"], {"COLUMNS": columns})
    assert "\x1b" not in out
    check_nothing_cut(plain_lines(out), int(columns), tokens, expected)


def test_piped_without_columns_keeps_each_row_on_one_line() -> None:
    out = piped(["plan", "--offline", "examples/tenants/fabrikam.yaml"])
    assert "\x1b" not in out
    rows = [line for line in out.splitlines() if "│ alice.smith@fabrikam.com" in line]
    assert rows and all("Mail.Send User.Read email offline_access openid profile" in row for row in rows[:1]), out


@pytest.fixture
def fabrikam_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GraphEmulator, Path]]:
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    with scenarios.deterministic_ids(monkeypatch):
        tenant = scenarios.fabrikam_partly_consented()
    scenarios.write_tenant_file(tmp_path / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        yield emulator, tmp_path


@pytest.mark.parametrize("width", [60, 200])
def test_audit_in_a_terminal_shows_whole_upns_and_colours_as_plan_does(
    width: int, fabrikam_emulator: tuple[GraphEmulator, Path]
) -> None:
    emulator, workdir = fabrikam_emulator
    args = ["audit", "tenants", "--graph-endpoint", emulator.base_url]
    env = {"TAXCALC_CONSENT_GRAPH_TOKEN": "emulator-token", "PYTHONPATH": str(ROOT)}
    shown = in_terminal(args, width, env, cwd=workdir)
    lines = plain_lines(shown)
    document = json.loads(
        subprocess.run(
            [*TOOL, *args, "--json"],
            cwd=workdir,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        ).stdout
    )
    (tenant,) = document["tenants"]
    upns = {user["principal"] for user in tenant["user_experience"]["users"]}
    ids = {tenant["tenant_id"], tenant["service_principal"]["object_id"]}
    text = "\n".join(lines)
    for token in upns | ids:
        assert re.search(rf"(?<![\w.@-]){re.escape(token)}(?![\w.@-])", text), (width, token, text)
    assert "…" not in text
    for line in lines:
        assert len(line) <= width or " " not in line.strip(), (width, line)
    approval = [line for line in shown.splitlines() if "admin approval required" in ANSI.sub("", line)]
    assert approval and all(RED.search(line) for line in approval), approval
