"""The TransformerLens layer under LIMe, with nothing LIMe-specific in it.

- ``internals``: every TransformerLens internal the package touches, in one place.
- ``fused_attention``: one scaled-dot-product attention call in place of TransformerLens's eager
  pattern (``attn_impl``), hooks kept; ``FusedAttention`` is the mixin that puts a class on it.
- ``vanilla_attention``: the stock attention classes on that path, swapped into any
  HookedTransformer in place (``use_fused_attention``).
- ``linear_layout``: MLP / unembedding weights stored transposed, so TransformerLens's per-call
  copy is free.
- ``switches``: the TransformerLens config switches a LIMe model refuses, and why.
"""
