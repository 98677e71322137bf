"""The real Pulumi engine, the test azuread provider and an emulated cloud, shared by the engine tests.

Once per session: find (or build) the engine (``locate.find_engine``) and install the test provider into
a private ``PULUMI_HOME``. Per test: a workspace folder of tenant files, an emulated cloud holding the
tests' tenants (over https, its throwaway CA trusted through ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE``), and
the environment the tool and every engine process see (file backend in the workspace, passphrase, and the
azuread provider's sign-in variables: ``ARM_METADATA_HOSTNAME``, ``ARM_CLIENT_ID``, ``ARM_CLIENT_SECRET``).
Commands run as a user runs them: ``taxcalc-consent <command>`` through Typer's runner, in this process, with
the real Automation API starting real ``pulumi`` processes. No token is handed to anything: the test
provider and the tool's own Graph calls (the program's group reads and consent-settings writes, ``audit``,
``adopt``) each sign in at the emulated cloud, as they would at Entra (tests/engine/test_sign_in.py varies how).

Without an engine the tests skip, naming why; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph import provider_settings
from taxcalc_consent.infra.graph.client import GRAPH_ENDPOINT_ENV
from taxcalc_consent.infra.model.workspace import ROOT_ENV
from tests.conftest import CLIENT_ID
from tests.engine.locate import Engine, find_engine
from tests.fakes.azuread_provider.plugin import install
from tests.fakes.azuread_provider.provider import TIMEOUT_ENV
from tests.fakes.entra import FakeTenant
from tests.fakes.entra_cloud import AutomationApp, EmulatedCloud, serve_cloud
from tests.fakes.example_tenants import PUBLISHED_APPS
from tests.fakes.gdap import Partner

PASSPHRASE = f"engine-tests-{secrets.token_hex(8)}"
STRAY_ENVIRONMENT = (
    # Whatever the machine running the tests has set must not choose the tenant, the cloud or the credentials.
    "ARM_TENANT_ID",
    "ARM_USE_CLI",
    "ARM_USE_MSI",
    "ARM_USE_OIDC",
    "ARM_USE_AKS_WORKLOAD_IDENTITY",
    "ARM_ENVIRONMENT",
    "ARM_MSI_ENDPOINT",
    provider_settings.CLIENT_ID_FILE_ENV,
    provider_settings.CERTIFICATE_ENV,
    provider_settings.CERTIFICATE_PATH_ENV,
    provider_settings.CERTIFICATE_PASSWORD_ENV,
    provider_settings.CLIENT_SECRET_FILE_ENV,
    provider_settings.OIDC_TOKEN_ENV,
    provider_settings.OIDC_TOKEN_FILE_ENV,
    *provider_settings.OIDC_REQUEST_URL_ENVS,
    *provider_settings.OIDC_REQUEST_TOKEN_ENVS,
    *provider_settings.ADO_SERVICE_CONNECTION_ENVS,
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CONFIG_DIR",
    "PULUMI_ACCESS_TOKEN",
    "PULUMI_CONFIG_PASSPHRASE_FILE",
    "TAXCALC_CONSENT_GRAPH_TOKEN",
    GRAPH_ENDPOINT_ENV,
)


@pytest.fixture(scope="session")
def engine() -> Engine:
    found = find_engine()
    if isinstance(found, str):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no Pulumi engine: {found}", pytrace=False)
        pytest.skip(f"no Pulumi engine: {found}")
    return found


@pytest.fixture(scope="session")
def pulumi_home(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PULUMI_HOME holding the test azuread provider at the SDK's version, shared by the session."""
    work = tmp_path_factory.mktemp("pulumi")
    home = work / "home"
    install(
        str(engine.pulumi),
        {
            "PULUMI_HOME": str(home),
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        },
        work,
    )
    return home


@dataclass
class Run:
    """One command's outcome: exit code, its JSON document (with --json), stdout and stderr."""

    code: int
    document: Any
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def tenant(self, name: str) -> dict[str, Any]:
        return next(t for t in self.document["tenants"] if t["tenant"] == name)


@dataclass
class World:
    """A workspace of tenant files over one emulated cloud, with the engine on PATH."""

    root: Path
    """The workspace root (``TAXCALC_CONSENT_ROOT``, and the current folder): tenants/, stacks/, state."""
    cloud: EmulatedCloud
    outputs: list[str] = field(default_factory=list)
    """Everything every command printed, for the no-secret check."""
    secrets: set[str] = field(default_factory=set)
    """Values that must never appear in output, state or stack settings (passphrase, client secrets)."""

    @property
    def tenants_dir(self) -> Path:
        return self.root / "tenants"

    @property
    def state_dir(self) -> Path:
        return self.root / ".pulumi-state"

    def write_tenant(self, name: str, text: str) -> Path:
        path = self.tenants_dir / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def cli(self, *args: str) -> Run:
        """``taxcalc-consent <args>`` in the workspace, signing in as the environment says."""
        result: Result = CliRunner().invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        self.outputs.append(result.stdout + result.stderr)
        self.assert_no_secret_in(result.stdout + result.stderr, f"the output of `taxcalc-consent {' '.join(args)}`")
        document = json.loads(result.stdout) if "--json" in args and result.stdout.strip() else None
        return Run(result.exit_code, document, result.stdout, result.stderr)

    @property
    def project_dir(self) -> Path:
        """The Pulumi project the tool generates in the workspace (infra/model/workspace.py), settings beside it."""
        return self.root / "stacks"

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``pulumi`` CLI itself, in the Pulumi project, as a person would run it."""
        done = subprocess.run(["pulumi", *args], cwd=self.project_dir, capture_output=True, text=True, timeout=600)
        self.outputs.append(done.stdout + done.stderr)
        self.assert_no_secret_in(done.stdout + done.stderr, f"the output of `pulumi {' '.join(args)}`")
        return done

    def assert_no_secret_in(self, text: str, where: str) -> None:
        for secret in self.secrets:
            assert secret not in text, f"a secret appears in {where}"

    def assert_no_secret_at_rest(self) -> None:
        """Neither the state backend nor the stack settings hold a secret in plain text."""
        folders = [self.state_dir, self.project_dir]
        for folder in folders:
            for path in (p for p in folder.rglob("*") if p.is_file()):
                self.assert_no_secret_in(path.read_text(encoding="utf-8", errors="replace"), str(path))

    def stack_settings(self, tenant: str) -> Path:
        return self.project_dir / f"Pulumi.{tenant}.yaml"


WorldFactory = Callable[..., World]


@pytest.fixture
def world(engine: Engine, pulumi_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorldFactory]:
    """``world(tenants, files)``: the workspace and cloud for one test (tenant files by name -> YAML)."""
    made: list[World] = []
    with ExitStack() as stack:

        def make(
            tenants: Sequence[FakeTenant],
            files: Mapping[str, str],
            published_apps: Mapping[str, str] = PUBLISHED_APPS,
            defaults: str = f"app:\n  client_id: {CLIENT_ID}\n",
            automation: AutomationApp | None = None,
            partner: Partner | None = None,
            unconnected: Sequence[str] = (),
        ) -> World:
            cloud = stack.enter_context(
                serve_cloud(tenants, dict(published_apps), automation, partner=partner, unconnected=unconnected)
            )
            root = tmp_path / "workspace"
            (root / "tenants").mkdir(parents=True)
            (root / ".pulumi-state").mkdir()
            (root / "tenants" / "_defaults.yaml").write_text(defaults, encoding="utf-8")
            for name, text in files.items():
                (root / "tenants" / f"{name}.yaml").write_text(text, encoding="utf-8")
            for name in STRAY_ENVIRONMENT:
                monkeypatch.delenv(name, raising=False)
            environment = {
                "PATH": os.pathsep.join([str(engine.bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]),
                "PULUMI_HOME": str(pulumi_home),
                "PULUMI_SKIP_UPDATE_CHECK": "1",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                "PULUMI_BACKEND_URL": f"file://{root / '.pulumi-state'}",
                # The engine runs the program and the policy pack with this interpreter (the tool's own).
                "PULUMI_PYTHON_CMD": sys.executable,
                # The azuread provider's own variables: its cloud (whose metadata names Graph and the sign-in
                # endpoint) and the automation app's client secret. The tool's own Graph calls follow them too.
                "ARM_METADATA_HOSTNAME": cloud.metadata_host,
                "ARM_CLIENT_ID": cloud.automation.client_id,
                "ARM_CLIENT_SECRET": cloud.automation.client_secret,
                **cloud.certificates.trust_environment(),
                TIMEOUT_ENV: "30",
                ROOT_ENV: str(root),
            }
            for name, value in environment.items():
                monkeypatch.setenv(name, value)
            monkeypatch.chdir(root)
            made.append(World(root, cloud, secrets={PASSPHRASE, cloud.automation.client_secret}))
            return made[-1]

        yield make
    # Every engine test also proves: no secret in any state file, stack setting or output it produced.
    for done in made:
        done.assert_no_secret_at_rest()
