"""Tenant files in, checked ConsentPlans out: the step every command starts with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infra.loader import load_tenants
from infra.plan import ConsentPlan, build_plan


def load_plans(paths: Sequence[str | Path]) -> list[ConsentPlan]:
    """Load and validate every tenant file, then plan each. Raises SpecError listing every problem."""
    return [build_plan(tenant) for tenant in load_tenants(paths)]
