"""HierarchicalTopK sparse autoencoders for SAELens (Balagansky et al., arXiv 2505.24473)."""

__all__: list[str] = []
