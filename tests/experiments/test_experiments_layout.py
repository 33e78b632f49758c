"""Experiments sit beside the library, never inside it: neither plugin package imports
``experiments``, ``benchmarks`` or ``scripts``, and ``scripts/`` holds only set-up and asset
builders (every study's runner and renderer lives in ``experiments/<name>/``)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = ("experiments", "benchmarks", "scripts")
SCRIPTS = {
    "__init__.py",
    "build_assets.py",
    "build_gpu_wheels.sh",
    "check.sh",
    "gpu_dry_run.sh",
    "rdata.py",
    "setup.sh",
    "train_default_model.py",
    "train_tiny_lime.py",
}
"""Set-up (setup.sh, check.sh, the GPU wheel and dry-run scripts) and asset builders."""


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_plugin_packages_import_no_experiment_benchmark_or_script_code():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(OUTSIDE))
        for package in ("saelens_hierarchical", "lime_lens")
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & set(OUTSIDE)
    }
    assert offenders == {}


def test_scripts_holds_only_set_up_and_asset_builders():
    files = {p.name for p in (ROOT / "scripts").iterdir() if p.is_file()}
    assert files <= SCRIPTS, sorted(files - SCRIPTS)


def test_every_study_is_an_importable_package_with_a_renderer():
    studies = [p for p in (ROOT / "experiments").iterdir() if (p / "render.py").is_file()]
    assert {p.name for p in studies} >= {
        "htopk_pareto",
        "lime_reproduction",
        "lime_ablation",
        "lime_arithmetic",
        "lime_depth",
    }
    assert all((p / "__init__.py").is_file() for p in studies)
