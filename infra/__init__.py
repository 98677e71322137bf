"""The core of taxcalc-consent: tenant spec, profiles, Graph permission catalog, the ConsentPlan
and (in ``__main__``) the Pulumi program that maps a plan onto pulumi-azuread resources.

Nothing here imports the CLI or the policies; importing this package does not import pulumi.
"""
