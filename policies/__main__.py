"""CrossGuard entry point: ``pulumi preview --policy-pack policies``.

Constructing the PolicyPack starts the analyzer's gRPC server and blocks to serve the engine, so it
happens here only; the policies themselves live in ``policies.pack`` where tests call them directly.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from taxcalc_consent.policies.pack import POLICY_PACK_NAME, build_policies

PolicyPack(
    name=POLICY_PACK_NAME,
    # Each policy carries its own level (the rule's default); this only covers none being set.
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
    description="taxcalc-consent: TaxCalc-Hub's Microsoft Graph consent policy (docs/policy.md in its repository).",
)
