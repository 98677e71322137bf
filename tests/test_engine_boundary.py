"""One seam to the engine: only ``cli/fleet/automation.py`` imports ``pulumi.automation`` at run time."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import taxcalc_consent

PACKAGE = Path(taxcalc_consent.__file__).parent


def modules() -> list[Path]:
    # cli/, infra/ and policies/ are symlinked into the package folder: follow them.
    return [
        Path(folder) / name
        for folder, _, names in os.walk(PACKAGE, followlinks=True)
        for name in names
        if name.endswith(".py")
    ]


def runtime_imports(tree: ast.Module) -> set[str]:
    """Modules imported outside ``if TYPE_CHECKING:`` blocks (which never run)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_only_the_automation_module_imports_the_automation_api() -> None:
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in modules()
        if any(
            name == "pulumi.automation" or name.startswith("pulumi.automation.")
            for name in runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert len(modules()) > 20
    assert importers == ["cli/fleet/automation.py"]


def test_the_check_sees_an_import_inside_a_function() -> None:
    tree = ast.parse("def f():\n    from pulumi import automation as auto\n")
    assert "pulumi.automation" in runtime_imports(tree)
    hidden = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pulumi.automation import X\n")
    assert "pulumi.automation" not in runtime_imports(hidden)
