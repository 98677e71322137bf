"""Tenant files in, checked ConsentPlans out: the step every command starts with."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple, TypeVar

from taxcalc_consent.cli.options import Shard
from taxcalc_consent.infra.catalog import graph_catalog
from taxcalc_consent.infra.errors import Problem, SpecError
from taxcalc_consent.infra.loader import KeyPath, LoadedTenant, iter_tenants
from taxcalc_consent.infra.plan import ConsentPlan, Violation, build_plan
from taxcalc_consent.policies.rules import config_problems, findings, locate_finding, utc_today

T = TypeVar("T")


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
    return _checked(iter_tenants(paths), today, lambda plan, _tenant, _found: plan)


class CheckedTenant(NamedTuple):
    """What ``validate`` and ``init`` show of a tenant: its name, file and violations, each located. Not
    the plan: thousands of plans held until the last file is read would cost the garbage collector more
    than the planning itself."""

    tenant: str
    file: str
    violations: tuple[Violation, ...]
    located: list[LocatedViolation]


def load_checked(paths: Sequence[str | Path], today: date | None = None) -> list[CheckedTenant]:
    """Like ``load_plans``, keeping for each tenant its violations and where each is written."""
    return _checked(iter_tenants(paths), today, _with_locations)


def check_tenants(tenants: Sequence[LoadedTenant], today: date | None = None) -> list[CheckedTenant]:
    """Plan loaded tenants and run the policy rules, as ``load_checked`` does for files (``init`` checks the
    file it is about to write this way)."""
    return _checked(iter(tenants), today, _with_locations)


def _with_locations(plan: ConsentPlan, tenant: LoadedTenant, found: list[tuple[Violation, KeyPath]]) -> CheckedTenant:
    located = [LocatedViolation(v, _locate(tenant, v, where)) for v, where in found]
    return CheckedTenant(plan.tenant, plan.file, plan.violations, located)


def _checked(
    tenants: Iterator[LoadedTenant],
    today: date | None,
    keep: Callable[[ConsentPlan, LoadedTenant, list[tuple[Violation, KeyPath]]], T],
) -> list[T]:
    """Plan each tenant as it is loaded and run the policy rules over it, keeping only what ``keep`` makes
    of it: the tenant file's model and positions are let go as soon as its plan is made.

    Problems in the files (SpecError from the loader, after the last tenant) come first; then mistakes in
    the policy configuration, every one of them. Once any is known, the tenants that follow are checked
    for more but not planned: nothing planned would be used."""
    catalog = graph_catalog()
    today = today or utc_today()
    problems: list[Problem] = []
    kept: list[T] = []
    for tenant in tenants:
        problems += config_problems(tenant, catalog)
        if problems:
            continue
        plan = build_plan(tenant)
        found = findings(plan, catalog, today)
        if found:  # replace() costs more than the rules themselves; most plans have nothing to add
            plan = dataclasses.replace(plan, violations=tuple(v for v, _ in found))
        kept.append(keep(plan, tenant, found))
    if problems:
        raise SpecError(problems)
    return kept


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
