"""Benchmark: the offline commands as whole processes, side by side with their baselines in one run.

Run: python benchmarks/offline.py [--tenants 1000 5000] [--repeat 5]

Measured, each as a fresh process (start-up included, bytecode cached), alternating the contenders
round by round so both see the same machine, median of ``--repeat`` rounds:
- start-up: ``python -c pass``; the tool's ``--help`` against a Typer-only app of the same shape
  (benchmarks/typer_only.py). Target: at most 2x.
- ``validate DIR`` and ``plan --offline --json DIR`` against a process that only parses the same files
  with PyYAML's CSafeLoader. Target: at most 2x each, at every size.
- peak memory (max RSS, from wait4) of ``plan --offline --json`` against ``validate``. Target: at most 2x.
- the framework floor: the Typer-only app's ``validate`` and ``plan``, which only parse the same files with
  CSafeLoader. Not a target: it shows what the command-line framework costs any tool reading these files
  (Typer 0.29 loads pydantic to coerce parameters), so the tool's own share can be told from it.
Bytecode is compiled for the tool's package first, as ``pip install`` does: with PYTHONDONTWRITEBYTECODE
set (as on some CI machines) an editable install would otherwise recompile every module in every run.
Prints each figure and ratio, and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TARGET = 2.0
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.fakes.ids: TaxCalc-Hub's test id
from tests.fakes.ids import HUB_CLIENT_ID as CLIENT_ID  # noqa: E402  (after the path above)

TOOL = [sys.executable, "-m", "taxcalc_consent.cli"]
PARSE_ONLY = (
    "import pathlib, sys, yaml\n"
    "for path in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')):\n"
    "    yaml.load(path.read_text(encoding='utf-8'), Loader=yaml.CSafeLoader)\n"
)


def generate(folder: Path, tenants: int) -> None:
    """Tenant files like an MSP's: half tenant-wide, half per mailbox with ten users and a group."""
    # TaxCalc-Hub's test id: the examples' placeholder is refused outside examples/tenants.
    (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", "utf-8")
    for index in range(tenants):
        if index % 2:
            consent = "consent:\n  mode: organization\n"
        else:
            users = "".join(f"    - user{u}@tenant{index}.example.com\n" for u in range(10))
            consent = (
                "consent:\n  mode: users\n  scopes: [openid, profile, email, offline_access, User.Read, Mail.Send]\n"
                f"  users:\n{users}  groups:\n    - TaxCalc Mailboxes\n"
            )
        tenant = f"# tenant {index}\ntenant:\n  id: {uuid.UUID(int=index + 1)}\n"
        body = f"{tenant}{consent}access:\n  assignment_required: false\n"
        (folder / f"tenant{index:05d}.yaml").write_text(body, encoding="utf-8")


def run(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process; its output is discarded, its exit code checked."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}")
    return elapsed, usage.ru_maxrss


def compare(repeat: int, contenders: dict[str, list[str]]) -> dict[str, tuple[float, int]]:
    """Median wall time and median peak RSS of each contender, run alternately ``repeat`` times."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    memory: dict[str, list[int]] = {name: [] for name in contenders}
    for argv in contenders.values():  # one warm-up each: bytecode and the page cache, as in daily use
        run(argv)
    for _ in range(repeat):
        for name, argv in contenders.items():
            elapsed, rss = run(argv)
            times[name].append(elapsed)
            memory[name].append(rss)
    return {name: (statistics.median(times[name]), int(statistics.median(memory[name]))) for name in contenders}


def compile_tool() -> None:
    """Write the tool's bytecode, as a regular install does, so every run measures the same thing."""
    import taxcalc_consent

    package = Path(taxcalc_consent.__file__).resolve().parent
    for folder in {package, *(p.resolve() for p in package.iterdir() if p.is_dir())}:
        compileall.compile_dir(folder, quiet=1)


def verdict(ratio: float, target: float = TARGET) -> str:
    return f"{ratio:5.2f}x (target <= {target:.1f}x) {'ok' if ratio <= target else 'OVER TARGET'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    compile_tool()
    missed = 0

    start = compare(
        args.repeat,
        {
            "python -c pass": [sys.executable, "-c", "pass"],
            "typer-only --help": [sys.executable, str(HERE / "typer_only.py"), "--help"],
            "taxcalc-consent --help": [*TOOL, "--help"],
        },
    )
    bare, typer_only, tool = (start[k][0] for k in start)
    ratio = tool / typer_only
    print("\nstart-up (median wall time)")
    print(f"  python -c pass           {bare * 1000:8.1f} ms")
    print(f"  typer-only --help        {typer_only * 1000:8.1f} ms")
    print(f"  taxcalc-consent --help   {tool * 1000:8.1f} ms   {verdict(ratio)}")
    print(f"  (above a bare interpreter: {(tool - bare) / (typer_only - bare):.2f}x)")
    missed += ratio > TARGET

    for count in args.tenants:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            generate(folder, count)
            result = compare(
                args.repeat,
                {
                    "parse": [sys.executable, "-c", PARSE_ONLY, str(folder)],
                    "floor": [sys.executable, str(HERE / "typer_only.py"), "validate", str(folder)],
                    "validate": [*TOOL, "validate", str(folder)],
                    "plan": [*TOOL, "plan", "--offline", "--json", str(folder)],
                },
            )
        parse_s, floor_s = result["parse"][0], result["floor"][0]
        print(f"\n{count} tenant files (median wall time, peak RSS)")
        print(f"  parse only (CSafeLoader)    {parse_s:7.3f} s  {result['parse'][1] / 1024:7.1f} MiB")
        floor_mib = result["floor"][1] / 1024
        print(f"  framework floor             {floor_s:7.3f} s  {floor_mib:7.1f} MiB   {floor_s / parse_s:5.2f}x")
        for name, label in (("validate", "validate"), ("plan", "plan --offline --json")):
            seconds, rss = result[name]
            ratio = seconds / parse_s
            missed += ratio > TARGET
            print(
                f"  {label:<27} {seconds:7.3f} s  {rss / 1024:7.1f} MiB   {verdict(ratio)}"
                f"  ({seconds / floor_s:.2f}x the floor)"
            )
        memory_ratio = result["plan"][1] / result["validate"][1]
        missed += memory_ratio > TARGET
        print(f"  peak memory, plan vs validate: {verdict(memory_ratio)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
