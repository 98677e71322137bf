"""Tenant files in, checked ConsentPlans out: the step every command starts with."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from taxcalc_consent.cli.options import Shard
from taxcalc_consent.infra.catalog import PermissionCatalog, graph_catalog
from taxcalc_consent.infra.errors import Problem, SpecError
from taxcalc_consent.infra.loader import KeyPath, LoadedTenant, load_tenants
from taxcalc_consent.infra.plan import ConsentPlan, Violation, build_plan
from taxcalc_consent.policies.rules import config_problems, findings, locate_finding, utc_today


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
    return [plan for plan, _, _ in _checked(paths, today)]


def load_checked_plans(
    paths: Sequence[str | Path], today: date | None = None
) -> list[tuple[ConsentPlan, list[LocatedViolation]]]:
    """Like ``load_plans``, also saying where each violation is written, for human output."""
    return [
        (plan, [LocatedViolation(v, _locate(tenant, v, where)) for v, where in found])
        for plan, tenant, found in _checked(paths, today)
    ]


def check_tenants(
    tenants: Sequence[LoadedTenant], today: date | None = None
) -> list[tuple[ConsentPlan, list[LocatedViolation]]]:
    """Plan loaded tenants and run the policy rules, as ``load_checked_plans`` does for files (``init``
    checks the file it is about to write this way)."""
    return [
        (plan, [LocatedViolation(v, _locate(tenant, v, where)) for v, where in found])
        for plan, tenant, found in _checked_tenants(tenants, graph_catalog(), today)
    ]


def _checked(
    paths: Sequence[str | Path], today: date | None
) -> list[tuple[ConsentPlan, LoadedTenant, list[tuple[Violation, KeyPath]]]]:
    catalog = graph_catalog()
    return _checked_tenants(load_tenants(paths, catalog), catalog, today)


def _checked_tenants(
    tenants: Sequence[LoadedTenant], catalog: PermissionCatalog, today: date | None
) -> list[tuple[ConsentPlan, LoadedTenant, list[tuple[Violation, KeyPath]]]]:
    problems = [p for tenant in tenants for p in config_problems(tenant, catalog)]
    if problems:
        raise SpecError(problems)
    today = today or utc_today()
    out: list[tuple[ConsentPlan, LoadedTenant, list[tuple[Violation, KeyPath]]]] = []
    for tenant in tenants:
        plan = build_plan(tenant)
        found = findings(plan, catalog, today)
        if found:  # replace() costs more than the rules themselves; most plans have nothing to add
            plan = dataclasses.replace(plan, violations=tuple(v for v, _ in found))
        out.append((plan, tenant, found))
    return out


def _locate(tenant: LoadedTenant, violation: Violation, where: KeyPath) -> Problem:
    path = locate_finding(tenant, where)
    return tenant.positions.problem(path, f"{violation.severity}: {violation.rule}: {violation.message}")


def select_shard(plans: Sequence[ConsentPlan], shard: Shard | None) -> list[ConsentPlan]:
    """Shard K of N: tenants sorted by name, dealt round robin, so shards differ in size by at most one
    and every tenant lands in exactly one shard for a given set of tenant files. None: every tenant."""
    if shard is None:
        return list(plans)
    ordered = sorted(plans, key=lambda p: p.tenant)
    chosen = {p.tenant for i, p in enumerate(ordered) if i % shard.n == shard.k - 1}
    return [p for p in plans if p.tenant in chosen]
