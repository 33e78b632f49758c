"""HierarchicalTopK sparse autoencoders for SAELens (Balagansky et al., arXiv 2505.24473)."""

__all__: list[str] = []
from saelens_hierarchical import multi_topk  # noqa: E402,F401  registers the "multi_topk" training architecture (issue 4)
