"""The official corl-team/lime v2 fixtures: random weights in the official layout and a plain-torch
forward with the official code's semantics. No TransformerLens import, so the Hugging Face model's
tests use them under transformer-lens 4 too."""

import math

import torch

HF_CONFIG = dict(
    hidden_size=32,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    intermediate_size=48,
    num_hidden_layers=3,
    vocab_size=37,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    hidden_act="silu",
    tie_word_embeddings=False,
)


def official_state_dict(cfg=HF_CONFIG, seed=0):
    """Random weights with the key names and shapes of LIMeForCausalLM (src/lm/lime.py @ 4242812)."""
    gen = torch.Generator().manual_seed(seed)
    D, H, R, dh, F, V = (
        cfg[k]
        for k in (
            "hidden_size",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "intermediate_size",
            "vocab_size",
        )
    )
    rnd = lambda *shape: 0.2 * torch.randn(*shape, generator=gen)  # noqa: E731
    sd = {
        "model.embed_tokens.weight": rnd(V, D),
        "model.norm.weight": 1 + rnd(D),
        "lm_head.weight": rnd(V, D),
    }
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        sd |= {
            p + "input_layernorm.weight": 1 + rnd(D),
            p + "post_attention_layernorm.weight": 1 + rnd(D),
            p + "self_attn.q_proj.weight": rnd(H * dh, D),
            p + "self_attn.o_proj.weight": rnd(D, H * dh),
            p + "self_attn.kv_proj_weight": rnd(2 * dh * R, D),
            p + "mlp.gate_proj.weight": rnd(F, D),
            p + "mlp.up_proj.weight": rnd(F, D),
            p + "mlp.down_proj.weight": rnd(D, F),
        }
        if layer:
            sd[p + "self_attn.lime_router.static_weights"] = torch.randn(
                R, (layer + 1) * R, generator=gen
            )
    return sd


def official_forward(sd, cfg, ids):
    """Plain-torch forward with the official code's semantics (HF Llama + kv_buffer routing)."""
    D, H, R, dh = (
        cfg["hidden_size"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
        cfg["head_dim"],
    )
    B, T = ids.shape
    rms = lambda h, w: h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + cfg["rms_norm_eps"]) * w  # noqa: E731
    inv_freq = 1.0 / cfg["rope_theta"] ** (torch.arange(0, dh, 2).float() / dh)
    freqs = torch.outer(torch.arange(T).float(), inv_freq)
    cos, sin = torch.cat([freqs, freqs], -1).cos(), torch.cat([freqs, freqs], -1).sin()
    rotate_half = lambda t: torch.cat([-t[..., dh // 2 :], t[..., : dh // 2]], -1)  # noqa: E731
    x, buffer = sd["model.embed_tokens.weight"][ids], []
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms(x, sd[p + "input_layernorm.weight"])
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(B, T, H, dh).transpose(1, 2)
        kv = h.reshape(-1, D) @ sd[p + "self_attn.kv_proj_weight"].T  # (bt) (kv h), kv = 2 dh
        buffer.append(kv.view(B * T, 2 * dh, R).permute(2, 0, 1).reshape(R, -1))  # h (bt kv)
        stacked = torch.cat(buffer, 0)  # ((l+1) R, B T 2 dh), layer-major
        mixed = (
            stacked[:R] if layer == 0 else sd[p + "self_attn.lime_router.static_weights"] @ stacked
        )
        mixed = mixed.view(R, B, T, 2 * dh).permute(1, 0, 2, 3)
        k, v = mixed[..., :dh], mixed[..., dh:]
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // R, 1), v.repeat_interleave(H // R, 1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        o = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * dh)
        x = x + o @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.silu(h @ sd[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ sd[p + "mlp.up_proj.weight"].T)) @ sd[p + "mlp.down_proj.weight"].T
    return rms(x, sd["model.norm.weight"]) @ sd["lm_head.weight"].T
