"""TaxCalc-Hub's application id in the tests: the one every fake, fixture, golden copy and benchmark uses.

Not the bundled examples' placeholder (``profiles.EXAMPLES_CLIENT_ID``), which the tool refuses outside
examples/tenants: a folder the tests write, or copy from the examples (``example_tenants.copy_examples``),
carries this id instead, as a real MSP repository carries TaxCalc-Hub's real one.
"""

from __future__ import annotations

HUB_CLIENT_ID = "7a3c0f1e-5b2d-4e8a-9c6f-1d2e3f4a5b6c"
"""TaxCalc-Hub's application (client) id, as published to every tenant of the emulated cloud."""
