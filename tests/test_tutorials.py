"""Every tutorials/*.ipynb runs top to bottom in a fresh kernel, offline (CI runs them: slow)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT_S = 600
# Tutorials that drive SAEDashboard / SAEBench / delphi: they run in CI's ecosystem step, after
# `bash scripts/setup.sh ecosystem`, and skip (naming that command) where the tools are missing.
ECOSYSTEM = {"05_ecosystem"}
_ECOSYSTEM_MARKS = [
    pytest.mark.ecosystem,
    pytest.mark.skipif(
        importlib.util.find_spec("sae_dashboard") is None,
        reason="needs the ecosystem tools: bash scripts/setup.sh ecosystem",
    ),
]
PARAMS = [
    pytest.param(p, marks=_ECOSYSTEM_MARKS, id=p.stem) if p.stem in ECOSYSTEM else p
    for p in NOTEBOOKS
]


def execute_notebook(path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run ``path`` in a fresh ``python3`` kernel of this interpreter, cwd = the notebook's folder,
    as Jupyter runs it: the files it writes land next to it (``tutorials/.gitignore``).

    The kernel inherits this environment plus what a user may set themselves: no hub, few threads.
    """
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    return notebook


@pytest.mark.slow
@pytest.mark.parametrize("path", PARAMS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_notebook_executes_offline_without_errors(path, monkeypatch):
    execute_notebook(path, monkeypatch)


def test_runner_uses_this_interpreter_offline_from_the_notebook_folder_and_fails_on_a_raising_cell(
    monkeypatch, tmp_path
):
    code = "import os, sys\nprint(sys.executable, os.environ['HF_HUB_OFFLINE'], os.getcwd())"
    good = tmp_path / "folder" / "good.ipynb"
    good.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), good)
    out = execute_notebook(good, monkeypatch).cells[0].outputs[0]["text"].split()
    assert out == [sys.executable, "1", str(good.parent)]
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), bad)
    with pytest.raises(Exception, match="ZeroDivisionError"):
        execute_notebook(bad, monkeypatch)
