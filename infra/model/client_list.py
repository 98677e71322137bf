"""A list of clients from elsewhere (a PSA export, a spreadsheet), for ``init --from clients.csv``.

CSV with a header row naming its columns: ``name`` (the tenant's short name: its file stem and stack name),
and ``domain`` or ``tenant_id`` or both. Every problem is located (``clients.csv:3:2: domain: ...``) and all
are reported at once, before anything is looked up or written. The file is read as every input is (a regular
file, size-capped, UTF-8 with or without a byte-order mark).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from taxcalc_consent.infra.model.errors import Problem, SpecError, secret_in
from taxcalc_consent.infra.model.files import Unreadable, read_regular_file
from taxcalc_consent.infra.model.guid import guid_problem
from taxcalc_consent.infra.model.spec import domain_problem
from taxcalc_consent.infra.model.tenant_files import tenant_name_problem

MAX_BYTES = 1 << 20
COLUMNS = ("name", "domain", "tenant_id")


@dataclass(frozen=True)
class ClientRow:
    line: int
    name: str
    domain: str | None
    tenant_id: str | None


def read_client_list(path: Path) -> list[ClientRow]:
    """The rows of ``path``; raises SpecError with every problem, located."""
    shown = str(path)
    try:
        raw = read_regular_file(path, MAX_BYTES, expected="a CSV file")
    except Unreadable as exc:
        raise SpecError([Problem(shown, 1, 1, "", str(exc))]) from None
    if len(raw) > MAX_BYTES:
        raise SpecError([Problem(shown, 1, 1, "", f"larger than {MAX_BYTES} bytes: not a client list")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [Problem(shown, 1, 1, "", f"not UTF-8 text (byte {exc.start}): save it as CSV UTF-8")]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    header = next(reader, None)
    columns = [c.strip().lower() for c in header or []]
    if "name" not in columns or not ({"domain", "tenant_id"} & set(columns)):
        raise SpecError(
            [Problem(shown, 1, 1, "", "expected a header row naming the columns name, and domain or tenant_id")]
        )
    unknown = [c for c in columns if c not in COLUMNS]
    for column in unknown:
        problems.append(Problem(shown, 1, columns.index(column) + 1, column, "unknown column: name, domain, tenant_id"))
    rows: list[ClientRow] = []
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        values = {column: (cells[i].strip() if i < len(cells) else "") for i, column in enumerate(columns)}

        def problem(column: str, message: str, line: int = line) -> None:
            col = columns.index(column) + 1 if column in columns else 1
            problems.append(Problem(shown, line, col, column, message))

        for column, value in values.items():
            kind = secret_in(value) if value else None
            if kind is not None:
                problem(column, f"this looks like {kind}: a client list holds no secret; rotate it")
        name, domain, tenant_id = values.get("name", ""), values.get("domain", ""), values.get("tenant_id", "")
        name_problem = tenant_name_problem(name, fix="choose another name, e.g. {}") if name else "expected a name"
        if name_problem is not None:
            problem("name", name_problem)
        elif name.lower() in seen:
            problem("name", f"the same name as line {seen[name.lower()]} (stack names ignore case)")
        else:
            seen[name.lower()] = line
        if not domain and not tenant_id:
            problem("domain", "expected a domain or a tenant_id")
        bad_domain = domain_problem(domain) if domain else None
        if bad_domain is not None:
            problem("domain", bad_domain)
        id_problem = guid_problem(tenant_id, "tenant id") if tenant_id else None
        if id_problem is not None:
            problem("tenant_id", id_problem)
        rows.append(ClientRow(line, name, domain.lower() or None, tenant_id.lower() or None))
    if not rows and not problems:
        problems.append(Problem(shown, 2, 1, "", "no clients: one row per client after the header"))
    if problems:
        raise SpecError(problems)
    return rows
