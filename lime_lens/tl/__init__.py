"""The TransformerLens layer under LIMe, with nothing LIMe-specific in it.

- ``internals``: every TransformerLens internal the package touches, in one place.
- ``fused_attention``: one scaled-dot-product attention call in place of TransformerLens's eager
  pattern (``attn_impl``), hooks kept.
- ``linear_layout``: MLP / unembedding weights stored transposed, so TransformerLens's per-call
  copy is free.
- ``switches``: the TransformerLens config switches a LIMe model refuses, and why.
"""
