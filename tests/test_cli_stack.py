"""The real stack (cli.automation.CliStack) over a stand-in ``pulumi``: its command lines, environment and
event log. The real CLI runs the same in tests/engine (test_launches.py counts its launches)."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from taxcalc_consent.cli.fleet.automation import EVENT_LOG_POLL, CliStack, EventLog

# A stand-in for the Pulumi CLI v3.274.1, for what CliStack relies on:
# - `pulumi version` prints the version (PulumiCommand checks it);
# - an operation on a stack that does not exist fails at the stack lookup, before the event log is opened:
#   "error: no stack named 'X' found", exit code 6 (pkg/cmd/pulumi/stack/io.go RequireStack,
#   pkg/cmd/pulumi/cmd/exit_codes.go ExitStackNotFound);
# - given --client=ADDR (an inline program), it starts no language host and talks to the language runtime at ADDR
#   instead (pkg/cmd/pulumi/operations: the --client flag, since v3.181): here, its About call, whose answer it logs;
# - otherwise it writes one JSON event a line to --event-log, the summary last
#   (pkg/backend/display/display.go startEventLogger), and fails an update with an error diagnostic first.
FAKE_PULUMI = """\
import json, os, sys, time
args = sys.argv[1:]
if args == ["version"]:
    print("v3.274.1")
    sys.exit(0)
runtime = None
client = next((a.removeprefix("--client=") for a in args if a.startswith("--client=")), None)
if client:
    import grpc
    from pulumi.runtime.proto import language_pb2, language_pb2_grpc
    with grpc.insecure_channel(client) as channel:
        about = language_pb2_grpc.LanguageRuntimeStub(channel).About(language_pb2.AboutRequest(), timeout=10)
        runtime = about.executable
with open(os.environ["ARGS_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({"args": args, "runtime": runtime, "env": {k: os.environ.get(k) for k in (
        "PULUMI_DEBUG_COMMANDS", "ARM_CLIENT_SECRET", "PULUMI_HOME")}}) + "\\n")
stack = args[args.index("--stack") + 1]
if stack == "ghost":
    sys.stderr.write(f"error: no stack named '{stack}' found\\n")
    sys.exit(6)
with open(args[args.index("--event-log") + 1], "a", encoding="utf-8") as events:
    for n in range(1, 4):
        events.write(json.dumps({"sequence": n, "timestamp": 0, "stdoutEvent": {"message": f"line {n}",
            "color": "never"}}) + "\\n")
        events.flush()
        time.sleep(0.05)
    if stack == "broken":
        events.write(json.dumps({"sequence": 4, "timestamp": 0, "diagnosticEvent": {"message": "boom\\n",
            "color": "never", "severity": "error"}}) + "\\n")
        events.flush()
        sys.stderr.write("error: update failed\\n")
        sys.exit(255)
    if stack != "silent":
        events.write(json.dumps({"sequence": 4, "timestamp": 0, "summaryEvent": {"maybeCorrupt": False,
            "durationSeconds": 1, "resourceChanges": {"same": 1}}}) + "\\n")
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> auto.LocalWorkspace:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pulumi = bin_dir / "pulumi"
    pulumi.write_text(f"#!{sys.executable}\n{FAKE_PULUMI}", encoding="utf-8")
    pulumi.chmod(pulumi.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ARGS_LOG", str(tmp_path / "args.log"))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PULUMI_HOME", raising=False)
    return auto.LocalWorkspace(
        work_dir=str(tmp_path), env_vars={"ARM_CLIENT_SECRET": "s3cret"}, pulumi_command=auto.PulumiCommand()
    )


def launches(workspace: auto.LocalWorkspace) -> list[dict[str, Any]]:
    log = Path(workspace.work_dir) / "args.log"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_a_preview_is_one_launch_with_the_flags_stack_would_pass_and_every_event(
    workspace: auto.LocalWorkspace,
) -> None:
    seen: list[auto.EngineEvent] = []
    CliStack("firm", workspace).preview(
        policy_packs=["pack"],
        policy_pack_configs=["pack.json"],
        refresh=True,
        color="never",
        on_event=seen.append,
        suppress_progress=True,
    )
    (launch,) = launches(workspace)
    event_log = launch["args"][launch["args"].index("--event-log") + 1]
    assert launch["args"] == [
        "--non-interactive",
        "preview",
        "--policy-pack",
        "pack",
        "--policy-pack-config",
        "pack.json",
        "--color",
        "never",
        "--suppress-progress",
        "--refresh",
        "--exec-kind",
        "auto.local",
        "--event-log",
        event_log,
        "--stack",
        "firm",
    ]
    # The hidden flags need PULUMI_DEBUG_COMMANDS; the tenant's secret reaches only its process's environment.
    assert launch["env"] == {"PULUMI_DEBUG_COMMANDS": "true", "ARM_CLIENT_SECRET": "s3cret", "PULUMI_HOME": None}
    assert [e.sequence for e in seen] == [1, 2, 3, 4] and seen[-1].summary_event is not None
    assert not Path(event_log).parent.exists()  # the event log is gone with the operation


def test_an_inline_program_is_served_to_the_cli_from_this_process_for_the_operation(
    workspace: auto.LocalWorkspace,
) -> None:
    stack = CliStack("firm", workspace)
    stack.preview(color="never", on_event=lambda e: None, program=lambda: None)
    stack.up(color="never", on_event=lambda e: None, program=lambda: None)
    stack.preview_destroy(on_event=lambda e: None, program=lambda: None)
    stack.destroy(on_event=lambda e: None, program=lambda: None)
    addresses = []
    for launch in launches(workspace):
        args = launch["args"]
        (client,) = [a for a in args if a.startswith("--client=")]
        assert args[args.index(client) + 1 : args.index(client) + 3] == ["--exec-kind", "auto.inline"]
        # The CLI reached the language runtime this process served (the SDK's own, answering About) ...
        assert launch["runtime"] == sys.executable
        addresses.append(client.removeprefix("--client="))
    assert len(addresses) == 4 and all(a.startswith("127.0.0.1:") for a in addresses)
    # ... and it served only for the length of the operation.
    import grpc

    with grpc.insecure_channel(addresses[-1]) as channel, pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(channel).result(timeout=0.5)


def test_update_and_destroy_command_lines(workspace: auto.LocalWorkspace) -> None:
    stack = CliStack("firm", workspace)
    stack.up(color="never", on_event=lambda e: None)
    stack.preview_destroy(refresh=True, on_event=lambda e: None)
    stack.destroy(on_event=lambda e: None)
    commands = [launch["args"][: launch["args"].index("--exec-kind")] for launch in launches(workspace)]
    assert commands == [
        ["--non-interactive", "up", "--yes", "--skip-preview", "--color", "never"],
        ["--non-interactive", "destroy", "--preview-only", "--refresh"],
        ["--non-interactive", "destroy", "--skip-preview", "--yes"],
    ]


def test_a_stack_that_does_not_exist_fails_as_the_sdk_says(workspace: auto.LocalWorkspace) -> None:
    with pytest.raises(auto.StackNotFoundError):
        CliStack("ghost", workspace).preview(on_event=lambda e: None)


def test_a_failed_update_delivers_every_event_before_it_raises(workspace: auto.LocalWorkspace) -> None:
    seen: list[auto.EngineEvent] = []
    with pytest.raises(auto.CommandError) as failure:
        CliStack("broken", workspace).up(on_event=seen.append)
    assert "update failed" in str(failure.value)
    assert seen[-1].diagnostic_event is not None and seen[-1].diagnostic_event.message == "boom\n"


def test_a_preview_without_a_summary_is_an_error(workspace: auto.LocalWorkspace) -> None:
    with pytest.raises(RuntimeError, match="summary event never found"):
        CliStack("silent", workspace).preview(on_event=lambda e: None)


def test_the_event_log_hands_events_over_while_the_engine_writes() -> None:
    seen: list[int] = []
    delivered_while_running = threading.Event()

    def on_event(event: auto.EngineEvent) -> None:
        seen.append(event.sequence)

    with EventLog(on_event) as log, log.path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps({"sequence": 1, "timestamp": 0, "cancelEvent": {}}) + "\n")
        stream.flush()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        if seen == [1]:
            delivered_while_running.set()
        # A line written in two parts is one event.
        stream.write('{"sequence": 2, "timestamp": 0, ')
        stream.flush()
        time.sleep(3 * EVENT_LOG_POLL)  # the reader has seen the first part alone by now
        stream.write('"cancelEvent": {}}\n')
    assert delivered_while_running.is_set()
    assert seen == [1, 2]


def test_a_failure_in_the_event_handler_is_not_swallowed() -> None:
    def on_event(event: auto.EngineEvent) -> None:
        raise ValueError("recorder bug")

    with pytest.raises(ValueError, match="recorder bug"), EventLog(on_event) as log:
        log.path.write_text(json.dumps({"sequence": 1, "timestamp": 0, "cancelEvent": {}}) + "\n", encoding="utf-8")
