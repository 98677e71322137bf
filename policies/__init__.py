"""Consent policy as code: plain rule functions over the ConsentPlan, also served as a CrossGuard pack."""
