"""The studies built on the two plugin cores, one package per study: its runner, renderer,
pre-registration and results (JSON, rendered Markdown, figures) side by side.

    python -m experiments.rerender [--check]   # every results file re-rendered from its JSON

Nothing in ``saelens_hierarchical`` or ``lime_lens`` imports this package.
"""
