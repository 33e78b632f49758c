"""The official LIMe checkpoints (github.com/corl-team/lime) to and from TransformerLens.

- ``convert_llama``: the LLaMA parts shared by both versions.
- ``convert``: the v2 (static K/V routing) state dict.
- ``convert_v1``: the v1 (residual routers) state dict.
- ``export``: a HookedLIMeTransformer written back as an official Hugging Face folder.
"""
