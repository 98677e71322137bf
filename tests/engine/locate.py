"""Find a Pulumi engine the tests can use, or say why there is none.

In order: a ``pulumi`` on PATH that is recent enough (a user with the Pulumi CLI installed just runs the
tests); otherwise ``engine/build.sh``, which returns the cached build at once or builds the pinned CLI
and Python language host from the Go module proxy once (it needs Go), printing its bin folder last.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPOSITORY / "engine" / "build.sh"
MINIMUM = (3, 206, 0)
"""From 3.206 the Automation API reads engine events over gRPC (pulumi/automation/_stack.py, ``use_grpc``):
the path every current CLI takes, so the one these tests must exercise."""
BUILD_TIMEOUT = 3600


@dataclass(frozen=True)
class Engine:
    bin_dir: Path
    version: str
    source: str
    """"PATH" or "engine/build.sh"."""

    @property
    def pulumi(self) -> Path:
        return self.bin_dir / "pulumi"


def _version(pulumi: Path) -> tuple[int, int, int] | None:
    try:
        text = subprocess.run([str(pulumi), "version"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _usable(bin_dir: Path) -> tuple[int, int, int] | None:
    """The version of the engine in ``bin_dir`` if it can run a Python program, else None."""
    version = _version(bin_dir / "pulumi")
    if version is None or version < MINIMUM:
        return None
    if not (bin_dir / "pulumi-language-python").exists() and shutil.which("pulumi-language-python") is None:
        return None
    return version


def find_engine() -> Engine | str:
    """The engine, or the reason there is none (for a skip, or a failure in CI)."""
    on_path = shutil.which("pulumi")
    if on_path:
        version = _usable(Path(on_path).resolve().parent)
        if version is not None:
            return Engine(Path(on_path).resolve().parent, ".".join(map(str, version)), "PATH")
    if not BUILD_SCRIPT.is_file():
        return f"no usable `pulumi` (>= {'.'.join(map(str, MINIMUM))}) on PATH, and no {BUILD_SCRIPT} to build one"
    try:
        built = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            env=os.environ.copy(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"engine/build.sh could not run: {exc}"
    if built.returncode != 0:
        tail = " | ".join(built.stderr.strip().splitlines()[-3:])
        return f"engine/build.sh failed (exit {built.returncode}): {tail}"
    bin_dir = Path(built.stdout.strip().splitlines()[-1])
    version = _usable(bin_dir)
    if version is None:
        return f"engine/build.sh printed {bin_dir}, which holds no usable pulumi and pulumi-language-python"
    return Engine(bin_dir, ".".join(map(str, version)), "engine/build.sh")
