"""A fleet's rollout: the rings ``apply`` goes through in order, and the rule that stops it.

``_rollout.yaml`` sits beside the tenant files and their ``_defaults.yaml`` (files starting with ``_`` are
never tenants). It is a file of its own rather than a key of ``_defaults.yaml``: defaults are merged under
every tenant file, while rings say how the fleet as a whole is applied, and a tenant file must not be able
to move itself to an earlier ring. Protect it as ``_defaults.yaml`` is (a CODEOWNERS entry)::

    pause: 10m          # between rings (s, m or h; default 0s)
    max_failures: 0     # failed tenants a ring may have before apply stops (default 0); a ring may say its own
    rings:
      - name: canary
        tenants: [contoso]          # tenant names (file stems) or globs
      - name: early
        tenants: ["f*", northwind]
        max_failures: 1
      - name: rest
        tenants: ["*"]

A tenant is in the first ring that names it; a tenant in no ring is an error (a new tenant file must never
be applied outside the rollout by accident), so a last ring of ``"*"`` takes every tenant not named before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from taxcalc_consent.infra.model.errors import Problem, SpecError, did_you_mean
from taxcalc_consent.infra.model.positions import Positions
from taxcalc_consent.infra.model.yaml_reader import read_yaml_file

ROLLOUT_FILE = "_rollout.yaml"
MAX_PAUSE_SECONDS = 24 * 3600

_TOP_KEYS = ("pause", "max_failures", "rings")
_RING_KEYS = ("name", "tenants", "max_failures")
_RING_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PATTERN = re.compile(r"[A-Za-z0-9._*?\[\]!-]{1,128}")
_DURATION = re.compile(r"(\d{1,6})\s*(s|m|h)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Ring:
    name: str
    patterns: tuple[str, ...]
    max_failures: int

    def holds(self, tenant: str) -> bool:
        return any(fnmatchcase(tenant, pattern) for pattern in self.patterns)


@dataclass(frozen=True)
class Rollout:
    file: str
    """As shown in messages."""
    rings: tuple[Ring, ...]
    pause_seconds: int
    positions: Positions

    def ring(self, name: str) -> Ring | None:
        return next((r for r in self.rings if r.name == name), None)

    def ring_of(self, tenant: str) -> Ring | None:
        return next((r for r in self.rings if r.holds(tenant)), None)

    def assign(self, tenants: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Tenant name -> ring name for ``(tenant, file)`` pairs. Raises SpecError naming every tenant in no
        ring, located at the file's ``rings`` key."""
        assigned: dict[str, str] = {}
        problems: list[Problem] = []
        for tenant, file in tenants:
            ring = self.ring_of(tenant)
            if ring is None:
                problems.append(
                    self.positions.problem(
                        ("rings",),
                        f"tenant {tenant} ({file}) is in no ring: name it in one, or end the rings with one of "
                        "tenants: ['*']; nothing was applied",
                    )
                )
            else:
                assigned[tenant] = ring.name
        if problems:
            raise SpecError(problems)
        return assigned


def rollout_file_for(tenant_files: Sequence[str]) -> Path | None:
    """The ``_rollout.yaml`` beside the tenant files, if there is one. Raises SpecError when the files come
    from several folders and one of them has a rollout: one run follows one rollout."""
    folders = sorted({str(Path(f).parent) for f in tenant_files})
    found = [Path(folder) / ROLLOUT_FILE for folder in folders if (Path(folder) / ROLLOUT_FILE).is_file()]
    if not found:
        return None
    if len(folders) > 1:
        raise SpecError(
            [
                Problem(
                    str(found[0]),
                    1,
                    1,
                    "",
                    f"the tenant files come from {len(folders)} folders ({', '.join(folders)}) and this one has a "
                    "rollout: apply one folder at a time so one rollout decides the rings",
                )
            ]
        )
    return found[0]


def read_rollout(path: Path) -> Rollout:
    """Read and check a rollout file. Raises SpecError with every problem, located."""
    shown = str(path)
    read = read_yaml_file(path, shown)
    if read.value is None:
        raise SpecError(read.problems)
    problems = list(read.problems)
    document, positions = read.value, read.positions
    for key in document:
        if key not in _TOP_KEYS:
            problems.append(positions.problem((key,), f"unknown key{did_you_mean(key, _TOP_KEYS, known='keys')}"))
    pause = _duration(document.get("pause", "0s"), ("pause",), positions, problems)
    default_max = _count(document.get("max_failures", 0), ("max_failures",), positions, problems)
    rings: list[Ring] = []
    raw_rings = document.get("rings")
    if not isinstance(raw_rings, list) or not raw_rings:
        problems.append(positions.problem(("rings",), "expected a list of rings, each with a name and tenants"))
        raw_rings = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rings):
        ring = _ring(raw, ("rings", index), default_max, positions, problems)
        if ring is None:
            continue
        if ring.name in seen:
            problems.append(
                positions.problem(("rings", index, "name"), f"ring {ring.name} is also rings[{seen[ring.name]}]")
            )
            continue
        seen[ring.name] = index
        rings.append(ring)
    if problems:
        raise SpecError(problems)
    return Rollout(shown, tuple(rings), pause, positions)


def _ring(
    raw: Any, path: tuple[str | int, ...], default_max: int, positions: Positions, problems: list[Problem]
) -> Ring | None:
    if not isinstance(raw, Mapping):
        problems.append(positions.problem(path, "expected a ring: a mapping with name and tenants"))
        return None
    for key in raw:
        if key not in _RING_KEYS:
            problems.append(
                positions.problem((*path, key), f"unknown key{did_you_mean(str(key), _RING_KEYS, known='keys')}")
            )
    name = raw.get("name")
    if not isinstance(name, str) or not _RING_NAME.fullmatch(name):
        problems.append(
            positions.problem((*path, "name"), "expected a ring name: lower-case letters, digits and '-', e.g. canary")
        )
        name = None
    patterns: list[str] = []
    tenants = raw.get("tenants")
    if not isinstance(tenants, list) or not tenants:
        problems.append(
            positions.problem((*path, "tenants"), "expected a list of tenant names (file stems) or globs, e.g. ['f*']")
        )
    else:
        for i, pattern in enumerate(tenants):
            if isinstance(pattern, str) and _PATTERN.fullmatch(pattern):
                patterns.append(pattern)
            else:
                problems.append(
                    positions.problem(
                        (*path, "tenants", i),
                        "expected a tenant name (file stem) or a glob of letters, digits, '.', '_', '-', '*', '?', "
                        "'[', ']' and '!'",
                    )
                )
    max_failures = _count(raw.get("max_failures", default_max), (*path, "max_failures"), positions, problems)
    if name is None or len(patterns) != len(tenants or ()):
        return None
    return Ring(name, tuple(patterns), max_failures)


def _count(value: Any, path: tuple[str | int, ...], positions: Positions, problems: list[Problem]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(positions.problem(path, "expected a whole number of failed tenants, 0 or more"))
        return 0
    return value


def _duration(value: Any, path: tuple[str | int, ...], positions: Positions, problems: list[Problem]) -> int:
    """``90s``, ``10m``, ``1h``; a bare whole number is seconds."""
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = value
    elif isinstance(value, str):
        matched = _DURATION.fullmatch(value.strip())
        if matched:
            seconds = int(matched[1]) * _UNIT_SECONDS[matched[2]]
    if seconds is None or seconds > MAX_PAUSE_SECONDS:
        problems.append(positions.problem(path, "expected a pause such as 30s, 10m or 1h (at most 24h)"))
        return 0
    return seconds
