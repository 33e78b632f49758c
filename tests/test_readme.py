"""The README is the front door: its two commands are the ones CI runs, the names its snippets and
the docs' snippets import exist, and its links land on files of this repository."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DEMO_COMMAND = "bash scripts/setup.sh && .venv/bin/python demo.py"
TEST_COMMAND = "bash scripts/setup.sh dev && bash scripts/check.sh"
OUR_ROOTS = {"saelens_hierarchical", "lime_lens", "sae_lens"}
"""Import roots whose names the snippets promise (the official repository's are not ours)."""
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def imported_names(page: Path) -> list[tuple[str, str | None]]:
    """``(module, name)`` for every import statement of our packages in ``page``'s snippets."""
    found = []
    for block in python_blocks(page.read_text()):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Import):
                found += [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found += [(node.module, a.name) for a in node.names]
    return [(m, n) for m, n in found if m.split(".")[0] in OUR_ROOTS]


def test_readme_shows_the_two_commands_and_ci_runs_the_test_command_verbatim():
    assert f"```bash\n{DEMO_COMMAND}\n```" in README
    assert f"```bash\n{TEST_COMMAND}\n```" in README
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.slow  # importing sae_lens under the jaxtyping hook takes tens of seconds
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_name_a_snippet_imports_exists(page):
    for module, name in imported_names(page):
        imported = importlib.import_module(module)
        if name is not None and not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")  # a submodule, or ImportError naming it


def dotted_names(page: Path) -> set[str]:
    """Every dotted ``saelens_hierarchical.x.y`` / ``lime_lens.x.y`` name in the page's text."""
    found = re.findall(
        r"(?<![\w/.])((?:saelens_hierarchical|lime_lens)(?:\.\w+)+)", page.read_text()
    )
    return set(found)


def resolve(dotted: str) -> object:
    """The module or attribute ``dotted`` names: the longest importable prefix, then attributes.

    A module that exists but needs a tool that is not installed raises ModuleNotFoundError
    naming the tool (``e.name``), not the module."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(prefix)
        except ModuleNotFoundError as error:
            if error.name != prefix:
                raise
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError names the missing part
        return obj
    raise ModuleNotFoundError(dotted, name=dotted)


@pytest.mark.slow  # imports most of both packages
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_dotted_name_a_page_mentions_resolves(page):
    tools = set()
    for dotted in sorted(dotted_names(page)):
        try:
            resolve(dotted)
        except ModuleNotFoundError as error:
            if str(error.name).split(".")[0] in {"saelens_hierarchical", "lime_lens"}:
                raise
            tools.add(error.name)  # an optional tool (e.g. the ecosystem set-up) is missing
    if tools:
        pytest.skip(f"names here need tools that are not installed: {sorted(tools)}")


def test_readme_links_land_on_files_of_the_repository():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"
