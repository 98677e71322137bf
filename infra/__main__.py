"""Pulumi entry point (Pulumi.yaml ``main: infra/``): ``pulumi up -s <stack>`` runs this file.

The Python language host runs this folder as a script, so ``infra/`` itself is first on sys.path;
put the project root ahead of it so ``infra`` is this checkout's package, not another installed copy.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if sys.path[:1] != [_ROOT]:
    sys.path.insert(0, _ROOT)

from infra.program import main  # noqa: E402

main()
