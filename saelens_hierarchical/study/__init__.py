"""The HierarchicalTopK-vs-peers study built on the plugin (Balagansky et al. 2025, arXiv 2505.24473).

One concept per module:

- ``peers``: the peer table (method -> config builder, one SAE at K or one per budget);
  adding a peer is one entry there (plus its module for a new architecture, like ``multi_topk``).
- ``multi_topk``: OpenAI's Multi-TopK SAE; importing it registers ``"multi_topk"``.
- ``baselines``: trains every peer in lockstep on identical activations.
- ``comparison``: sweep, differences against TopK and frontier plot on a language model.
- ``synthetic`` / ``real_lm``: the ``sae_lens.synthetic`` ground-truth and SmolLM2 targets.
- ``frontier``: the Pareto plots; ``result``: the record every ``run_*`` returns.
- ``cli``: ``python -m saelens_hierarchical compare``; the only module that loads ``lime_lens.assets``.
"""
