"""The house's layers (issue 13, item 3; DESIGN.md "The house"): the apps never import
``inventory_site``; the shared plumbing (``common``) imports no app; catalog does not depend on
stock; purchasing and counting are independent. The rule is the import-linter contract in
pyproject.toml (``lint-imports`` in scripts/test.sh); this test runs the same contract, so a
broken layer fails the test run as well as CI's lint step. On the code before issue 13 it failed:
``catalog.api`` imported ``inventory_site.api``, which imported ``stock``."""

from __future__ import annotations

import ast
from pathlib import Path

from importlinter import configuration
from importlinter.application.use_cases import Report, _register_contract_types, create_report, read_user_options

ROOT = Path(__file__).resolve().parents[2]
APPS = ("catalog", "stock", "counting", "purchasing", "reports")


def contracts_report() -> Report:
    configuration.configure()  # the readers of pyproject.toml and the contract types, as lint-imports does
    options = read_user_options(str(ROOT / "pyproject.toml"))
    _register_contract_types(options)
    return create_report(options, cache_dir=None)


def test_every_layers_contract_of_pyproject_is_kept() -> None:
    report = contracts_report()
    checks = {contract.name: check for contract, check in report.get_contracts_and_checks()}
    broken = {name: check.metadata for name, check in checks.items() if not check.kept}
    assert broken == {}
    assert len(checks) == 2  # the layers, and purchasing and counting independent


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
    graph = contracts_report().graph
    assert graph.find_shortest_chains(importer="catalog.api", imported="stock") == set()
