"""Benchmark: `apply` and `plan` through the real Pulumi engine, per tenant, by fleet size and --parallel.

Run: python benchmarks/engine.py [--tenants 1 10 50] [--parallel 1 4 8]

For each fleet size N and each --parallel P, on a fresh workspace and a fresh emulated cloud
(tests/fakes/entra_cloud.py, the test azuread provider installed in a private PULUMI_HOME, the engine
from PATH or engine/build.sh): ``taxcalc-consent apply --yes --json`` from nothing, then
``taxcalc-consent plan --json`` with nothing left to do, each as a whole process. Half the tenants
consent tenant-wide, half per mailbox (three users). Printed per run:
- wall seconds, and wall seconds per tenant;
- engine seconds: the sum over tenants of the time spent in that tenant's engine runs (the run@1
  report's duration_seconds: Pulumi CLI, program, provider and policy pack), and per tenant;
- the tool's own share: ``plan --offline --json`` on the same files (start-up, reading, validating,
  planning), which every engine command also does before the engine starts.
Figures depend on the machine; the docs record where they came from (docs/ci.md, "Rollout times").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository's tests/ package: engine finder, cloud, provider

from tests.engine.locate import find_engine  # noqa: E402
from tests.fakes.azuread_provider.plugin import install  # noqa: E402
from tests.fakes.entra import FakeTenant  # noqa: E402
from tests.fakes.entra_cloud import serve_cloud  # noqa: E402
from tests.fakes.example_tenants import HUB_CLIENT_ID, PUBLISHED_APPS  # noqa: E402

TOOL = [sys.executable, "-m", "taxcalc_consent.cli"]


def fleet(size: int) -> tuple[list[FakeTenant], dict[str, str]]:
    tenants, files = [], {}
    for index in range(size):
        tenant = FakeTenant(str(uuid.UUID(int=0xBE0C_0000_0000_4000_8000_0000_0000_0000 + index)))
        tenants.append(tenant)
        head = f"tenant:\n  id: {tenant.tenant_id}\n"
        if index % 2:
            files[f"firm{index:03d}"] = head + "consent:\n  mode: organization\n"
        else:
            users = [tenant.add_user(f"user{u}@firm{index}.example.com").user_principal_name for u in range(3)]
            listed = "".join(f"    - {u}\n" for u in users)
            files[f"firm{index:03d}"] = head + f"consent:\n  mode: users\n  users:\n{listed}"
    return tenants, files


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, dict[str, object] | None]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:])} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, json.loads(done.stdout) if "--json" in argv and done.stdout.strip() else None


def engine_seconds(document: dict[str, object] | None) -> float:
    tenants = document.get("tenants", []) if document else []
    return sum(float(t["duration_seconds"]) for t in tenants if isinstance(t, dict))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    found = find_engine()
    if isinstance(found, str):
        print(f"no Pulumi engine: {found}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="taxcalc-engine-bench-") as scratch:
        work = Path(scratch)
        home = work / "pulumi-home"
        base_env = {
            **os.environ,
            "PATH": os.pathsep.join([str(found.bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]),
            "PULUMI_HOME": str(home),
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_hex(16),
            "PULUMI_PYTHON_CMD": sys.executable,
        }
        install(str(found.pulumi), base_env, work)
        cpus = os.cpu_count()
        machine = f"{platform.platform()}; {cpus} CPUs; Python {platform.python_version()}"
        print(f"# engine {found.version} ({found.source}); {machine}")
        columns = "apply s | apply s/tenant | engine s/tenant | plan s | plan s/tenant | tool's own s"
        print(f"| tenants | --parallel | {columns} |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for size in args.tenants:
            for parallel in args.parallel:
                tenants, files = fleet(size)
                root = work / f"n{size}-p{parallel}"
                (root / "tenants").mkdir(parents=True)
                (root / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {HUB_CLIENT_ID}\n", "utf-8")
                for name, text in files.items():
                    (root / "tenants" / f"{name}.yaml").write_text(text, encoding="utf-8")
                with serve_cloud(tenants, PUBLISHED_APPS) as cloud:
                    env = {
                        **base_env,
                        "TAXCALC_CONSENT_ROOT": str(root),
                        "ARM_METADATA_HOSTNAME": cloud.metadata_host,
                        "ARM_CLIENT_ID": cloud.automation.client_id,
                        "ARM_CLIENT_SECRET": cloud.automation.client_secret,
                    }
                    p = ["--parallel", str(parallel), "--json", "tenants"]
                    apply_s, applied = timed([*TOOL, "apply", "--yes", *p], env, root)
                    plan_s, _ = timed([*TOOL, "plan", *p], env, root)
                    own_s, _ = timed([*TOOL, "plan", "--offline", "--json", "tenants"], env, root)
                print(
                    f"| {size} | {parallel} | {apply_s:.1f} | {apply_s / size:.2f} | "
                    f"{engine_seconds(applied) / size:.2f} | {plan_s:.1f} | {plan_s / size:.2f} | {own_s:.2f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
