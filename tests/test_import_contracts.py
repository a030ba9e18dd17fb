"""The import contracts of pyproject.toml hold on this tree, and each one catches the import it is
there for: a copy of the packages gets one deliberate import, and `lint-imports` must fail on
exactly the contracts that import breaks, naming it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cityid", "issuer", "wallet", "verifier", "policies", "edges", "credential")
CONTRACTS = {contract["name"]: contract for contract in
             tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]}  # fmt: skip
LAYERS = next(name for name, contract in CONTRACTS.items() if contract["type"] == "layers")
FORMAT = next(name for name, contract in CONTRACTS.items() if contract.get("source_modules") == ["credential"])
VERIFIER = next(name for name, contract in CONTRACTS.items() if contract.get("source_modules") == ["verifier"])
WALLET = next(name for name, contract in CONTRACTS.items() if contract.get("source_modules") == ["wallet"])
ACYCLIC = next(name for name, contract in CONTRACTS.items() if contract["type"] == "acyclic_siblings")


def lint_imports(root: Path) -> tuple[int, str]:
    """`lint-imports` over the packages in ``root`` (the copies there shadow the installed ones)."""
    done = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=root,
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def broken(report: str) -> set[str]:
    """The names of the contracts the report says are broken (a name may wrap onto two lines)."""
    flat = " ".join(report.split())
    return {name for name in CONTRACTS if f"{name} BROKEN" in flat}


def test_every_contract_holds_on_this_tree() -> None:
    code, report = lint_imports(ROOT)
    assert code == 0, report
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in report


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and the contracts, to break one import at a time."""
    copy = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__", "app", "static"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.mark.parametrize(
    ("module", "line", "importer", "imported", "contracts"),
    [
        ("policies/_model.py", "import cityid", "policies._model", "cityid", {LAYERS}),
        ("edges/files.py", "import policies", "edges.files", "policies", {LAYERS}),
        ("credential/_limits.py", "import edges.console", "credential._limits", "edges.console", {LAYERS, FORMAT}),
        ("credential/_limits.py", "import fastapi", "credential._limits", "fastapi", {FORMAT}),
        ("credential/_types.py", "import PIL", "credential._types", "PIL", {FORMAT}),
        ("verifier/guards.py", "import issuer.db", "verifier.guards", "issuer.db", {LAYERS, VERIFIER}),
        ("wallet/lock.py", "import verifier.engine", "wallet.lock", "verifier.engine", {LAYERS, WALLET}),
        ("issuer/headers.py", "import wallet.store", "issuer.headers", "wallet.store", {LAYERS}),
        ("edges/i18n.py", "import edges.words", "edges.i18n", "edges.words", {ACYCLIC}),
        ("cityid/cli.py", "import cityid.demo", "cityid.cli", "cityid.demo", set()),  # down a layer: allowed
    ],
)
def test_one_deliberate_import_breaks_exactly_its_contracts(
    pristine: Path, tmp_path: Path, module: str, line: str, importer: str, imported: str, contracts: set[str]
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    path = tree / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # a deliberate break\n", encoding="utf-8")
    code, report = lint_imports(tree)
    assert broken(report) == contracts, report
    assert code == (1 if contracts else 0), report
    if contracts - {ACYCLIC}:
        assert f"{importer} -> {imported}" in report, report  # the import it found, by name
    if ACYCLIC in contracts:  # the cycle, in the package's own short names
        (package, first), second = importer.split("."), imported.split(".")[1]
        assert f"No cycles are allowed in {package}." in report, report
        assert f".{first} -> .{second}" in report or f".{second} -> .{first}" in report, report


def test_the_contracts_cover_every_package() -> None:
    """A new top-level package must be placed in the layers before it can land."""
    on_disk = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    layered = {name.strip() for layer in CONTRACTS[LAYERS]["layers"] for name in layer.split("|")}
    assert on_disk == layered == set(PACKAGES)


_RUN_BELOW_THE_ROLES = """
import datetime as dt, json, sys
from edges.appfiles import app_source, verifier_names
from edges.messages import all_messages
assert all_messages() and verifier_names() and app_source().name == "app"
edges_only = sorted(sys.modules)
from policies import audit, bundled_catalog, default_catalogue, load_policies, render_json
report = audit(load_policies([bundled_catalog()]), today=dt.date(2026, 1, 1), catalogue=default_catalogue())
assert json.loads(render_json(report))["policies"]
print(json.dumps([edges_only, sorted(sys.modules)]))
"""


def test_what_reads_other_packages_files_imports_none_of_them_at_run_time() -> None:
    """lint-imports reads import statements; these are the places that reach other packages'
    files at run time (the phone app's build, the policy catalog, the sources the translations
    cover, the roles' storage models): they must not import a package above them either."""
    done = subprocess.run([sys.executable, "-c", _RUN_BELOW_THE_ROLES], capture_output=True, text=True, check=True,
                          timeout=120)  # fmt: skip
    edges_only, with_policies = json.loads(done.stdout)

    def top_levels(modules: list[str]) -> set[str]:
        return {module.split(".")[0] for module in modules} & set(PACKAGES)

    assert top_levels(edges_only) <= {"edges", "credential"}
    assert top_levels(with_policies) <= {"policies", "edges", "credential"}
