"""Adaptive per-token budgets on the TopK SAE trained at K: the control of issue 24 item 4."""
