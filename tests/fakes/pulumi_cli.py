"""A fake `pulumi` executable, for driving the real Automation API code end to end without the engine.

Installed by tests as ``<tmp>/bin/pulumi`` (a shell wrapper that runs this file). It keeps its state in
``$FAKE_PULUMI_HOME``: one JSON file of config per stack, a log of every invocation (argv and whether
secret-bearing variables were present in its environment, never their values), and ``scenario.json``
saying what each stack's preview emits. It speaks the CLI's protocol where the Automation API listens:
``version``; ``stack select`` failing with "no stack named ... found" until ``stack init``; ``config
--json``, ``config set-all``, ``config rm-all``; ``preview`` writing engine events, one JSON object a
line, to the ``--event-log`` file, ending with a summary event; a locked stack failing with the file
backend's "currently locked" message and exit code 255.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

VERSION = "v3.200.0"  # below 3.206, where the Automation API switches from the event-log file to gRPC
WATCHED_ENV = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "ARM_CLIENT_SECRET")


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def main(argv: list[str]) -> int:
    home = Path(os.environ["FAKE_PULUMI_HOME"])
    with (home / "calls.jsonl").open("a", encoding="utf-8") as log:
        env = {name: name in os.environ for name in WATCHED_ENV}
        backend = os.environ.get("PULUMI_BACKEND_URL")
        plain = {name: os.environ.get(name) for name in ("PULUMI_PYTHON_CMD", "TAXCALC_CONSENT_ROOT")}
        log.write(json.dumps({"argv": argv, "env": env, "plain": plain, "backend": backend, "cwd": os.getcwd()}) + "\n")
    # The Automation API puts --non-interactive first on every command but `version`.
    argv = [arg for arg in argv if arg != "--non-interactive"]
    if argv[:1] == ["version"]:
        print(VERSION)
        return 0
    scenario: dict[str, Any] = json.loads((home / "scenario.json").read_text(encoding="utf-8"))
    stack = option(argv, "--stack")
    if argv[:2] == ["stack", "init"]:
        (home / f"config-{argv[2]}.json").write_text("{}", encoding="utf-8")
        return 0
    config_file = home / f"config-{stack}.json"
    if argv[:2] == ["stack", "select"]:
        if not config_file.exists():
            sys.stderr.write(f"error: no stack named '{stack}' found\n")
            return 255
        return 0
    if stack in scenario.get("locked", []):
        sys.stderr.write(
            "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
            "or delete the lock file with `pulumi cancel`.\n"
        )
        return 255
    config: dict[str, dict[str, Any]] = json.loads(config_file.read_text(encoding="utf-8"))
    if argv[:1] == ["config"] and "--json" in argv:
        print(json.dumps(config))
        return 0
    if argv[:2] == ["config", "set-all"]:
        for flag, pair in itertools.pairwise(argv):
            if flag in ("--plaintext", "--secret"):
                key, _, value = pair.partition("=")
                config[key] = {"value": value, "secret": flag == "--secret"}
        config_file.write_text(json.dumps(config), encoding="utf-8")
        return 0
    if argv[:2] == ["config", "rm-all"]:
        for key in argv[2:]:
            config.pop(key, None)
        config_file.write_text(json.dumps(config), encoding="utf-8")
        return 0
    if argv[:1] == ["preview"]:
        event_log = option(argv, "--event-log")
        assert event_log is not None, "the Automation API always asks for an event log"
        events: list[dict[str, Any]] = scenario["preview"].get(stack, [])
        counts: dict[str, int] = {}
        with open(event_log, "a", encoding="utf-8") as out:
            for sequence, event in enumerate(events, 1):
                if "resourcePreEvent" in event:
                    op = event["resourcePreEvent"]["metadata"]["op"]
                    counts[op] = counts.get(op, 0) + 1
                out.write(json.dumps({"sequence": sequence, "timestamp": 0, **event}) + "\n")
            summary = {"maybeCorrupt": False, "durationSeconds": 0, "resourceChanges": counts, "PolicyPacks": {}}
            out.write(json.dumps({"sequence": len(events) + 1, "timestamp": 0, "summaryEvent": summary}) + "\n")
            out.write(json.dumps({"sequence": len(events) + 2, "timestamp": 0, "cancelEvent": {}}) + "\n")
        print(f"Previewing update ({stack})")
        return 0
    sys.stderr.write(f"fake pulumi: unsupported command {argv!r}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
