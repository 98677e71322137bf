"""Installed use: the wheel, installed into a fresh virtualenv outside the repository, run from a folder
that holds nothing but tenant files (issue 9, "Done when").

How the virtualenv gets its dependencies without the network and without leaking this checkout:
- ``python -m venv --without-pip``: an empty environment of the same interpreter, no system site-packages.
- The wheel is installed first, with this environment's pip pointed at it (``pip --python``,
  ``--no-deps --no-index``), before the environment can see anything else, so pip cannot mistake the
  development install for an installed ``taxcalc-consent``.
- The dependencies come from a folder of symbolic links to the entries of this environment's
  site-packages, leaving out everything of taxcalc-consent (its package, its ``.dist-info``, the
  editable-install finder) and every ``.pth`` file (the editable install is a ``.pth`` hook), plus any
  top-level ``cli``, ``infra`` or ``policies``. One ``.pth`` in the new environment names that folder;
  Python appends it to ``sys.path`` without reading the ``.pth`` files inside, and after the new
  environment's own site-packages, so the wheel's files win in any case.
- The test proves it: before the wheel, ``import taxcalc_consent`` fails in the new environment; after,
  the package is the one in the new environment's site-packages; ``import cli`` fails throughout.
Installing the dependencies from PyPI instead would need the network and a minute or more.

The commands run with ``PATH`` holding only the new environment's ``bin``: no ``pulumi`` anywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from taxcalc_consent.infra.model.profiles import EXAMPLES_CLIENT_ID
from tests.conftest import EXAMPLES, ROOT
from tests.fakes.example_tenants import copy_examples
from tests.fakes.ids import HUB_CLIENT_ID

SOURCES = ("pyproject.toml", "README.md", "taxcalc_consent", "cli", "infra", "policies")
PIP = (sys.executable, "-m", "pip", "-q", "--disable-pip-version-check")
OWN_NAMES = ("taxcalc_consent", "__editable__", "cli", "infra", "policies")


def build_wheel(folder: Path) -> Path:
    """Build from a copy of the sources, so the build leaves nothing in the checkout."""
    source = folder / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(folder / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (folder / "dist").glob("taxcalc_consent-*.whl")
    return wheel


def dependencies_only(folder: Path) -> Path:
    """This environment's site-packages, minus everything of taxcalc-consent and every .pth file."""
    deps = folder / "deps"
    deps.mkdir()
    sources = dict.fromkeys(Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib"))
    for site in sources:
        for entry in site.iterdir():
            lowered = entry.name.lower()
            if lowered.endswith(".pth") or lowered.startswith(OWN_NAMES) or (deps / entry.name).exists():
                continue
            (deps / entry.name).symlink_to(entry)
    return deps


def python_in(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in the new environment, from its own folder: ``-c`` puts the current folder on
    ``sys.path``, and from the checkout that would find its ``taxcalc_consent`` and ``cli`` folders."""
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], cwd=venv, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(folder)
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"taxcalc_consent", wheel.name.split("-py")[0] + ".dist-info"}
    assert "taxcalc_consent/policies/PulumiPolicy.yaml" in names
    assert "taxcalc_consent/infra/model/graph_permissions.json" in names
    assert "taxcalc_consent/infra/model/kinds/service_principal.py" in names

    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    before = python_in(venv, "import taxcalc_consent")
    assert before.returncode != 0 and "ModuleNotFoundError" in before.stderr
    subprocess.run(
        [*PIP, "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    site = Path(python_in(venv, "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "taxcalc-consent-test-dependencies.pth").write_text(f"{dependencies_only(folder)}\n", encoding="utf-8")
    return venv


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An MSP's repository: tenants/ and nothing else (no Pulumi.yaml, no stacks/)."""
    copy_examples(tmp_path / "tenants")
    return tmp_path


def tool(venv: Path, workdir: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(venv / "bin"), "HOME": str(workdir), "LANG": "C.UTF-8", **extra_env}
    return subprocess.run(
        ["taxcalc-consent", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_package_comes_from_the_wheel_and_no_generic_name_is_installed(installed: Path) -> None:
    where = python_in(installed, "import taxcalc_consent, pulumi; print(taxcalc_consent.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed)
    for generic in ("cli", "infra", "policies"):
        result = python_in(installed, f"import {generic}")
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, generic


def test_the_offline_commands_work_from_a_folder_of_tenant_files(installed: Path, workdir: Path) -> None:
    validated = tool(installed, workdir, "validate", "tenants")
    assert validated.returncode == 0, validated.stderr

    planned = tool(installed, workdir, "plan", "--offline", "--json", "tenants")
    assert planned.returncode == 0, planned.stderr
    golden = (ROOT / "tests" / "golden" / "plan-examples.json").read_text(encoding="utf-8")
    # The bundled examples' plan, for their copy: its files under tenants/, TaxCalc-Hub's test id for the placeholder.
    copied = golden.replace('"examples/tenants/', '"tenants/').replace(EXAMPLES_CLIENT_ID, HUB_CLIENT_ID)
    assert json.loads(planned.stdout) == json.loads(copied)

    created = tool(installed, workdir, "init", "newco", "--tenant-id", "0d0e0f10-1112-4314-9516-171819202122")
    assert created.returncode == 0, created.stderr
    assert tool(installed, workdir, "validate", "tenants/newco.yaml").returncode == 0
    # The editor's schema reference resolves beside the file, not into a checkout of the tool.
    first_line = (workdir / "tenants" / "newco.yaml").read_text(encoding="utf-8").splitlines()[0]
    reference = first_line.rsplit("$schema=", 1)[1]
    assert (workdir / "tenants" / reference).is_file()
    # Every file its comments name is there for an installed user (docs/ is not in the wheel).
    lines = (workdir / "tenants" / "newco.yaml").read_text("utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    named_files = re.findall(r"[\w./-]+\.(?:md|json|yaml)\b", "\n".join(comments))
    assert named_files and all((workdir / "tenants" / name).is_file() for name in named_files), named_files

    schema = tool(installed, workdir, "schema")
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout)["type"] == "object"


def test_installed_from_the_wheel_the_examples_placeholder_is_refused_everywhere(
    installed: Path, tmp_path: Path
) -> None:
    # A wheel ships no examples: a copy of them, and this checkout's own examples/tenants, are refused alike.
    shutil.copytree(EXAMPLES, tmp_path / "tenants")
    for workdir, folder in ((tmp_path, "tenants"), (ROOT, "examples/tenants")):
        validated = tool(installed, workdir, "validate", folder)
        assert validated.returncode == 2, validated.stderr
        first = validated.stderr.splitlines()[0]
        assert first.startswith(f"{folder}/_defaults.yaml:7:3: app.client_id: {EXAMPLES_CLIENT_ID} is the bundled")


def test_plan_without_the_engine_says_to_install_pulumi(installed: Path, workdir: Path) -> None:
    result = tool(
        installed, workdir, "plan", "tenants", PULUMI_CONFIG_PASSPHRASE="wheel-test-passphrase", ARM_USE_MSI="true"
    )
    assert result.returncode == 1, result.stderr
    assert "the Pulumi CLI (`pulumi`) is not on PATH" in result.stderr
    assert "Pulumi.yaml" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["tenants"]  # nothing written before the engine runs
