"""Our SAEs in the SAE ecosystem: SAEDashboard pages per budget (offline), Neuronpedia export,
SAEBench core + meta_structure per budget, and delphi autointerp across budgets.

A study sub-package: it needs ``bash scripts/setup.sh ecosystem`` and takes models, SAEs and
token data as arguments (the CLI wires in the embedded assets). Import its modules directly;
this ``__init__`` imports none of the tools so that the package stays importable without them.
"""

__all__: list[str] = []
