"""Our SAEs in the SAE ecosystem: SAEDashboard pages per budget (offline), Neuronpedia export,
SAEBench core + meta_structure per budget, and delphi autointerp across budgets.

A study sub-package: it needs ``bash scripts/setup.sh ecosystem`` and takes models, SAEs and
token data as arguments (the CLI wires in the embedded assets). Import its modules directly;
this ``__init__`` imports none of the tools, so the package stays importable without them.
"""

import importlib.util
import sys
import types


def _register_delphi_clients_without_vllm() -> None:
    """``delphi/clients/__init__.py`` imports ``offline.py``, which imports vLLM (a GPU serving
    package) at module top, so any delphi import of ``delphi.clients`` fails without it. When
    vLLM is absent, register the package without running that ``__init__``; its ``client`` and
    ``openrouter`` modules (all we use) then import normally. Runs before any module here."""
    if "delphi.clients" in sys.modules or importlib.util.find_spec("delphi") is None:
        return
    if importlib.util.find_spec("vllm") is not None:
        return
    try:
        spec = importlib.util.find_spec("delphi.clients")  # imports the parent, delphi
    except ImportError:
        return  # a broken delphi install: its own import error shows where it is used
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType("delphi.clients")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["delphi.clients"] = package


_register_delphi_clients_without_vllm()

__all__: list[str] = []
