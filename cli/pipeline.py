"""Tenant files in, checked ConsentPlans out: the step every command starts with."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from infra.catalog import graph_catalog
from infra.errors import Problem, SpecError
from infra.loader import LoadedTenant, load_tenants
from infra.plan import ConsentPlan, Violation, build_plan
from policies.rules import config_problems, findings, locate_finding


@dataclass(frozen=True)
class LocatedViolation:
    """A policy violation and where in the tenant file (or _defaults.yaml) the offending key is written."""

    violation: Violation
    where: Problem


def load_plans(paths: Sequence[str | Path], today: date | None = None) -> list[ConsentPlan]:
    """Load and validate every tenant file, plan each and run the policy rules over it.

    Raises SpecError listing every problem, policy configuration mistakes included. Violations are
    not errors here: they ride on each plan, and the command decides the exit code.
    """
    return [plan for plan, _ in load_checked_plans(paths, today)]


def load_checked_plans(
    paths: Sequence[str | Path], today: date | None = None
) -> list[tuple[ConsentPlan, list[LocatedViolation]]]:
    """Like ``load_plans``, also saying where each violation is written, for human output."""
    catalog = graph_catalog()
    tenants = load_tenants(paths, catalog)
    problems = [p for tenant in tenants for p in config_problems(tenant, catalog)]
    if problems:
        raise SpecError(problems)
    out: list[tuple[ConsentPlan, list[LocatedViolation]]] = []
    for tenant in tenants:
        plan = build_plan(tenant)
        found = findings(plan, catalog, today)
        plan = dataclasses.replace(plan, violations=tuple(v for v, _ in found))
        out.append((plan, [LocatedViolation(v, _locate(tenant, v, where)) for v, where in found]))
    return out


def _locate(tenant: LoadedTenant, violation: Violation, where: tuple[str | int, ...]) -> Problem:
    path = locate_finding(tenant, where)
    return tenant.positions.problem(path, f"{violation.severity}: {violation.rule}: {violation.message}")
