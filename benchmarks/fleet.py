"""Benchmark: the fleet commands' own cost beside the engine's, and what grows with the number of tenants.

Run: python benchmarks/fleet.py [--tenants 1 10] [--parallel 1 4 8] [--skip-engine | --only-engine] [--before REV ...]
     python benchmarks/fleet.py --rollout 50 --parallel 8

Without the engine (in this process, on the classes themselves), at 1, 10, 100 and 1,000 tenants:
- redaction: every tenant with its own client secret; each tenant's texts (change descriptions,
  diagnostics, an error) redacted; cost per tenant, and the same with the one-secret-after-another
  replacement the tool used before. Target: the cost per tenant at 1,000 within 2x of the cost at 1.
- the live progress display: the cost of one frame with 8 tenants running, times the frames a tenant
  lives through (4 a second over its engine time, shared by the tenants running at once); and the same
  for the table of every tenant the tool drew before. Target: per tenant at 1,000 within 2x of at 1.

With the real engine (``pulumi`` on PATH, else the cached build engine/build.sh makes; the test
azuread provider installed into a private PULUMI_HOME; the emulated cloud of tests/fakes/entra_cloud.py
holding the tenants), whole ``taxcalc-consent`` processes as a user runs them:
- ``plan``, ``apply --yes`` and ``plan`` again over N tenants at ``--parallel P``: wall time per tenant; the
  tool's CPU (its process, every thread), from getrusage in a small runner around the CLI, and of it the
  program's, which runs inline in the tool's process: the runner times, per thread (thread_time), the SDK's
  LanguageServer.Run the tool's InlineProgram serves and each call of the event loop's default executor (the
  resource monitor's calls). The program is engine work wherever it runs (before the inline program, it ran in
  the engine's Python): it is counted as the engine's ("program (inline)"), and the rest of the tool's CPU is its
  driver's. Beside them each engine process's own: the Pulumi CLI, the language host, a program run in its own
  process (revisions before the inline program), the pip checks a language host runs, the policy pack, the
  azuread provider, the dynamic provider plugin. Each is counted by a shim (first on PATH for the CLI and the
  plugins, PULUMI_PYTHON_CMD for the engine's Python) that runs it as its child and logs its wait4 usage, less
  the processes below it that have shims of their own; a subreaper around the tool reaps the plugins the engine
  kills. Target: the tool's driver CPU for each tenant under 5% of the engine's (the inline program in it),
  measured between the smallest and the largest fleet (the fixed start-up, imports of the tool and of gRPC and
  Pulumi for the inline program's server, is paid once per run, not per tenant; a one-tenant run shows it whole).
  The old figure, the tool's whole CPU over the engine's processes alone, is printed beside it.
- ``--before REV ...``: the same runs of older revisions' tool (temporary git worktrees, imported first
  through PYTHONPATH), each in an identical cloud of its own, before this tree's. Target: ``plan``'s engine CPU
  per tenant on stacks that exist at most 3/4 of the first revision's (the issue's: it falls by a quarter).
- engine launches per tenant, counted by a ``pulumi`` shim first on PATH (the ones naming the stack), on
  stacks that exist: ``apply`` (after the first ``plan`` made the stacks) and a second ``plan``. Target 2
  (the issue's): ``apply`` runs the preview and the update, the second ``plan`` the preview alone. The
  first ``plan`` on a new stack shows 2 too, the preview that finds no stack and the one after ``stack
  init``, which names the stack without ``--stack`` and is not counted.
- ``--rollout N``: a reviewed plan applied ring by ring: ``plan --out reviewed.json`` then ``apply --plan
  reviewed.json`` over N tenants in three rings of ``_rollout.yaml`` (one canary, nine, the rest), wall time
  in all and per ring, CPU as above, launches per tenant. Targets: every tenant applied as reviewed, every
  ring passed, the tool's driver CPU under 5% of the engine's (the inline program in it), and 3 launches per
  tenant for ``apply --plan`` (the preview, ``stack history`` for the comparison with the review, the update).
Prints each figure and ratio, and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # tests.fakes: the emulated cloud and the test provider

SIZES = (1, 10, 100, 1000)
LINEAR_TARGET = 2.0
TOOL_SHARE_TARGET = 0.05
LAUNCH_TARGET = 2
RUNNING = 8
ENGINE_SECONDS_PER_TENANT = 5.0
"""For the display's cost per tenant without the engine: a preview's engine time on this machine (measured
below when the engine runs: 5-10 s per tenant with the Python test provider)."""
from tests.fakes.ids import HUB_CLIENT_ID as CLIENT_ID  # noqa: E402  (after the path above)


def verdict(ratio: float, target: float, lower_is_better: bool = True) -> str:
    ok = ratio <= target if lower_is_better else ratio >= target
    return f"{ratio:6.3f} (target <= {target:g}) {'ok' if ok else 'OVER TARGET'}"


# ------------------------------------------------------------------------------------- redaction


def tenant_texts(index: int, secret: str) -> list[str]:
    """What one tenant's run sends through redaction: change descriptions, warnings, and an error that
    (as a careless provider might) echoes the secret."""
    upn = f"mailbox{index}@client{index}.example.com"
    return [
        "grant every user (AllPrincipals, tenant-wide admin consent): Mail.Send User.Read email offline_access",
        f"grant user {upn} (Principal): Mail.Send User.Read email offline_access openid profile",
        f"assign user {upn} to TaxCalc-Hub",
        "create TaxCalc-Hub's service principal (enterprise application), or adopt the existing one",
        f"policy graph-scopes-allowed (advisory): Mail.Send is high impact for tenant client{index}",
        f"AADSTS7000215: Invalid client secret provided for app {uuid.UUID(int=index)}: {secret} was sent",
    ]


def replace_one_by_one(values: Sequence[str]) -> Callable[[str], str]:
    """The redaction before: every secret looked for in every string, longest first."""
    ordered = sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)

    def redact(text: str) -> str:
        for value in ordered:
            text = text.replace(value, "[secret]")
        return text

    return redact


def redaction_cost(tenants: int, make: Callable[[Sequence[str]], Callable[[str], str]]) -> float:
    """Seconds per tenant to build the redactor and redact every tenant's texts (least disturbed of 3)."""
    values = [secrets.token_urlsafe(30) for _ in range(tenants)]
    texts = [text for index, value in enumerate(values) for text in tenant_texts(index, value)]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        redact = make(values)
        for text in texts:
            redact(text)
        best = min(best, time.perf_counter() - started)
    return best / tenants


def redaction() -> int:
    from taxcalc_consent.cli.fleet.engine_setup import Redactor

    print("\nredaction, per tenant (a client secret each; 6 texts per tenant)")
    now = {n: redaction_cost(n, Redactor) for n in SIZES}
    before = {n: redaction_cost(n, replace_one_by_one) for n in SIZES}
    for n in SIZES:
        print(f"  {n:>5} tenants   now {now[n] * 1e6:9.1f} us   before {before[n] * 1e6:9.1f} us")
    # Up to 128 secrets each is looked for with str.find (C speed, cheaper still); beyond, one pass over each
    # text whatever the number of secrets. Linear: the cost per tenant stops growing once past that.
    ratio = now[SIZES[-1]] / now[SIZES[-2]]
    print(f"  per tenant at {SIZES[-1]} / at {SIZES[-2]}: now {verdict(ratio, LINEAR_TARGET)}")
    print(
        f"  (before: {before[SIZES[-1]] / before[SIZES[-2]]:.1f}; at {SIZES[-1]} / at {SIZES[0]}: "
        f"now {now[SIZES[-1]] / now[SIZES[0]]:.1f}, before {before[SIZES[-1]] / before[SIZES[0]]:.1f})"
    )
    return int(ratio > LINEAR_TARGET)


# -------------------------------------------------------------------------------------- progress


def fleet_runs(tenants: int) -> list[Any]:
    from taxcalc_consent.cli.fleet import fleet
    from taxcalc_consent.cli.fleet.events import ResourceChange
    from taxcalc_consent.infra.model.plan import AppPlan, ConsentPlan, ServicePrincipalPlan

    plan = ConsentPlan(
        tenant="client",
        file="client.yaml",
        tenant_id=str(uuid.UUID(int=1)),
        app=AppPlan("taxcalc-hub", "TaxCalc-Hub", CLIENT_ID, False),
        service_principal=ServicePrincipalPlan(False),
        grants=(),
        group_grants=(),
        app_role_assignments=(),
        assignments=(),
    )
    runs = [fleet.TenantRun(replace(plan, tenant=f"client{i:04d}")) for i in range(tenants)]
    for run in runs:
        run.changes = [ResourceChange("create", "grant", f"g{i}", "grant") for i in range(3)]
    return runs


def table_of_every_tenant(runs: Sequence[Any]) -> Any:
    """The display before: a row for every tenant, redrawn whole."""
    from taxcalc_consent.cli.ui import fleet_display

    table = fleet_display.tenants_table(runs, "state", lambda run: run.state, lambda run: run.elapsed())
    table.show_edge = table.pad_edge = False
    return table


def frame_cost(render: Callable[[], Any]) -> float:
    """Seconds to draw one frame on a 120-column terminal, as rich.live does on each refresh."""
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120, height=50)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        console.print(render())
        best = min(best, time.perf_counter() - started)
    return best


def progress() -> int:
    from taxcalc_consent.cli.ui import fleet_display

    rate = fleet_display.Progress.REFRESH_PER_SECOND
    print(
        f"\nlive progress display, per tenant (up to {RUNNING} running, {ENGINE_SECONDS_PER_TENANT:g} s of engine "
        f"each, {rate} frames a second shared by the tenants running)"
    )
    now: dict[int, float] = {}
    for n in SIZES:
        runs = fleet_runs(n)
        running = min(RUNNING, n)
        frames_per_tenant = rate * ENGINE_SECONDS_PER_TENANT / running
        display = fleet_display.Progress(runs, live=True)  # never entered: frames are drawn here, not by rich.live
        started = time.perf_counter()
        for run in runs:  # every tenant starts and finishes once: the bookkeeping the display keeps
            display.started(run)
        for run in runs[running:]:
            run.state = "no changes"
            display.finished(run)
        bookkeeping = (time.perf_counter() - started) / n
        now[n] = frame_cost(display.renderable) * frames_per_tenant + bookkeeping
        before = frame_cost(lambda runs=runs: table_of_every_tenant(runs)) * frames_per_tenant
        print(f"  {n:>5} tenants   now {now[n] * 1e3:8.3f} ms   before {before * 1e3:9.3f} ms")
    ratio = now[SIZES[-1]] / now[SIZES[0]]
    print(f"  per tenant at {SIZES[-1]} / at {SIZES[0]}: now {verdict(ratio, LINEAR_TARGET)}")
    return int(ratio > LINEAR_TARGET)


# ---------------------------------------------------------------------------------------- engine


RUNNER = """
import json, os, resource, sys, threading, time
# The engine's Python (PULUMI_PYTHON_CMD, which the tool sets to its own interpreter) is the accounting shim.
sys.executable = os.environ.get("BENCHMARK_PYTHON_SHIM", sys.executable)
# The program runs inline (cli/fleet/automation.py, InlineProgram): the SDK's LanguageServer.Run runs it on a gRPC
# worker thread, in an event loop whose default executor (threads of its own) sends the resource monitor's calls.
# Their CPU is the program's, engine work wherever it runs: counted apart, each thread's CPU time (thread_time)
# around Run and around each call the executor runs. Revisions without InlineProgram count none.
program = [0.0]
lock = threading.Lock()
def timed(call):
    def run(*args, **kwargs):
        started = time.thread_time()
        try:
            return call(*args, **kwargs)
        finally:
            spent = time.thread_time() - started
            with lock:
                program[0] += spent
    return run
def patch_server():  # on the first InlineProgram, when the tool imports the SDK's server: no import before
    from concurrent.futures import ThreadPoolExecutor
    from pulumi.automation import _server
    class TimedExecutor(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            return super().submit(timed(fn), *args, **kwargs)
    _server.ThreadPoolExecutor = TimedExecutor
    _server.LanguageServer.Run = timed(_server.LanguageServer.Run)
try:
    from taxcalc_consent.cli.fleet.automation import InlineProgram
except ImportError:
    pass
else:
    enter, patched = InlineProgram.__enter__, []
    def patched_enter(self):
        with lock:
            if not patched:
                patch_server()
                patched.append(True)
        return enter(self)
    InlineProgram.__enter__ = patched_enter
from taxcalc_consent.cli.main import run
code = 0
try:
    run()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
own = resource.getrusage(resource.RUSAGE_SELF)
engine = resource.getrusage(resource.RUSAGE_CHILDREN)
if os.environ.get("BENCHMARK_THREADS"):  # every thread still alive: its name and CPU (clock ticks), to look into
    with open(os.environ["BENCHMARK_THREADS"], "a") as out:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)
            name, rest = fields[0].split("(", 1)[1], fields[1].split()
            out.write(f"{tid} {name!r} {int(rest[11]) + int(rest[12])}\\n")
        out.write(f"total {own.ru_utime + own.ru_stime:.2f} program {program[0]:.2f}\\n")
with open(sys.argv[0] + ".usage", "w") as out:
    usage = {"tool": own.ru_utime + own.ru_stime, "program": program[0], "code": code}
    json.dump({**usage, "engine": engine.ru_utime + engine.ru_stime}, out)
"""

REAPER = """
# Runs the tool (argv) as its child, and is the subreaper of every process below it: a process whose parent dies
# first (a plugin whose shim the engine killed) is reaped here, its CPU written to the log by process id.
import ctypes, json, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = os.posix_spawn(sys.executable, [sys.executable, *sys.argv[1:]], os.environ)
code, orphans = 1, []
while True:
    try:
        pid, status, usage = os.wait4(-1, 0)
    except ChildProcessError:
        break
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
    else:
        orphans.append(json.dumps({"orphan": pid, "cpu": usage.ru_utime + usage.ru_stime}))
with open(os.environ["BENCHMARK_PROCESS_LOG"], "a", encoding="utf-8") as out:
    out.writelines(line + "\\n" for line in orphans)
sys.exit(code)
"""

SHIM = """#!{python} -SI
# Benchmark shim for {name}: runs the real one as its child, waits for it and appends one JSON line to the log: its
# arguments, its CPU (getrusage from wait4: it and every process below it that was waited for), this shim's own CPU
# and the shim it runs under (through the environment), so that each process's own share can be told apart. A line
# at the start names the child's process id: should the engine kill this shim first, the child dies with it
# (PR_SET_PDEATHSIG) and the benchmark's subreaper reaps it and writes its CPU by that id.
import ctypes, json, os, resource, signal, sys, time
real, log = {real!r}, {log!r}
parent = os.environ.get("BENCHMARK_SHIM_PARENT", "")
os.environ["BENCHMARK_SHIM_PARENT"] = str(os.getpid())
started = time.time()
child = os.fork()
if child == 0:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    os.execv(real, [real, *sys.argv[1:]])
with open(log, "a", encoding="utf-8") as out:
    start = {{"start": child, "shim": os.getpid(), "parent": parent, "name": {name!r}, "argv": sys.argv[1:]}}
    out.write(json.dumps(start) + "\\n")
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(number, lambda received, frame: os.kill(child, received))
while True:
    try:
        _, status, usage = os.wait4(child, 0)
        break
    except InterruptedError:
        continue
own = resource.getrusage(resource.RUSAGE_SELF)
record = {{
    "name": {name!r}, "argv": sys.argv[1:], "shim": os.getpid(), "parent": parent,
    "cpu": usage.ru_utime + usage.ru_stime, "own": own.ru_utime + own.ru_stime, "wall": time.time() - started,
}}
with open(log, "a", encoding="utf-8") as out:
    out.write(json.dumps(record) + "\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""

ROLES = (
    "Pulumi CLI",
    "language host",
    "program",
    "program (inline)",
    "policy pack",
    "azuread provider",
    "dynamic provider",
    "other",
    "shims",
)
"""The engine's processes, in the order the benchmark prints them: the CLI and the Go language host it starts, the
Python processes (the program in its own process, revisions before the inline program), the program run inline in
the tool's process (engine work wherever it runs: the runner's count, see RUNNER), the policy pack, the test
azuread provider, Pulumi's dynamic provider plugin ``pulumi-resource-pulumi-python`` with the interpreter it
starts), anything else (a ``python --version``), and the accounting shims' own CPU (a measurement cost, not the
engine's)."""


def install_shims(work: Path, bin_dir: Path, azuread: Path, log: Path) -> tuple[Path, Path]:
    """Shims first on PATH for the CLI and every plugin the engine looks up there (it prefers a plugin on PATH
    to its cache and to the ones beside it: pulumi/pulumi pkg/workspace/plugins.go, ambient plugins), and one
    for the engine's Python. Returns (the folder to put first on PATH, the Python shim)."""
    folder = work / "shim"
    folder.mkdir()
    reals = {
        "pulumi": bin_dir / "pulumi",
        "pulumi-language-python": bin_dir / "pulumi-language-python",
        "pulumi-resource-pulumi-python": bin_dir / "pulumi-resource-pulumi-python",
        "pulumi-resource-azuread": azuread,
        # The policy pack's interpreter: `python3` from PATH (Pulumi's Python policy runtime, with no virtualenv).
        "python3": Path(sys.executable).with_name("python3"),
    }
    for name, real in reals.items():
        shim = folder / name
        shim.write_text(SHIM.format(python=sys.executable, name=name, real=str(real), log=str(log)), "utf-8")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    python = work / "python-shim" / "python"
    python.parent.mkdir()
    python.write_text(SHIM.format(python=sys.executable, name="python", real=sys.executable, log=str(log)), "utf-8")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return folder, python


def role(record: dict[str, Any]) -> str:
    """Which engine process a shim's record is."""
    name, argv = record["name"], " ".join(record["argv"])
    if name == "pulumi":
        return "Pulumi CLI"
    if name == "pulumi-language-python":
        return "language host"
    if name == "pulumi-resource-azuread" or "tests.fakes.azuread_provider" in argv:
        return "azuread provider"
    if name == "pulumi-resource-pulumi-python" or "pulumi.dynamic" in argv:
        return "dynamic provider"
    if "pulumi-language-python-exec" in argv:
        return "program"
    if "policy" in argv:
        return "policy pack"
    return "other"


def process_records(log: Path) -> list[dict[str, Any]]:
    """One record per engine process that ran under a shim: those its shim waited for, and those the subreaper
    reaped because the engine killed their shim first (their shim's own CPU then counts in their parent's)."""
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    starts = {line["start"]: line for line in lines if "start" in line}
    records = [line for line in lines if "cpu" in line and "orphan" not in line]
    for line in lines:
        start = starts.get(line.get("orphan"))
        if start is not None:
            records.append({**start, "cpu": line["cpu"], "own": 0.0})
    return records


def cpu_by_process(log: Path) -> dict[str, float]:
    """Each kind of engine process's own CPU (its total less the processes below it that have shims of their own)
    summed over a run, and the shims' own."""
    records = process_records(log)
    below: dict[str, float] = {}
    for record in records:
        if record["parent"]:
            below[record["parent"]] = below.get(record["parent"], 0.0) + record["cpu"] + record["own"]
    totals = dict.fromkeys(ROLES, 0.0)
    for record in records:
        totals[role(record)] += record["cpu"] - below.get(str(record["shim"]), 0.0)
        totals["shims"] += record["own"]
    return totals


def launches_per_stack(log: Path) -> Counter[str]:
    """The CLI's launches that name a stack (``--stack``), per stack."""
    records = process_records(log)
    return Counter(
        record["argv"][record["argv"].index("--stack") + 1]
        for record in records
        if record["name"] == "pulumi" and "--stack" in record["argv"]
    )


def engine_bin() -> Path | None:
    found = shutil.which("pulumi")
    if found:
        return Path(found).parent
    build = ROOT / "engine" / "build.sh"
    done = subprocess.run(["bash", str(build)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    return Path(done.stdout.strip().splitlines()[-1])


def cloud_environment(cloud: Any, root: Path, base_env: dict[str, str], path_first: Sequence[Path]) -> dict[str, str]:
    """The environment a ``taxcalc-consent`` process gets in a benchmark workspace over the emulated cloud."""
    return {
        **os.environ,
        **base_env,
        "PATH": os.pathsep.join([*map(str, path_first), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PULUMI_CONFIG_PASSPHRASE": "benchmark-passphrase",
        "PULUMI_BACKEND_URL": f"file://{root / '.pulumi-state'}",
        "PULUMI_PYTHON_CMD": sys.executable,
        "ARM_METADATA_HOSTNAME": cloud.metadata_host,
        "ARM_CLIENT_ID": cloud.automation.client_id,
        "ARM_CLIENT_SECRET": cloud.automation.client_secret,
        # The cloud is https only; its throwaway CA is trusted through these.
        **cloud.certificates.trust_environment(),
        "TAXCALC_CONSENT_ROOT": str(root),
    }


COMMANDS = (("plan", ["plan"]), ("apply", ["apply", "--yes"]), ("plan (2)", ["plan"]))
"""``plan`` on new stacks, ``apply``, then ``plan`` again on the stacks that now exist."""


def engine(tenant_counts: Sequence[int], parallels: Sequence[int], before: Sequence[str] = ()) -> int:
    """``plan``, ``apply``, ``plan`` again over each fleet size and ``--parallel``; with ``before`` (git revisions),
    the same runs of each revision's tool first, on the same engine, machine and an identical cloud of its own."""
    from tests.fakes.azuread_provider.plugin import install

    bin_dir = engine_bin()
    if bin_dir is None:
        print("\nno Pulumi engine: put one on PATH or run engine/build.sh; engine figures skipped")
        return 1
    missed = 0
    cpu: dict[tuple[str, int], dict[int, tuple[float, float, float, float]]] = {}
    """(command, parallel) -> tenants -> (the tool's driver CPU, the engine's with the inline program, and the old
    figures: the tool's whole CPU, the engine's processes' alone), this tree's."""
    rows: dict[tuple[str, str, int, int], dict[str, float]] = {}
    """(tree, command, tenants, parallel) -> the tool's and each engine process's CPU per tenant."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "pulumi-home"
        base_env = {
            "PULUMI_HOME": str(home),
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }
        version = install(str(bin_dir / "pulumi"), base_env, work)
        azuread = home / "plugins" / f"resource-azuread-v{version}" / "pulumi-resource-azuread"
        log = work / "processes.log"
        shim_dir, python_shim = install_shims(work, bin_dir, azuread, log)
        (work / "runner.py").write_text(RUNNER, encoding="utf-8")
        (work / "reaper.py").write_text(REAPER, encoding="utf-8")
        trees: list[tuple[str, dict[str, str]]] = []
        for n, revision in enumerate(before):
            checkout = work / f"before-{n}"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(checkout), revision],
                check=True,
                capture_output=True,
            )
            # The tool and every engine process of that revision import it first (the editable install's finder
            # comes after PYTHONPATH); the test provider is this tree's, the same for all.
            trees.append((revision, {"PYTHONPATH": str(checkout)}))
        trees.append(("now", {}))
        try:
            print(
                "\nthe real engine (wall time per tenant; CPU: the tool's process (total), the inline program in it, "
                "the tool's driver (the rest), the engine's (every engine process's and the inline program); "
                "driver/engine, and the old tool/engine: the tool's total over the engine's processes)"
            )
            print(
                f"  {'tree':<14}{'command':<9}{'tenants':>8}{'parallel':>9}{'wall/tenant':>13}{'tool CPU':>10}"
                f"{'program':>9}{'driver':>9}{'engine CPU':>11}{'engine/tenant':>14}{'driver/engine':>15}"
                f"{'tool/engine':>13}{'launches/tenant':>17}"
            )
            for count in tenant_counts:
                for parallel in parallels:
                    for tree, tree_env in trees:
                        env = {
                            **tree_env,
                            "BENCHMARK_PYTHON_SHIM": str(python_shim),
                            "BENCHMARK_PROCESS_LOG": str(log),
                        }
                        root = work / f"workspace-{len(rows)}"
                        for label, usage, processes, launches in fleet_runs_in_engine(
                            tree, work, root, count, parallel, env, base_env, shim_dir, log
                        ):
                            rows[(tree, label, count, parallel)] = {
                                "tool total": usage["tool"] / count,
                                "tool driver": usage["driver"] / count,
                                **{k: v / count for k, v in processes.items()},
                            }
                            if tree == "now":
                                cpu.setdefault((label, parallel), {})[count] = (
                                    usage["driver"],
                                    usage["engine"],
                                    usage["tool"],
                                    usage["engine"] - usage["program"],
                                )
                                if label != "plan":  # the first plan made the stacks
                                    missed += launches > LAUNCH_TARGET
        finally:
            for n in range(len(before)):
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / f"before-{n}")],
                    check=False,
                    capture_output=True,
                )
    print(f"  target: launches per tenant on a stack that exists (apply, plan (2)) <= {LAUNCH_TARGET}")
    missed += tool_share_per_tenant(cpu)
    missed += engine_cpu_by_process(rows, trees[0][0] if before else None)
    return missed


def fleet_runs_in_engine(
    tree: str,
    work: Path,
    root: Path,
    count: int,
    parallel: int,
    tree_env: dict[str, str],
    base_env: dict[str, str],
    shim_dir: Path,
    log: Path,
) -> Iterator[tuple[str, dict[str, Any], dict[str, float], int]]:
    """Each of COMMANDS over ``count`` new tenants in a new emulated cloud: (label, the runner's usage, CPU by engine
    process, the most launches naming one stack). Prints a line for each."""
    from tests.fakes.entra import FakeTenant
    from tests.fakes.entra_cloud import serve_cloud
    from tests.fakes.example_tenants import PUBLISHED_APPS

    tenants = [FakeTenant(str(uuid.UUID(int=0xBE_0000_0000_4000_8000_0000_0000_0000 + n))) for n in range(count)]
    write_workspace(root, tenants)
    with serve_cloud(tenants, dict(PUBLISHED_APPS)) as cloud:
        env = {**cloud_environment(cloud, root, base_env, [shim_dir]), **tree_env}
        for label, command in COMMANDS:
            log.write_text("", encoding="utf-8")
            argv = [sys.executable, str(work / "reaper.py"), str(work / "runner.py"), *command, "tenants"]
            argv += ["--parallel", str(parallel), "--json"]
            started = time.perf_counter()
            done = subprocess.run(argv, cwd=root, env=env, capture_output=True, check=False)
            wall = time.perf_counter() - started
            usage = json.loads((work / "runner.py.usage").read_text(encoding="utf-8"))
            if usage["code"] not in (0, 3):
                print(done.stderr.decode("utf-8", "replace")[-3000:])
                raise SystemExit(f"{tree}: {' '.join(command)} exited {usage['code']}")
            processes = cpu_by_process(log)
            processes["program (inline)"] = usage["program"] = usage.get("program", 0.0)
            usage["driver"] = usage["tool"] - usage["program"]
            if os.environ.get("BENCHMARK_KEEP_LOG"):
                shutil.copy(log, f"{os.environ['BENCHMARK_KEEP_LOG']}-{root.name}-{label.replace(' ', '')}")
            # Every engine process's own CPU and the inline program's; the shims' is the measurement's.
            usage["engine"] = sum(v for r, v in processes.items() if r != "shims")
            old_share = usage["tool"] / (usage["engine"] - usage["program"])
            per_stack = launches_per_stack(log)
            most = max(per_stack.values()) if per_stack else 0
            print(
                f"  {tree[:13]:<14}{label:<9}{count:>8}{parallel:>9}{wall / count:>12.2f}s{usage['tool']:>9.2f}s"
                f"{usage['program']:>8.2f}s{usage['driver']:>8.2f}s{usage['engine']:>10.2f}s"
                f"{usage['engine'] / count:>13.2f}s{usage['driver'] / usage['engine']:>14.1%}{old_share:>12.1%}"
                f"{most:>17}"
            )
            yield label, usage, processes, most


ENGINE_CPU_TARGET = 0.75
"""The engine's CPU per tenant for ``plan`` (stacks exist) against the revision before: at most three quarters."""


def engine_cpu_by_process(rows: dict[tuple[str, str, int, int], dict[str, float]], before: str | None) -> int:
    """Where the CPU per tenant goes, the tool's and each engine process's; with a revision before, the fall of
    ``plan``'s on stacks that exist, for the engine (the target) and for the tool and the engine together."""
    print(
        "\nCPU per tenant: the tool's process (total) and its driver (the total less the inline program), and each "
        "engine process's own (less the processes it started), the inline program's among them"
    )
    columns = ("tool total", "tool driver", *ROLES)
    print(f"  {'tree':<14}{'command':<9}{'tenants':>8}{'parallel':>9}" + "".join(f"{c:>17}" for c in columns))
    for (tree, label, count, parallel), cells in rows.items():
        print(f"  {tree[:13]:<14}{label:<9}{count:>8}{parallel:>9}" + "".join(f"{cells[c]:>16.3f}s" for c in columns))
    if before is None:
        return 0
    missed = 0
    print(
        f"\n`plan` on stacks that exist, per tenant, now / {before} (engine, the inline program in it: target "
        f"<= {ENGINE_CPU_TARGET:g})"
    )
    for (tree, label, count, parallel), now in rows.items():
        old = rows.get((before, label, count, parallel))
        if tree != "now" or label != "plan (2)" or old is None:
            continue
        engine_now, engine_old = (sum(c[r] for r in ROLES if r != "shims") for c in (now, old))
        ratio = engine_now / engine_old
        missed += ratio > ENGINE_CPU_TARGET
        both = (engine_now + now["tool driver"]) / (engine_old + old["tool driver"])
        print(
            f"  {count} tenants, --parallel {parallel}: engine {engine_now:.2f}s / {engine_old:.2f}s = "
            f"{verdict(ratio, ENGINE_CPU_TARGET)}; tool and engine {engine_now + now['tool driver']:.2f}s / "
            f"{engine_old + old['tool driver']:.2f}s = {both:.3f}"
        )
    return missed


def write_workspace(root: Path, tenants: Sequence[Any]) -> None:
    """A workspace of tenant-wide consent files, one per tenant, and its state folder."""
    (root / "tenants").mkdir(parents=True)
    (root / ".pulumi-state").mkdir()
    (root / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", "utf-8")
    for n, tenant in enumerate(tenants):
        (root / "tenants" / f"firm-{n:03d}.yaml").write_text(
            f"tenant:\n  id: {tenant.tenant_id}\nconsent:\n  mode: organization\n", "utf-8"
        )


ROLLOUT = """\
pause: 0s
rings:
  - name: canary
    tenants: [firm-000]
  - name: early
    tenants: ["firm-00[1-9]"]
  - name: rest
    tenants: ["*"]
"""
ROLLOUT_LAUNCH_TARGET = 3
"""apply --plan on a new stack: the preview, ``stack history`` for the review's comparison, the update."""


def rollout(count: int, parallel: int) -> int:
    """``plan --out reviewed.json`` then ``apply --plan reviewed.json`` over ``count`` tenants in three rings
    (a canary, nine more, the rest), as the merge of a reviewed pull request runs them."""
    from tests.fakes.azuread_provider.plugin import install
    from tests.fakes.entra import FakeTenant
    from tests.fakes.entra_cloud import serve_cloud
    from tests.fakes.example_tenants import PUBLISHED_APPS

    bin_dir = engine_bin()
    if bin_dir is None:
        print("\nno Pulumi engine: rollout figures skipped")
        return 1
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base_env = {
            "PULUMI_HOME": str(work / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }
        install(str(bin_dir / "pulumi"), base_env, work)
        log = work / "launches.log"
        shim_dir = work / "shim"
        shim_dir.mkdir()
        shim = shim_dir / "pulumi"
        shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{bin_dir / "pulumi"}" "$@"\n', "utf-8")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        runner = work / "runner.py"
        runner.write_text(RUNNER, encoding="utf-8")
        tenants = [FakeTenant(str(uuid.UUID(int=0xBE_0000_0000_4000_8000_0000_0000_0000 + n))) for n in range(count)]
        root = work / "workspace"
        (root / "tenants").mkdir(parents=True)
        (root / ".pulumi-state").mkdir()
        (root / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", "utf-8")
        (root / "tenants" / "_rollout.yaml").write_text(ROLLOUT, "utf-8")
        for n, tenant in enumerate(tenants):
            (root / "tenants" / f"firm-{n:03d}.yaml").write_text(
                f"tenant:\n  id: {tenant.tenant_id}\nconsent:\n  mode: organization\n", "utf-8"
            )
        print(f"\nrings: {count} tenants in three rings (1, 9, {count - 10}), --parallel {parallel}")
        print(
            f"  {'command':<14}{'wall':>9}{'wall/tenant':>13}{'tool CPU':>10}{'program':>9}{'driver':>9}"
            f"{'engine CPU':>11}{'driver/engine':>15}{'tool/engine':>13}{'launches/tenant':>17}"
        )
        with serve_cloud(tenants, dict(PUBLISHED_APPS)) as cloud:
            env = cloud_environment(cloud, root, base_env, [shim_dir, bin_dir])
            commands = (
                ("plan --out", ["plan", "--out", "reviewed.json"]),
                ("apply --plan", ["apply", "--yes", "--plan", "reviewed.json", "--out", "run.json"]),
            )
            ring_walls: dict[str, float] = {}
            for label, command in commands:
                log.write_text("", encoding="utf-8")
                argv = [sys.executable, str(runner), *command, "tenants", "--parallel", str(parallel)]
                started = time.perf_counter()
                process = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                assert process.stderr is not None
                ring_started = started
                for raw in process.stderr:  # "ring NAME: N tenant(s) to run" ... "ring NAME: ... passed"
                    line = raw.decode("utf-8", "replace")
                    if line.startswith("ring ") and "to run" in line:
                        ring_started = time.perf_counter()
                    elif line.startswith("ring ") and line.rstrip().endswith(("passed", "stopped")):
                        ring_walls[line.split()[1].rstrip(":")] = time.perf_counter() - ring_started
                process.wait()
                wall = time.perf_counter() - started
                usage = json.loads(Path(str(runner) + ".usage").read_text(encoding="utf-8"))
                if usage["code"] not in (0, 3):
                    raise SystemExit(f"{' '.join(command)} exited {usage['code']}")
                launches = [line for line in log.read_text(encoding="utf-8").splitlines() if "--stack" in line]
                per_tenant = Counter(line.split("--stack ")[1].split()[0] for line in launches)
                most = max(per_tenant.values()) if per_tenant else 0
                # The engine's CPU (every process it started) and the inline program's, which runs in the tool's
                # process; the tool's own is its driver, the rest. tool/engine is the old figure: the tool's whole
                # CPU over the engine's processes alone.
                program = usage.get("program", 0.0)
                driver, engine_cpu = usage["tool"] - program, usage["engine"] + program
                share = driver / engine_cpu
                print(
                    f"  {label:<14}{wall:>8.1f}s{wall / count:>12.2f}s{usage['tool']:>9.2f}s{program:>8.2f}s"
                    f"{driver:>8.2f}s{engine_cpu:>10.2f}s{share:>14.1%}{usage['tool'] / usage['engine']:>12.1%}"
                    f"{most:>17}"
                )
                missed += share > TOOL_SHARE_TARGET
                if label == "apply --plan":
                    missed += most > ROLLOUT_LAUNCH_TARGET
            report = json.loads((root / "run.json").read_text(encoding="utf-8"))
            applied = sum(t["result"] == "applied" for t in report["tenants"])
            rings = ", ".join(
                f"{r['name']} {r['tenants']} tenant(s) {ring_walls.get(r['name'], 0.0):.1f}s {r['result']}"
                for r in report["rings"]
            )
            print(f"  apply --plan by ring: {rings}")
            print(
                f"  applied as reviewed: {applied} of {count}; grants in Entra: {sum(len(t.grants) for t in tenants)}"
            )
            missed += applied != count or any(r["result"] != "passed" for r in report["rings"])
    print(
        f"  targets: driver/engine <= {TOOL_SHARE_TARGET:.0%}; "
        f"apply --plan launches per tenant <= {ROLLOUT_LAUNCH_TARGET}"
    )
    return missed


def tool_share_per_tenant(cpu: dict[tuple[str, int], dict[int, tuple[float, float, float, float]]]) -> int:
    """The tool's driver CPU for each tenant added beside the engine's for it, between the smallest and largest fleet
    measured: what a tenant costs once the fixed start-up (imports, loading the files: about 0.3-0.4 s, the
    offline benchmark's business) is paid. With one fleet size only, each run's whole share is judged. The driver is
    the tool's process less the inline program, and the engine's CPU includes the program: it is engine work
    wherever it runs (in the engine's Python before the inline program). The old figure, the tool's whole CPU over
    the engine's processes alone, is printed beside it."""
    missed = 0
    print(
        f"\nthe tool's driver CPU per tenant beside the engine's, the inline program the engine's "
        f"(target <= {TOOL_SHARE_TARGET:.0%}); then the tool's whole CPU beside the engine's processes' (old figure)"
    )
    for (label, parallel), by_count in cpu.items():
        small, large = min(by_count), max(by_count)
        if small == large:
            driver, engine, tool, processes = by_count[small]
            share, old, how = driver / engine, tool / processes, f"whole run of {small}"
        else:
            share, old = (
                (by_count[large][mine] - by_count[small][mine]) / (by_count[large][theirs] - by_count[small][theirs])
                for mine, theirs in ((0, 1), (2, 3))
            )
            how = f"tenants {small + 1}-{large}"
        missed += share > TOOL_SHARE_TARGET
        verdict = "ok" if share <= TOOL_SHARE_TARGET else "OVER TARGET"
        print(f"  {label:<8} --parallel {parallel:<3} {how:<18} {share:6.2%}  {verdict:<11}  (tool/engine {old:6.2%})")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--only-engine", action="store_true", help="skip redaction and the display (no engine)")
    parser.add_argument(
        "--before",
        metavar="REV",
        nargs="+",
        default=[],
        help="also run these git revisions' tool (temporary worktrees) before this tree's, each fleet in turn; "
        "the first is the one the engine CPU target compares with",
    )
    parser.add_argument(
        "--rollout",
        type=int,
        metavar="N",
        help="only the rings run: plan --out, then apply --plan of N tenants in three rings (at the first --parallel)",
    )
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.rollout:
        return 1 if rollout(args.rollout, args.parallel[0]) else 0
    missed = 0 if args.only_engine else redaction() + progress()
    if not args.skip_engine:
        missed += engine(args.tenants, args.parallel, args.before)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
