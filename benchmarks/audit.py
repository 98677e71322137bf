"""Benchmark: ``audit`` over many tenants against the Graph emulator, beside the floor its round trips set.

Run: python benchmarks/audit.py [--tenants 100] [--parallel 8] [--page-size 100] [--latency 40] [--repeat 3]

Everything runs as whole processes on this machine, the emulator in its own process:
- the emulator (tests/fakes/graph_emulator.py, Graph's page size set by --page-size) serves one client
  tenant as an MSP finds it: 200 users, a "TaxCalc Mailboxes" group of 120 direct members and a nested
  group of 10, 155 per-user grants (some short of scopes, five for users the file does not list),
  assignment required with the group and ten users assigned. Every tenant file of the fleet names
  its own tenant id; the emulator answers all of them from that one tenant (Graph knows the tenant from
  the token, not the URL), so every tenant costs the same requests.
- the floor: a minimal client that sends exactly the requests ``audit`` sends for one tenant (recorded
  from the tool's own reads of one tenant) for every tenant, ``--parallel`` tenants at once over one
  shared httpx client, and parses each answer as JSON. Nothing else: no tenant files, no comparison,
  no document, no start-up beyond Python and httpx. It runs two ways, and the faster is the floor: in
  the tool's sequential round trips (requests that were in flight together are sent at once), and
  one request after another (cheaper when the emulator's CPU, not waiting, is what limits).
- ``taxcalc-consent audit DIR --json --parallel N`` as a user runs it.
Both are run alternately ``--repeat`` times; medians. Target: the audit within 2x of the floor at
``--parallel 8``. Also checked: the document at --parallel 8 is byte-identical to --parallel 1's.

In-process (no HTTP): the pure per-tenant work, ``audit_tenant`` on a snapshot read from the emulator,
per user at 250 and at 2,000 users (the grants and members grow with the users). Target: linear, the
cost per user at 2,000 within 1.5x of the cost at 250.

Prints each figure and ratio, and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # tests.fakes: the emulator and its tenant

TARGET = 2.0
LINEAR_TARGET = 1.5
TOOL = [sys.executable, "-m", "taxcalc_consent.cli"]
TOKEN = "benchmark-token"
from tests.fakes.ids import HUB_CLIENT_ID as CLIENT_ID  # noqa: E402  (after the path above)

FULL_SCOPE = "openid profile email offline_access User.Read Mail.Send"
RECORDING = "/__benchmark/requests"
"""Served by the benchmark's emulator process: the requests received since last asked, then forgotten."""


# ------------------------------------------------------------------------------------- the tenant


def build_tenant(users: int) -> Any:
    """One client tenant as an MSP finds it, scaled by ``users`` (200 in the fleet run)."""
    from tests.fakes import entra
    from tests.fakes.entra import FakeTenant

    tenant = FakeTenant(str(uuid.UUID(int=1)))
    people = [tenant.add_user(f"user{i:04d}@client.example.com", f"User {i}") for i in range(users)]
    members, nested_members = people[: users * 6 // 10], people[users * 6 // 10 : users * 13 // 20]
    partners = tenant.add_group("Partners", [u.id for u in nested_members])
    mailboxes = tenant.add_group("TaxCalc Mailboxes", [*(u.id for u in members), partners.id])
    sp = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub", app_role_assignment_required=True)
    consented = people[: users * 3 // 4] + people[users * 19 // 20 : users * 19 // 20 + 5]
    for index, user in enumerate(consented):
        scope = "openid profile User.Read" if index % 7 == 0 else FULL_SCOPE
        tenant.create_grant(sp.id, "Principal", user.id, tenant.graph.id, scope)
    tenant.create_app_role_assignment(mailboxes.id, sp.id, entra.DEFAULT_ROLE_ID)
    for user in people[users * 13 // 20 : users * 13 // 20 + 10]:
        tenant.create_app_role_assignment(user.id, sp.id, entra.DEFAULT_ROLE_ID)
    tenant.authorization_policy.permission_grant_policies_assigned = [
        "ManagePermissionGrantsForOwnedResource.DeveloperConsent"
    ]
    tenant.admin_consent_workflow_enabled = True
    return tenant


def tenant_file(index: int, users: int) -> str:
    """The file for the tenant above: 30 mailboxes by UPN and the group; access for the group and ten users."""
    listed = "".join(f"    - user{i:04d}@client.example.com\n" for i in range(users * 13 // 20, users * 13 // 20 + 30))
    access = "".join(f"    - user{i:04d}@client.example.com\n" for i in range(users * 13 // 20, users * 13 // 20 + 10))
    return (
        f"tenant:\n  id: {uuid.UUID(int=index + 1)}\n  name: Client {index}\n"
        f"consent:\n  mode: users\n  users:\n{listed}  groups:\n    - TaxCalc Mailboxes\n"
        f"access:\n  assignment_required: true\n  users:\n{access}  groups:\n    - TaxCalc Mailboxes\n"
    )


def write_fleet(folder: Path, tenants: int, users: int) -> None:
    (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    for index in range(tenants):
        (folder / f"client{index:04d}.yaml").write_text(tenant_file(index, users), encoding="utf-8")


# ----------------------------------------------------------------------------- emulator process


def serve_forever(page_size: int, users: int, latency_ms: float) -> None:
    """The emulator process: prints its base URL and serves until stdin closes.

    The emulator answers as fast as it can (it turns Nagle's algorithm off); ``latency_ms`` holds every
    answer that long first, as a round trip to a distant Graph does (tens of milliseconds): the
    waiting-bound case. With 0 a round trip costs only the emulator's own work, and the run shows the
    tool's CPU instead of its waiting (both processes share the same cores).
    """
    import time

    from tests.fakes import graph_emulator

    # (The emulator listens with a backlog of 128, not socketserver's 5: tens of connections open at once.)
    if latency_ms > 0:
        make_handler = graph_emulator._handler

        def handler(emulator: Any) -> Any:
            handler_class = make_handler(emulator)
            serve = handler_class._serve

            def late(self: Any) -> None:
                time.sleep(latency_ms / 1000)
                serve(self)

            handler_class.do_GET = handler_class.do_POST = late  # the audit reads with GET and $batch POSTs
            return handler_class

        graph_emulator._handler = handler
    with graph_emulator.serve(build_tenant(users), page_size=page_size) as emulator:
        print(emulator.base_url, flush=True)
        sys.stdin.read()


@contextmanager
def emulator_process(page_size: int, users: int, latency_ms: float) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--page-size",
            str(page_size),
            "--users",
            str(users),
            "--latency",
            str(latency_ms),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def round_trips(base_url: str, folder: Path) -> list[list[dict[str, Any]]]:
    """The requests the tool sends for the one tenant in ``folder``, in its sequential round trips.

    Recorded in this process from the tool's own code (cli.fleet.graph_reads.per_tenant, as audit calls it),
    each request with when it left and when its answer was in. Requests in flight at the same time
    belong to one round trip (a later round trip starts only once an answer it needs is in).
    """
    import httpx

    from taxcalc_consent.cli.fleet.graph_reads import per_tenant
    from taxcalc_consent.cli.fleet.pipeline import load_plans
    from taxcalc_consent.cli.ui.options import CloudName
    from taxcalc_consent.infra.graph.audit import audit_tenant

    sent: list[tuple[float, float, dict[str, Any]]] = []
    lock = threading.Lock()
    real = httpx.HTTPTransport.handle_request

    def recording(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = real(transport, request)
        response.read()
        entry = {
            "method": request.method,
            "url": str(request.url.raw_path, "ascii"),
            "body": request.content.decode(),
            "headers": {k: v for k, v in request.headers.items() if k.lower() == "consistencylevel"},
        }
        with lock:
            sent.append((started, time.perf_counter(), entry))
        return response

    os.environ["TAXCALC_CONSENT_GRAPH_TOKEN"] = TOKEN
    setattr(httpx.HTTPTransport, "handle_request", recording)  # noqa: B010 (a method, replaced for the recording)
    try:
        per_tenant(load_plans([folder], notify=print), CloudName.public, base_url, 1, audit_tenant)
    finally:
        setattr(httpx.HTTPTransport, "handle_request", real)  # noqa: B010
    levels: list[list[dict[str, Any]]] = []
    answered = 0.0
    for started, ended, entry in sorted(sent, key=lambda item: item[0]):
        if levels and started < answered:  # left while another request of the round trip was in flight
            levels[-1].append(entry)
            answered = max(answered, ended)
        else:
            levels.append([entry])
            answered = ended
    return levels


# ------------------------------------------------------------------------------------ the floor


def replay(base_url: str, recording: Path, tenants: int, parallel: int) -> None:
    """The floor process: one tenant's round trips, sent for every tenant; answers parsed as JSON."""
    import httpx

    levels = json.loads(recording.read_text(encoding="utf-8"))
    widest = max(len(level) for level in levels)
    limits = httpx.Limits(max_connections=parallel * widest, max_keepalive_connections=parallel * widest)
    with (
        httpx.Client(base_url=base_url, limits=limits, timeout=60) as client,
        ThreadPoolExecutor(max_workers=parallel * widest) as requests_pool,
    ):

        def send(request: dict[str, Any]) -> None:
            headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json", **request["headers"]}
            if request["body"]:
                headers["Content-Type"] = "application/json"
            response = client.request(
                request["method"], request["url"], headers=headers, content=request["body"] or None
            )
            response.raise_for_status()
            response.json()

        def one_tenant(_: int) -> None:
            for level in levels:
                if len(level) == 1:
                    send(level[0])
                else:
                    list(requests_pool.map(send, level))

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(one_tenant, range(tenants)))


# ------------------------------------------------------------------------------------- measuring


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, bytes]:
    started = time.perf_counter()
    completed = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {completed.returncode}: {completed.stderr.decode()[-2000:]}")
    return elapsed, completed.stdout


def verdict(ratio: float, target: float = TARGET) -> str:
    return f"{ratio:5.2f}x (target <= {target:.1f}x) {'ok' if ratio <= target else 'OVER TARGET'}"


def fleet(args: argparse.Namespace) -> int:
    missed = 0
    env = {**os.environ, "TAXCALC_CONSENT_GRAPH_TOKEN": TOKEN}
    with tempfile.TemporaryDirectory() as tmp, emulator_process(args.page_size, args.users, args.latency) as base_url:
        folder, single = Path(tmp) / "tenants", Path(tmp) / "one"
        folder.mkdir()
        single.mkdir()
        write_fleet(folder, args.tenants, args.users)
        write_fleet(single, 1, args.users)
        audit = [*TOOL, "audit", "--json", "--graph-endpoint", base_url]

        levels = round_trips(base_url, single)
        recording = Path(tmp) / "requests.json"
        recording.write_text(json.dumps(levels), encoding="utf-8")
        requests = [request for level in levels for request in level]
        pages = sum(1 for r in requests if "skiptoken" in r["url"])
        batches = sum(1 for r in requests if r["url"].endswith("/$batch"))
        print(
            f"\none tenant: {len(requests)} requests ({batches} $batch, {pages} later pages) "
            f"in {len(levels)} sequential round trips ({', '.join(str(len(level)) for level in levels)} at once)"
        )

        _, sequential = timed([*audit, "--parallel", "1", str(folder)], env, ok=(0, 3))
        _, parallel = timed([*audit, "--parallel", str(args.parallel), str(folder)], env, ok=(0, 3))
        same = sequential == parallel
        missed += not same
        print(f"document at --parallel {args.parallel} byte-identical to --parallel 1: {'yes' if same else 'NO'}")

        one_by_one = Path(tmp) / "one-by-one.json"
        one_by_one.write_text(json.dumps([[request] for request in requests]), encoding="utf-8")
        replay_argv = [sys.executable, __file__, "--replay", base_url]
        for parallel_n in sorted({1, args.parallel}):
            contenders = {
                "round trips": [*replay_argv, str(recording), str(args.tenants), str(parallel_n)],
                "one by one": [*replay_argv, str(one_by_one), str(args.tenants), str(parallel_n)],
                "audit": [*audit, "--parallel", str(parallel_n), str(folder)],
            }
            times: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(args.repeat):
                for name, argv in contenders.items():
                    times[name].append(timed(argv, env, ok=(0, 3))[0])
            median = {name: statistics.median(runs) for name, runs in times.items()}
            floor_s = min(median["round trips"], median["one by one"])
            ratio = median["audit"] / floor_s
            print(f"\n{args.tenants} tenants at --parallel {parallel_n} (median of {args.repeat}, wall time)")
            for name, trips in (("round trips", len(levels)), ("one by one", len(requests))):
                latency = median[name] / (args.tenants * trips / parallel_n)
                print(
                    f"  floor, {name + ':':<12} {trips} round trips x {args.tenants} tenants / {parallel_n} at once, "
                    f"{latency * 1000:6.2f} ms each  {median[name]:7.3f} s"
                )
            label = f"audit --parallel {parallel_n}"
            shown = f"vs the faster floor {verdict(ratio)}" if parallel_n == args.parallel else ""
            print(f"  {label:<72}{median['audit']:7.3f} s   {shown}")
            if parallel_n == args.parallel:
                missed += ratio > TARGET
    return missed


def audit_work(users: int) -> Callable[[], object]:
    """``audit_tenant`` for a tenant of ``users`` users, its snapshot read once from the emulator."""
    from taxcalc_consent.cli.fleet.pipeline import load_plans
    from taxcalc_consent.infra.graph.audit import audit_tenant
    from taxcalc_consent.infra.graph.client import GraphClient
    from taxcalc_consent.infra.graph.snapshot import read_tenant
    from tests.fakes import graph_emulator

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
        (folder / "client.yaml").write_text(tenant_file(0, users), encoding="utf-8")
        (plan,) = load_plans([folder], notify=print)
    with (
        graph_emulator.serve(build_tenant(users), page_size=100) as emulator,
        GraphClient(emulator.base_url, lambda: TOKEN) as client,
    ):
        snapshot = read_tenant(client, plan)
    return lambda: audit_tenant(plan, snapshot)


def linearity(repeat: int = 15) -> int:
    """Seconds per directory user of the pure per-tenant work at 250 and 2,000 users: the least disturbed
    of ``repeat`` runs each, the two sizes alternating (other processes share these two cores)."""
    sizes = (250, 2000)
    work = {users: audit_work(users) for users in sizes}
    best = dict.fromkeys(sizes, float("inf"))
    for _ in range(repeat):
        for users in sizes:
            started = time.perf_counter()
            work[users]()
            best[users] = min(best[users], (time.perf_counter() - started) / users)
    small, large = best[250], best[2000]
    ratio = large / small
    print("\nper-tenant work (audit_tenant on a snapshot, per directory user)")
    print(f"  250 users    {small * 1e6:8.1f} us/user")
    print(f"  2,000 users  {large * 1e6:8.1f} us/user   {verdict(ratio, LINEAR_TARGET)}")
    return int(ratio > LINEAR_TARGET)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--users", type=int, default=200, help="users in the emulated tenant")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--latency", type=float, default=40.0, help="milliseconds the emulator holds each answer (0: CPU-bound)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replay", nargs=4, metavar=("URL", "FILE", "TENANTS", "PARALLEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args.page_size, args.users, args.latency)
        return 0
    if args.replay:
        url, file, tenants, parallel = args.replay
        replay(url, Path(file), int(tenants), int(parallel))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    delay = f"{args.latency:g} ms per answer" if args.latency else "no added latency (CPU-bound)"
    print(f"emulator: page size {args.page_size}, {args.users} users per tenant, {delay}")
    missed = fleet(args) + linearity()
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
