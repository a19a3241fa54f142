"""The house's layers (issue 13, item 3; DESIGN.md "The house"): the apps never import
``inventory_site``; the shared plumbing (``common``) imports no app; catalog does not depend on
stock; purchasing and counting are independent. The rule is the import-linter contract in
pyproject.toml (``lint-imports`` in scripts/test.sh); this test runs the same contract, so a
broken layer fails the test run as well as CI's lint step. On the code before issue 13 it failed:
``catalog.api`` imported ``inventory_site.api``, which imported ``stock``."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[2]
APPS = ("catalog", "stock", "counting", "purchasing", "reports")


def test_every_contract_of_pyproject_is_kept() -> None:
    # The layers, and purchasing and counting independent; on failure the captured output names
    # each forbidden chain of imports.
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == EXIT_STATUS_SUCCESS


def imported_top_packages(path: Path) -> set[str]:
    """The top-level packages ``path`` imports anywhere (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_app_module_imports_inventory_site_and_common_imports_no_app() -> None:
    # The same rule read directly from the source, so that its failure names the file: an app
    # that reached up into the wiring, or plumbing that reached into an app.
    offenders = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "inventory_site" in imported_top_packages(path):
                offenders.append(str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "common").rglob("*.py")):
        if imported_top_packages(path) & {*APPS, "inventory_site"}:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_catalog_api_does_not_depend_on_stock() -> None:
    graph = grimp.build_graph("catalog", "stock", "common", "inventory_site", "purchasing", cache_dir=None)
    assert graph.find_shortest_chains(importer="catalog.api", imported="stock") == set()
