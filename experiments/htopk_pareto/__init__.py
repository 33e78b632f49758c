"""HierarchicalTopK against TopK at every budget (Balagansky et al. 2025, arXiv 2505.24473): the
main comparison runs, the d_sae-scaling study (synthetic and default model), the subset-J run
and adaptive per-token budgets."""
