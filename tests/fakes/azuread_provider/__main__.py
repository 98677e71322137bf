"""Entry point of the ``pulumi-resource-azuread`` test plugin: ``python -m tests.fakes.azuread_provider <engine>``."""

from __future__ import annotations

import sys

from tests.fakes.azuread_provider.plugin import sdk_plugin_version
from tests.fakes.azuread_provider.provider import AzureADProvider
from tests.fakes.azuread_provider.server import serve

if __name__ == "__main__":
    serve(sys.argv[1:], sdk_plugin_version(), AzureADProvider())
