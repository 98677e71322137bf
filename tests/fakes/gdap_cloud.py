"""The emulated cloud with the MSP's tenant and its clients, the engineer signed in through the stand-in ``az``:
how the GDAP tests (tests/test_connect.py, tests/test_gdap_access.py) start each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from taxcalc_consent.infra.graph import client as graph
from tests.fakes import azure_cli
from tests.fakes.entra_cloud import EmulatedCloud, serve_cloud
from tests.fakes.gdap import MSP_TENANT_ID, StandardMsp


@contextmanager
def engineer_signed_in(
    msp: StandardMsp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **serve: Any
) -> Iterator[EmulatedCloud]:
    """The MSP's tenant and every client served (``serve``: further ``serve_cloud`` arguments), its certificates
    trusted, no automation identity or ready token in the environment, and ``az login`` done as the engineer."""
    with serve_cloud([msp.partner.tenant, *msp.clients.values()], partner=msp.partner, **serve) as running:
        for name, value in running.certificates.trust_environment().items():
            monkeypatch.setenv(name, value)
        for name in (
            "ARM_ENVIRONMENT",
            "ARM_CLIENT_ID",
            "ARM_CLIENT_SECRET",
            graph.TOKEN_ENV,
            graph.GRAPH_ENDPOINT_ENV,
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ARM_METADATA_HOSTNAME", running.metadata_host)
        bin_dir, config = tmp_path / "az-bin", tmp_path / "az-config"
        azure_cli.install(bin_dir)
        azure_cli.login_user(
            config, running.base_url, MSP_TENANT_ID, msp.engineer.upn, running.refresh_token(msp.engineer)
        )
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("AZURE_CONFIG_DIR", str(config))
        yield running
