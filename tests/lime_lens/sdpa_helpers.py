"""Shared by the fused-attention tests: which layers took the fused path."""

import lime_lens.tl.fused_attention as fused


def spy_fused_layers(monkeypatch) -> list[int]:
    """A list that collects the layer ids that take the fused path, in call order."""
    calls: list[int] = []
    original = fused.sdpa_forward

    def spy(attn, *args):
        calls.append(attn.layer_id)
        return original(attn, *args)

    monkeypatch.setattr(fused, "sdpa_forward", spy)
    return calls
