"""The run@1 report as the run goes, and the report of an earlier run that ``apply --resume`` goes on from.

The report is rewritten (atomically: a reader sees the old file or the new one) when the run starts, each
time a tenant finishes a step, at the end of each ring, and when the run ends with ``complete: true``. So a
run killed midway (a cancelled CI job, a lost runner) leaves a report that says which tenants were applied;
``apply --resume`` reads it and skips them. A tenant whose update finished in the instant between the
engine's exit and the next write is shown unfinished; resuming previews it again and finds nothing to do.

No rich, no typer: data in, data out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.infra.model.document_json import to_json
from taxcalc_consent.infra.model.documents import RUN_FORMAT, RunDocument
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.files import TargetRefused, write_atomically

DONE_RESULTS = frozenset({"applied", "no-changes", "skipped"})
"""Results after which an apply has nothing left to do for a tenant: what --resume skips."""


class ResumeError(TaxcalcConsentError):
    """The report given to --resume cannot be gone on from: nothing was run."""

    exit_code = ExitCode.INVALID


class ReportWriteError(TaxcalcConsentError):
    """The report could not be written while the run went on (exit 1)."""

    exit_code = ExitCode.FAILED


class ReportWriter:
    """Writes the document ``build`` returns to ``path`` whenever asked, one write at a time.

    ``build`` is called under the writer's lock, so callers that change what it reads (a tenant settling)
    do so inside :meth:`recording`, and every write sees each tenant whole.
    """

    def __init__(self, path: Path | None, build: Callable[[], RunDocument]) -> None:
        self.path = path
        self._build = build
        self._lock = threading.RLock()
        self.failure: str | None = None

    def recording(self) -> threading.RLock:
        """Hold this while changing a tenant's result, then call :meth:`write` (still holding it or not)."""
        return self._lock

    def write(self) -> None:
        if self.path is None:
            return
        with self._lock:
            text = to_json(self._build())
            try:
                # The one writer's rules (infra/model/files.py): whole or not at all, never over what this run read.
                write_atomically(self.path, text, inputs_protected=True)
            except TargetRefused as exc:
                self.failure = f"--out {self.path}: {exc}"
            except OSError as exc:
                # The run goes on (stopping it midway would be worse); the final write reports the failure.
                self.failure = f"cannot write {self.path}: {exc.strerror or exc}"


@dataclass(frozen=True)
class PreviousRun:
    """What ``apply --resume`` needs of an earlier run's report."""

    path: str
    started_at: str
    backend: str
    complete: bool
    results: Mapping[str, str | None]
    """Tenant -> its result in that run (None: not finished)."""

    def done(self, tenant: str) -> bool:
        return self.results.get(tenant) in DONE_RESULTS


def read_previous_run(path: Path) -> PreviousRun:
    """Read the report of an apply to go on from. Raises ResumeError (exit 2) saying what is wrong with it."""
    from taxcalc_consent.cli.fleet.review import read_document

    document = read_document(
        path, "--resume", RUN_FORMAT, RunDocument, "the report an apply wrote with --out", ResumeError
    )
    if document["operation"] != "apply":
        raise ResumeError(f"--resume {path}: a report of {document['operation']}, not of apply: nothing to go on from")
    return PreviousRun(
        path=str(path),
        started_at=document["started_at"],
        backend=document["backend"],
        complete=document["complete"],
        results={t["tenant"]: t["result"] for t in document["tenants"]},
    )
