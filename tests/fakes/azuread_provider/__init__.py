"""A test stand-in for the ``pulumi-resource-azuread`` plugin, written on ``pulumi.provider.experimental``.

The real plugin (pulumi-azuread 6.x) wraps terraform-provider-azuread 3.x, a Go binary that cannot be built
here and would talk to login.microsoftonline.com and graph.microsoft.com. This one is installed under the
same name and version into a test ``PULUMI_HOME`` (``plugin.install``), so the real Pulumi engine loads it
for the program's azuread resources and data sources, and it sends the Microsoft Graph requests the real
provider sends, with its retries and quirks, to the emulated cloud (``tests.fakes.entra_cloud``). Each
behaviour names the terraform-provider-azuread source it follows.

What it covers is what the program uses: ServicePrincipal (with ``use_existing``), Application, the
delegated permission grant, AppRoleAssignment, import through Read with the provider's import ids, and the
data sources getServicePrincipal, getUser, getUsers, getGroup and getClientConfig. A property or a data
source outside that set is refused with a message saying so, never silently accepted.

Deviations from the real provider, on purpose and only these:
- of the ways to sign in, a client certificate, Azure DevOps' OIDC and a managed identity are not emulated:
  where the real provider would pick one of them, this one refuses, naming it (client secret, an OIDC token
  in hand or in a file, GitHub Actions' OIDC and the Azure CLI are signed in as the real one does);
- ``TAXCALC_TEST_AZUREAD_TIMEOUT`` (seconds) caps every operation timeout, so a test of "retried until
  the create timeout" takes seconds rather than the real provider's ten minutes.
"""
