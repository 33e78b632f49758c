"""LIMe (Layer-Integrated Memory, Gerasimov et al., arXiv 2502.09245) for TransformerLens."""

__all__: list[str] = []
