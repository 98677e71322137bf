"""Tenant files in, checked ConsentPlans out: the step every command starts with."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Generic, NamedTuple, Protocol, TypeVar

from taxcalc_consent.cli.fleet.run_options import Shard
from taxcalc_consent.infra.model.catalog import PermissionCatalog, graph_catalog
from taxcalc_consent.infra.model.document_json import encode_item
from taxcalc_consent.infra.model.errors import Problem, SpecError
from taxcalc_consent.infra.model.files import files_read, remember_read
from taxcalc_consent.infra.model.loader import Identity, LoadedTenant, across_files, check_files
from taxcalc_consent.infra.model.plan import ConsentPlan, Violation, build_plan, plan_to_dict
from taxcalc_consent.infra.model.positions import KeyPath
from taxcalc_consent.infra.model.tenant_files import collect_tenant_files
from taxcalc_consent.policies.rules import config_problems, findings, locate_finding, utc_today

T = TypeVar("T")


@dataclass(frozen=True)
class LocatedViolation:
    """A policy violation and where in the tenant file (or _defaults.yaml) the offending key is written."""

    violation: Violation
    where: Problem


PARALLEL_FILES_PER_PROCESS = 500
"""A run of many tenant files is checked in a process per CPU, one for every this many files at least
(as black and flake8 check many files): reading, validating and planning a file is all CPU, and the
files are independent. Fewer files, or no ``fork`` (only Linux is used here: macOS's system libraries
are not fork-safe, Windows has none), and one process checks them all."""


Notify = Callable[[str], None]
"""Where a load says what is worth a person's notice but is no error: a near-miss file name, not read (the CLI
passes ``console.say``). Required of every caller, so a new command cannot drop the notices by forgetting it."""


def load_plans(paths: Sequence[str | Path], today: date | None = None, *, notify: Notify) -> list[ConsentPlan]:
    """Load and validate every tenant file, plan each and run the policy rules over it.

    Raises SpecError listing every problem, policy configuration mistakes included. Violations are
    not errors here: they ride on each plan, and the command decides the exit code.
    """
    return _checked(paths, today, _plan_only, notify, in_parallel=False)  # plans cost more to send than to make


class CheckedTenant(NamedTuple):
    """What ``validate`` and ``init`` show of a tenant: its name, file and violations, each located. Not
    the plan: thousands of plans held until the last file is read would cost the garbage collector more
    than the planning itself."""

    tenant: str
    file: str
    violations: tuple[Violation, ...]
    located: list[LocatedViolation]


def load_checked(paths: Sequence[str | Path], today: date | None = None, *, notify: Notify) -> list[CheckedTenant]:
    """Like ``load_plans``, keeping for each tenant its violations and where each is written."""
    return _checked(paths, today, _with_locations, notify)


class EncodedPlan(NamedTuple):
    """A tenant's plan@1 entry, encoded for ``document_json.write_encoded``, and what the command's exit code
    needs of it."""

    tenant: str
    body: str
    mandatory: int


def load_encoded_plans(paths: Sequence[str | Path], today: date | None = None, *, notify: Notify) -> list[EncodedPlan]:
    """Like ``load_plans``, keeping each tenant's plan@1 entry as text (``plan --offline --json``)."""
    return _checked(paths, today, _encoded, notify)


def check_tenants(tenants: Sequence[LoadedTenant], today: date | None = None) -> list[CheckedTenant]:
    """Plan loaded tenants and run the policy rules, as ``load_checked`` does for files (``init`` checks the
    file it is about to write this way)."""
    kept, config = _plan_each(iter(tenants), graph_catalog(), today or utc_today(), _with_locations)
    if config:
        raise SpecError(config)
    return kept


def _plan_only(plan: ConsentPlan, tenant: LoadedTenant, found: list[tuple[Violation, KeyPath]]) -> ConsentPlan:
    return plan


def _with_locations(plan: ConsentPlan, tenant: LoadedTenant, found: list[tuple[Violation, KeyPath]]) -> CheckedTenant:
    located = [LocatedViolation(v, _locate(tenant, v, where)) for v, where in found]
    return CheckedTenant(plan.tenant, plan.file, plan.violations, located)


def _encoded(plan: ConsentPlan, tenant: LoadedTenant, found: list[tuple[Violation, KeyPath]]) -> EncodedPlan:
    mandatory = sum(v.severity == "mandatory" for v in plan.violations)
    return EncodedPlan(plan.tenant, encode_item(plan_to_dict(plan)), mandatory)


Keep = Callable[[ConsentPlan, LoadedTenant, list[tuple[Violation, KeyPath]]], T]
"""What a load keeps of each tenant; a module-level function, so that another process can be told it."""


class _Part(NamedTuple, Generic[T]):
    """What checking some of the files found: what was kept of each tenant, the files' problems, the
    tenants' identities (for the checks across files), the policy configuration's mistakes, and the files
    read (so that an --out naming one is refused whichever process read it)."""

    kept: list[T]
    problems: list[Problem]
    identities: list[Identity]
    config: list[Problem]
    read: frozenset[tuple[int, int]] = frozenset()


def _checked(
    paths: Sequence[str | Path], today: date | None, keep: Keep[T], notify: Notify, *, in_parallel: bool = True
) -> list[T]:
    """Plan each tenant as it is loaded and run the policy rules over it, keeping only what ``keep`` makes
    of it: the tenant file's model and positions are let go as soon as its plan is made.

    Problems in the files come first, every one of them, in file order (a SpecError); then mistakes in the
    policy configuration, every one of them. Many files are checked in several processes, in parts of
    consecutive files whose results are joined in file order: the same outcome, to the byte."""
    files, problems, notices = collect_tenant_files(paths)
    for notice in notices:  # near-miss file names that are not errors: named, not read
        notify(str(notice))
    today = today or utc_today()
    parts = _parts(files) if in_parallel else [files]
    if len(parts) > 1:
        results = _in_processes(parts, today, keep)
        remember_read(read for part in results for read in part.read)
    else:
        results = [_check_part(files, today, keep)]
    problems += [p for part in results for p in part.problems]
    problems += across_files(i for part in results for i in part.identities)
    if problems:
        raise SpecError(problems)
    config = [p for part in results for p in part.config]
    if config:
        raise SpecError(config)
    return [kept for part in results for kept in part.kept]


def _check_part(files: Sequence[str], today: date, keep: Keep[T]) -> _Part[T]:
    catalog = graph_catalog()
    problems: list[Problem] = []
    identities: list[Identity] = []
    kept, config = _plan_each(check_files(files, catalog, problems, identities), catalog, today, keep)
    return _Part(kept, problems, identities, config, files_read())


def _plan_each(
    tenants: Iterator[LoadedTenant], catalog: PermissionCatalog, today: date, keep: Keep[T]
) -> tuple[list[T], list[Problem]]:
    """Each tenant planned and its rules run, kept as ``keep`` says; and the policy configuration's
    mistakes. Once one is known, the tenants that follow are checked for more but not planned."""
    config: list[Problem] = []
    kept: list[T] = []
    for tenant in tenants:
        config += config_problems(tenant, catalog)
        if config:
            continue
        plan = build_plan(tenant)
        found = findings(plan, catalog, today)
        if found:  # replace() costs more than the rules themselves; most plans have nothing to add
            plan = dataclasses.replace(plan, violations=tuple(v for v, _ in found))
        kept.append(keep(plan, tenant, found))
    return kept, config


def _parts(files: list[str]) -> list[list[str]]:
    """``files`` in consecutive parts, one per process to check them in (one part: check them here)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    count = min(cpus, len(files) // PARALLEL_FILES_PER_PROCESS)
    if count < 2 or sys.platform != "linux":
        return [files]
    size = -(-len(files) // count)
    return [files[start : start + size] for start in range(0, len(files), size)]


def _in_processes(parts: list[list[str]], today: date, keep: Keep[T]) -> list[_Part[T]]:
    """The first part checked here, the others each in a process forked for it. If a process cannot be
    started or dies, every part is checked here: slower, the same outcome."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    sys.stdout.flush()  # a forked process would write out again what is still buffered here
    sys.stderr.flush()
    first: _Part[T] | None = None
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(parts) - 1, mp_context=context) as pool:
            others = [pool.submit(_check_part, part, today, keep) for part in parts[1:]]
            first = _check_part(parts[0], today, keep)
            return [first, *(other.result() for other in others)]
    except (OSError, BrokenProcessPool):
        if first is None:  # no process could be started: nothing was checked yet
            first = _check_part(parts[0], today, keep)
        return [first, *(_check_part(part, today, keep) for part in parts[1:])]


def _locate(tenant: LoadedTenant, violation: Violation, where: KeyPath) -> Problem:
    path = locate_finding(tenant, where)
    return tenant.positions.problem(path, f"{violation.severity}: {violation.rule}: {violation.message}")


class _Tenant(Protocol):
    @property
    def tenant(self) -> str: ...


Tenant = TypeVar("Tenant", bound=_Tenant)


def select_shard(plans: Sequence[Tenant], shard: Shard | None) -> list[Tenant]:
    """Shard K of N: tenants sorted by name, dealt round robin, so shards differ in size by at most one
    and every tenant lands in exactly one shard for a given set of tenant files. None: every tenant."""
    if shard is None:
        return list(plans)
    ordered = sorted(plans, key=lambda p: p.tenant)
    chosen = {p.tenant for i, p in enumerate(ordered) if i % shard.n == shard.k - 1}
    return [p for p in plans if p.tenant in chosen]
