"""A stand-in for the Azure CLI (``az``) on PATH, signed in as a service principal at the emulated cloud.

Both the azuread provider (go-azure-sdk sdk/internal/azurecli, sdk/auth/azure_cli_authorizer.go) and the
tool (azure-identity's AzureCliCredential) sign in with ``auth.method: cli`` by running ``az``. This one
answers the three commands they run, with the JSON ``az`` prints
(https://learn.microsoft.com/cli/azure/account#az-account-get-access-token,
https://learn.microsoft.com/cli/azure/account#az-account-show, ``az version``):
- ``az version``: the CLI's version;
- ``az account show``: the signed-in account (a service principal, tenant-level);
- ``az account get-access-token [--resource R | --scope S] [--tenant T]``: a token from the cloud's token
  endpoint for that tenant (the service principal's client-credentials grant, as ``az`` does for a
  service principal login), printed with ``accessToken``, ``expiresOn`` (local time), ``expires_on``,
  ``tenant`` and ``tokenType``.
Not signed in, it fails as ``az`` does: exit 1, ``ERROR: Please run 'az login' to setup account.`` on stderr.

``az login`` itself is not emulated: a test signs in by writing the account into ``AZURE_CONFIG_DIR``
(``login_service_principal``, or ``login_user`` for an MSP engineer: then each token comes from the refresh-token
grant with the Azure CLI's own client id, as ``az`` asks MSAL for a signed-in user's token in any tenant,
``--tenant`` included), the folder ``az`` keeps its profile in.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

import httpx

STATE_FILE = "taxcalc-fake-az.json"
LOG_FILE = "taxcalc-fake-az.log"
"""Each run's arguments, one JSON list a line, so a test can tell who asked (go-azure-sdk passes ``--scope``,
azure-identity ``--resource``)."""
VERSION = "2.67.0"
REPOSITORY = Path(__file__).resolve().parents[2]
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""The Azure CLI's public client id (tests/fakes/gdap.py names its source); kept here too, so this stand-in, which
runs as its own process, imports nothing of the tests."""


def install(bin_dir: Path, python: str = sys.executable) -> Path:
    """Put an ``az`` executable into ``bin_dir`` (put that folder first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    az = bin_dir / "az"
    az.write_text(
        "#!/bin/sh\n"
        "# The taxcalc-consent test stand-in for the Azure CLI (tests/fakes/azure_cli.py).\n"
        f"PYTHONPATH={shlex.quote(str(REPOSITORY))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
        f'exec {shlex.quote(python)} -m tests.fakes.azure_cli "$@"\n',
        encoding="utf-8",
    )
    az.chmod(0o755)
    return az


def invocations(config_dir: Path) -> list[list[str]]:
    """Every ``az`` run after ``az version``, in order (its arguments)."""
    log = config_dir / LOG_FILE
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [json.loads(line) for line in lines]


def login_service_principal(config_dir: Path, login_endpoint: str, tenant_id: str, client_id: str, secret: str) -> None:
    """What ``az login --service-principal -u <client id> -p <secret> --tenant <tenant>`` leaves behind, for a
    cloud whose sign-in endpoint is ``login_endpoint`` (``az cloud register --endpoint-active-directory``)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    state = {"login": login_endpoint.rstrip("/"), "tenant": tenant_id, "client_id": client_id, "secret": secret}
    (config_dir / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def login_user(config_dir: Path, login_endpoint: str, tenant_id: str, upn: str, refresh_token: str) -> None:
    """What ``az login`` (a user, in their home tenant ``tenant_id``) leaves behind: the account and the refresh
    token MSAL keeps for it."""
    config_dir.mkdir(parents=True, exist_ok=True)
    state = {"login": login_endpoint.rstrip("/"), "tenant": tenant_id, "user": upn, "refresh_token": refresh_token}
    (config_dir / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def _fail(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return 1


def _options(args: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word.startswith("-") and "=" in word:
            name, value = word.split("=", 1)
        elif word.startswith("-"):
            name, value = word, (rest.pop(0) if rest and not rest[0].startswith("-") else "")
        else:
            continue
        options[{"-o": "--output"}.get(name, name)] = value
    return options


def main(argv: list[str]) -> int:
    words = [a for a in argv if not a.startswith("-")]
    options = _options(argv)
    if options.get("--output", "json") != "json":
        return _fail("only --output json is emulated")
    if words[:1] == ["version"]:
        print(
            json.dumps(
                {"azure-cli": VERSION, "azure-cli-core": VERSION, "azure-cli-telemetry": "1.1.0", "extensions": {}}
            )
        )
        return 0
    config = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
    with contextlib.suppress(OSError), (config / LOG_FILE).open("a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    try:
        state = json.loads((config / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _fail("Please run 'az login' to setup account.")
    if words[:2] == ["account", "show"]:
        print(
            json.dumps(
                {
                    "environmentName": "EmulatedCloud",
                    "homeTenantId": state["tenant"],
                    "id": state["tenant"],
                    "isDefault": True,
                    "managedByTenants": [],
                    "name": "N/A(tenant level account)",
                    "state": "Enabled",
                    "tenantId": state["tenant"],
                    "user": (
                        {"name": state["user"], "type": "user"}
                        if "user" in state
                        else {"name": state["client_id"], "type": "servicePrincipal"}
                    ),
                }
            )
        )
        return 0
    if words[:2] == ["account", "get-access-token"]:
        return _get_access_token(state, options)
    return _fail(f"'{' '.join(words)}' is not emulated by the test az")


def _get_access_token(state: dict[str, str], options: dict[str, str]) -> int:
    tenant = options.get("--tenant") or state["tenant"]
    if "--scope" in options:
        scope = options["--scope"]
    else:
        scope = (options.get("--resource") or "https://management.core.windows.net/").rstrip("/") + "/.default"
    if "refresh_token" in state:
        form = {
            "client_id": AZURE_CLI_CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": state["refresh_token"],
            "scope": scope,
        }
    else:
        form = {
            "client_id": state["client_id"],
            "client_secret": state["secret"],
            "grant_type": "client_credentials",
            "scope": scope,
        }
    try:
        response = httpx.post(
            f"{state['login']}/{tenant}/oauth2/v2.0/token", data=form, headers={"User-Agent": f"AZURECLI/{VERSION}"}
        )
    except httpx.HTTPError as exc:
        return _fail(f"could not reach the sign-in endpoint: {type(exc).__name__}")
    answer = response.json()
    if response.status_code != 200:
        return _fail(str(answer.get("error_description") or answer.get("error")))
    expires = int(time.time()) + int(answer.get("expires_in") or 3599)
    local = datetime.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f")
    print(
        json.dumps(
            {
                "accessToken": answer["access_token"],
                "expiresOn": local,
                "expires_on": expires,
                "subscription": tenant,
                "tenant": tenant,
                "tokenType": "Bearer",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
