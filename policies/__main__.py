"""CrossGuard entry point: ``pulumi preview --policy-pack policies``.

Constructing the PolicyPack starts the analyzer's gRPC server and blocks to serve the engine, so it
happens here only; the policies themselves live in ``policies.pack`` where tests call them directly.
"""

import sys
from pathlib import Path

# The engine runs this file from the policies/ folder; the rules import the project's infra package.
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
if _PROJECT_ROOT not in sys.path:
    sys.path.insert(0, _PROJECT_ROOT)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.pack import POLICY_PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=POLICY_PACK_NAME,
    # Each policy carries its own level (the rule's default); this only covers none being set.
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
    description="taxcalc-consent: TaxCalc-Hub's Microsoft Graph consent policy (docs/policy.md).",
)
