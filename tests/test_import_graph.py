"""The tree shows the design: no import cycles, and the plugin cores import no study code.

Every module of both packages is parsed (no import side effects), and every ``import`` statement
counts, at module level or inside a function (lazy imports are still dependencies).
``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``; the implicit
import of a parent package's ``__init__`` is not an edge (Python runs it, but it is not a choice
the importing module makes); an explicit ``from a import c`` of a package is an edge to its ``__init__``.

Layers:
- SAE plugin core: every module directly in ``saelens_hierarchical/`` and its ``loss`` package,
  except ``__main__`` (the CLI entry, which dispatches to the study).
- LIMe plugin core: every module directly in ``lime_lens/`` and the ``lime_lens.routers``,
  ``.tl`` (the TransformerLens layer), ``.official`` (checkpoint conversion) and ``.hf`` (the
  Hugging Face model) packages.
- Studies: ``saelens_hierarchical.study`` and ``.ecosystem``; ``lime_lens.train``, ``.analysis``,
  ``.arithmetic`` and ``.assets``. They may import the cores, never the reverse; neither core imports the other package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("saelens_hierarchical", "lime_lens")
CORE_SUBPACKAGES = {
    "lime_lens": ("routers", "tl", "official", "hf", "bridge"),
    "saelens_hierarchical": ("loss",),
}
CLI_ENTRIES = {"saelens_hierarchical.__main__"}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of both packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (None: a third-party import)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            names |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (self-edges dropped)."""
    modules = module_files()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = {
            _resolve(n, modules) for n in _imported_names(tree, module, path.stem == "__init__")
        }
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def layer_of(module: str) -> str:
    """The node a module belongs to in the layer graph: its sub-package, or itself at top level."""
    package, *rest = module.split(".")
    if len(rest) >= 2 or (rest and module in _subpackages()):
        return f"{package}.{rest[0]}"
    return module


def _subpackages() -> set[str]:
    return {m for m, p in module_files().items() if p.stem == "__init__" and "." in m}


def is_core(module: str) -> bool:
    package, *rest = module.split(".")
    if module in CLI_ENTRIES:
        return False
    if not rest or module not in _subpackages() and len(rest) == 1:
        return True  # the package itself or a module directly in it
    return rest[0] in CORE_SUBPACKAGES[package]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a node path, or None (iterative DFS, white/grey/black)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path, state[start] = [start], 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop(), path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def test_the_graph_sees_both_packages_and_their_lazy_imports():
    graph = import_graph()
    assert {"saelens_hierarchical.sae", "lime_lens.model", "lime_lens.routers"} <= set(graph)
    # lime_lens/__init__ imports HookedSAELIMeTransformer lazily, inside __getattr__
    assert "lime_lens.sae_model" in graph["lime_lens"]


def test_find_cycle_finds_a_planted_cycle_and_accepts_a_dag():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles_between_modules():
    assert find_cycle(import_graph()) is None


def test_no_import_cycles_between_subpackages():
    layers: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        node = layer_of(module)
        layers.setdefault(node, set()).update(layer_of(t) for t in targets if layer_of(t) != node)
    assert find_cycle(layers) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_plugin_core_imports_neither_study_code_nor_the_other_package(package):
    other = next(p for p in PACKAGES if p != package)
    graph = import_graph()
    core = sorted(m for m in graph if m.split(".")[0] == package and is_core(m))
    assert core, f"no core modules found for {package}"
    offending = {
        m: sorted(t for t in graph[m] if t.split(".")[0] == other or not is_core(t)) for m in core
    }
    assert {m: ts for m, ts in offending.items() if ts} == {}


def test_the_transformer_lens_layer_imports_nothing_lime_specific():
    # lime_lens.tl speeds up any HookedTransformer; LIMe builds on it, never the reverse.
    graph = import_graph()
    tl_modules = [m for m in graph if layer_of(m) == "lime_lens.tl"]
    assert "lime_lens.tl.vanilla_attention" in tl_modules
    outside = {m: sorted(t for t in graph[m] if layer_of(t) != "lime_lens.tl") for m in tl_modules}
    assert {m: ts for m, ts in outside.items() if ts} == {}
