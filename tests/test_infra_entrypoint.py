"""``infra/__main__.py`` as ``pulumi up -s <stack>`` runs it, and the provider's authentication settings."""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from taxcalc_consent.infra.model.kinds import delegated_grant, service_principal
from taxcalc_consent.infra.model.profiles import EXAMPLES_CLIENT_ID
from taxcalc_consent.infra.program.provider import provider_arguments
from taxcalc_consent.infra.program.stack import load_plan
from tests.conftest import ROOT, TENANT_ID
from tests.fakes.entra import FakeTenant
from tests.fakes.example_tenants import PUBLISHED_APPS, contoso, copy_examples
from tests.fakes.pulumi_mocks import PROVIDER_TYPE, EntraMocks, mocked_stack, run, settle_event_loop

MAIN = ROOT / "infra" / "__main__.py"
SECRET = "abc1Q~not-a-real-secret-but-shaped-like-one-xx"


def run_main(tenant: FakeTenant, config: dict[str, str], stack: str = "contoso") -> tuple[EntraMocks, dict[str, Any]]:
    """Run infra/__main__.py as the Pulumi language host does, with ``config`` as the stack's config."""
    mocks = EntraMocks(tenant, PUBLISHED_APPS)
    exported: dict[str, Any] = {}
    with mocked_stack(mocks, stack=stack, config=config):

        def program() -> Any:
            runpy.run_path(str(MAIN), run_name="__main__")
            root = pulumi_settings.get_root_resource()
            outputs = dict(getattr(root, "outputs", {}))
            return pulumi.Output.all(**outputs).apply(exported.update)

        run(program)
    return mocks, exported


def test_pulumi_up_with_a_tenant_file_relative_to_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `pulumi up -s contoso` at a repository's root: no TAXCALC_CONSENT_ROOT, the project folder is R.
    copy_examples(tmp_path / "clients" / "tenants")
    monkeypatch.delenv("TAXCALC_CONSENT_ROOT", raising=False)
    monkeypatch.setattr(pulumi, "get_root_directory", lambda: str(tmp_path / "clients"))
    tenant = contoso()
    mocks, exported = run_main(tenant, {"taxcalc-consent:tenantFile": "tenants/contoso.yaml"})

    [grant] = tenant.grants.values()
    assert grant.consent_type == "AllPrincipals"
    assert mocks.named(delegated_grant.ORGANIZATION_NAME).id == f"/oauth2PermissionGrants/{grant.id}"
    assert exported["servicePrincipalObjectId"] == mocks.named(service_principal.NAME).id
    assert exported["grantIds"] == {"AllPrincipals": f"/oauth2PermissionGrants/{grant.id}"}
    assert exported["summary"]["tenant"] == "contoso"
    assert exported["summary"]["mode"] == "organization"


def test_an_absolute_tenant_file_and_the_adopt_map_from_config(hub_examples: Path) -> None:
    tenant = contoso()
    hub = tenant.add_service_principal(next(iter(PUBLISHED_APPS)), "TaxCalc-Hub")
    by_hand = tenant.create_grant(hub.id, "AllPrincipals", None, tenant.graph.id, "User.Read")
    config = {
        "taxcalc-consent:tenantFile": str((hub_examples / "contoso.yaml").resolve()),
        "taxcalc-consent:adopt": json.dumps({delegated_grant.ORGANIZATION_NAME: by_hand.id}),
    }
    mocks, _ = run_main(tenant, config)
    assert mocks.named(delegated_grant.ORGANIZATION_NAME).import_id == f"/oauth2PermissionGrants/{by_hand.id}"
    assert list(tenant.grants) == [by_hand.id]


def test_an_invalid_tenant_file_is_one_clean_error_listing_located_problems(tenants_dir: Path) -> None:
    bad = tenants_dir / "bad.yaml"
    bad.write_text(f"tenant:\n  id: {TENANT_ID}\nconsent:\n  mode: everyone\n  scopes: [Mail.Sendd]\n", "utf-8")
    tenant = FakeTenant(TENANT_ID)
    with pytest.raises(pulumi.RunError) as failure:
        run_main(tenant, {"taxcalc-consent:tenantFile": str(bad)})
    message = str(failure.value)
    assert f"{bad}:4:3: consent.mode:" in message
    assert "Traceback" not in message
    assert len(tenant.service_principals) == 2  # Graph's and the automation app's (mocked_stack): nothing created


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "has no taxcalc-consent:tenantFile"),
        ({"taxcalc-consent:tenantFile": "examples/tenants/nope.yaml"}, "no such file"),
        ({"taxcalc-consent:tenantFile": "examples/tenants"}, "name one tenant file"),
        (
            {"taxcalc-consent:tenantFile": "examples/tenants/contoso.yaml", "taxcalc-consent:adopt": '["x"]'},
            "must be a map",
        ),
    ],
)
def test_bad_stack_config_is_a_clean_error(config: dict[str, str], expected: str) -> None:
    with pytest.raises(pulumi.RunError, match=expected):
        run_main(contoso(), config)


def test_load_plan_reads_the_defaults_file_beside_the_tenant_file(hub_examples: Path) -> None:
    assert load_plan(str(hub_examples / "contoso.yaml")).app.client_id == next(iter(PUBLISHED_APPS))
    # The bundled folder's own placeholder is read too: the program runs on the examples as they ship.
    assert load_plan("examples/tenants/contoso.yaml").app.client_id == EXAMPLES_CLIENT_ID


# -------------------------------------------------------------------------------------------- provider


def test_azure_cli_is_only_used_when_the_file_asks_for_it(tenants_dir: Path) -> None:
    implicit = load_plan(str(_tenant(tenants_dir, "a", "")))
    assert provider_arguments(implicit, {}) == {"tenant_id": TENANT_ID, "use_cli": False}
    cli = load_plan(str(_tenant(tenants_dir, "b", "auth:\n  method: cli\n")))
    assert provider_arguments(cli, {}) == {"tenant_id": TENANT_ID, "use_cli": True, "use_oidc": False, "use_msi": False}
    oidc = load_plan(str(_tenant(tenants_dir, "c", "auth:\n  method: oidc\n  client_id: " + TENANT_ID + "\n")))
    assert provider_arguments(oidc, {}) == {
        "tenant_id": TENANT_ID,
        "use_cli": False,
        "use_oidc": True,
        "use_msi": False,
        "client_id": TENANT_ID,
    }


def test_a_client_secret_is_read_from_the_named_variable_and_sent_as_a_secret(tenants_dir: Path) -> None:
    path = _tenant(tenants_dir, "t", "auth:\n  method: client-secret\n  client_secret_env: TAXCALC_SP_SECRET\n")
    plan = load_plan(str(path))
    mocks = EntraMocks(FakeTenant(TENANT_ID), PUBLISHED_APPS)
    with mocked_stack(mocks):
        from taxcalc_consent.infra.program.provider import tenant_provider

        run(lambda: tenant_provider(plan, {"TAXCALC_SP_SECRET": SECRET}).id)
    [provider] = mocks.of_type(PROVIDER_TYPE)
    secret = provider.inputs["clientSecret"]
    # On the wire a Pulumi secret is wrapped with the secret signature: encrypted in state, masked in output.
    assert isinstance(secret, dict)
    assert secret["value"] == SECRET
    assert "4dabf18193072939515e22adb298388d" in secret
    assert provider.inputs["useCli"] == "false"


def test_in_the_tool_s_runs_the_provider_records_its_tenant_and_no_way_of_signing_in(tenants_dir: Path) -> None:
    """The engine configures a refresh's provider from the arguments the last update recorded (pulumi/pulumi#18411):
    in the tool's runs those are the tenant id alone, whatever the tool's own ARM_USE_MSI or ARM_ENVIRONMENT say
    (pulumi-azuread's Provider class would have added both); the sign-in comes from the engine's environment."""
    plan = load_plan(str(_tenant(tenants_dir, "b", "auth:\n  method: cli\n")))
    mocks = EntraMocks(FakeTenant(TENANT_ID), PUBLISHED_APPS)
    with mocked_stack(mocks), pytest.MonkeyPatch.context() as env:
        env.setenv("ARM_USE_MSI", "true")
        env.setenv("ARM_ENVIRONMENT", "usgovernment")
        from taxcalc_consent.infra.program.provider import tenant_provider

        run(lambda: tenant_provider(plan, {}, signed_in_by_engine=True).id)
        run(lambda: tenant_provider(plan, {}).id)
    by_engine, by_hand = mocks.of_type(PROVIDER_TYPE)
    assert by_engine.inputs == {"tenantId": TENANT_ID}
    assert by_hand.inputs["useCli"] == "true" and by_hand.inputs["useMsi"] == "false"


def test_a_missing_secret_variable_is_named_and_nothing_secret_is_shown(tenants_dir: Path) -> None:
    path = _tenant(tenants_dir, "t", "auth:\n  method: client-secret\n  client_secret_env: TAXCALC_SP_SECRET\n")
    plan = load_plan(str(path))
    with pytest.raises(pulumi.RunError, match="TAXCALC_SP_SECRET is not set") as failure:
        provider_arguments(plan, {"ARM_CLIENT_SECRET": SECRET})
    assert SECRET not in str(failure.value)


def _tenant(folder: Path, name: str, extra: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"tenant:\n  id: {TENANT_ID}\nconsent:\n  mode: organization\n{extra}", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _collect_abandoned_pulumi_work() -> Iterator[None]:
    """See ``tests.fakes.pulumi_mocks.settle_event_loop``: collect what a failed run left, now."""
    yield
    settle_event_loop()
