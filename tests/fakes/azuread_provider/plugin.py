"""Install the test provider into a ``PULUMI_HOME`` as ``resource-azuread`` at the SDK's own version.

The plugin folder holds one executable, ``pulumi-resource-azuread``: a shell wrapper that runs this
package with the interpreter running the tests (the tool's own ``sys.executable``), the repository on
``PYTHONPATH``. ``pulumi plugin install resource azuread <version> --file <folder>`` copies it into
``$PULUMI_HOME/plugins`` (pkg/cmd/pulumi/plugin/plugin_install.go accepts a binary, folder or tarball).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]


def sdk_plugin_version() -> str:
    """The provider version the installed pulumi-azuread SDK asks the engine for (its pulumi-plugin.json)."""
    document = json.loads(resources.files("pulumi_azuread").joinpath("pulumi-plugin.json").read_text(encoding="utf-8"))
    return str(document["version"])


def write_plugin_folder(folder: Path, python: str = sys.executable) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    executable = folder / "pulumi-resource-azuread"
    executable.write_text(
        "#!/bin/sh\n"
        "# The taxcalc-consent test stand-in for pulumi-resource-azuread (tests/fakes/azuread_provider).\n"
        f"PYTHONPATH={shlex.quote(str(REPOSITORY))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
        f'exec {shlex.quote(python)} -m tests.fakes.azuread_provider "$@"\n',
        encoding="utf-8",
    )
    executable.chmod(0o755)
    return folder


def install(pulumi: str, env: Mapping[str, str], workdir: Path) -> str:
    """Install into the ``PULUMI_HOME`` that ``env`` names; returns the version installed."""
    version = sdk_plugin_version()
    folder = write_plugin_folder(workdir / "azuread-plugin")
    subprocess.run(
        [pulumi, "plugin", "install", "resource", "azuread", version, "--file", str(folder), "--reinstall"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return version
