"""N same-shape LLaMA-style models (vanilla and LIMe-kv) as one batched forward.

Why not ``vmap`` over the TransformerLens modules: at d_model 32 the step time is per-operation
overhead (hooks, einops, checks), and vmap keeps every one of those operations; and TransformerLens
3.9's forward takes only a [batch, pos] padding mask, from which it derives rotary positions
(cumsum), so packed rows (a block-diagonal mask, positions restarting per example) cannot pass
through it without replacing its attention forward. This module restates the model's arithmetic
on parameters stacked along a leading model axis: every matrix product is one ``bmm`` for all N
models, attention is one ``scaled_dot_product_attention`` call. It is the fast path;
``HookedTransformer.forward`` is the reference it is tested against (logits and gradients).

Parameters keep the TransformerLens state-dict names (``blocks.{l}.attn.W_Q`` ...), each with a
leading N axis. A vanilla model in the stack is a LIMe-kv model whose route is the identity on its
own layer and zero elsewhere, held fixed: X_h = sum_{l', h'} R[h, l', h'] raw_{l', h'} (v2 §4) is
then exactly raw_{l, h} (products with an exact 0 add exact zeros), so LIMe-kv and vanilla twins
share one stack; the optimiser never moves a frozen route (``route_trainable``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int64

from lime_lens.train.packing import DocBuckets, doc_buckets

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class StackShape:
    """The shape every model of a stack shares (read from the models' configs)."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv: int
    d_head: int
    d_mlp: int
    d_vocab: int
    eps: float
    rotary: bool
    """Rotary positions (else learned ``pos_embed.W_pos``)."""
    gqa: bool
    """K/V parameters under ``attn._W_K`` (grouped-query attention) rather than ``attn.W_K``."""


def route_name(layer: int) -> str:
    return f"blocks.{layer}.lime.route"


def identity_route(n_kv: int, layer: int, like: torch.Tensor) -> torch.Tensor:
    """The route that reads only layer ``layer``'s own heads: what a vanilla model computes."""
    route = torch.zeros(n_kv, layer + 1, n_kv, dtype=like.dtype, device=like.device)
    route[:, -1] = torch.eye(n_kv, dtype=like.dtype, device=like.device)
    return route


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """TransformerLens' RMSNorm: x / sqrt(mean(x^2) + eps) * w; w [N, d] broadcast per model."""
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w[:, None]


def pair_order(d_head: int) -> torch.Tensor:
    """Head dimensions reordered so that each GPT-NeoX rotary pair (j, j + d_head/2) is adjacent.

    q . k is unchanged when q and k share one reordering of their dimensions, so the stack
    reorders the columns of W_Q / W_K (and b_Q / b_K) and rotates adjacent pairs as complex
    numbers: one complex multiply instead of TransformerLens' rotate-half copy and three
    element-wise ops (about 3x faster forward and backward at d_head 8).
    """
    half = d_head // 2
    return torch.stack([torch.arange(half), torch.arange(half, d_head)], dim=1).reshape(-1)


def rotate(
    x: Float[torch.Tensor, "n batch pos heads d_head"],
    cis: torch.Tensor,
) -> Float[torch.Tensor, "n batch pos heads d_head"]:
    """Rotary at per-token positions on pair-ordered dimensions (:func:`pair_order`); ``cis``
    [batch, pos, d_head/2] complex holds cos + i sin of each pair's angle."""
    # complex bf16 does not exist: under bf16 autocast (CUDA) rotate in fp32, as TL's tables are
    z = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(z * cis[None, :, :, None]).flatten(-2).to(x.dtype)


def _attend_rows(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
) -> Float[torch.Tensor, "n batch pos heads d_head"]:
    """softmax(q k^T / sqrt(d_head) + mask) v over whole rows ([n, batch, pos, heads, d_head])."""
    n, b, t, h, dh = q.shape
    q, k, v = (z.permute(0, 1, 3, 2, 4).reshape(n * b, h, t, dh) for z in (q, k, v))
    z = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=mask is None, scale=dh**-0.5
    )  # [n b, h, pos, dh]
    return z.view(n, b, h, t, dh).permute(0, 1, 3, 2, 4)


def _attend_per_example(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, buckets: DocBuckets
) -> Float[torch.Tensor, "n batch pos heads d_head"]:
    """Causal attention inside each example of packed rows, one SDPA call per length bucket;
    padding positions of the rows get z = 0 (no real token reads them)."""
    n, b, t, h, dh = q.shape
    q, k, v = (z.reshape(n, b * t, h, dh) for z in (q, k, v))
    parts = []
    for index, valid in zip(buckets.gather, buckets.valid, strict=True):
        docs, longest = index.shape
        qb, kb, vb = (
            z[:, index].permute(0, 1, 3, 2, 4).reshape(n * docs, h, longest, dh) for z in (q, k, v)
        )
        zb = F.scaled_dot_product_attention(qb, kb, vb, is_causal=True, scale=dh**-0.5)
        parts.append(zb.view(n, docs, h, longest, dh).permute(0, 1, 3, 2, 4)[:, valid])
    z = q.new_zeros(n, b * t, h, dh).index_copy(1, buckets.order, torch.cat(parts, dim=1))
    return z.view(n, b, t, h, dh)


def _attention(
    p: Params,
    layer: int,
    x: Float[torch.Tensor, "n batch pos d_model"],
    kv_buffer: list[torch.Tensor],
    cis: torch.Tensor | None,
    mask: DocBuckets
    | Bool[torch.Tensor, "n_batch 1 pos pos"]
    | Float[torch.Tensor, "n_batch 1 pos pos"]
    | None,
    shape: StackShape,
) -> Float[torch.Tensor, "n batch pos d_model"]:
    n, b, t, _ = x.shape
    h, g, dh = shape.n_heads, shape.n_kv, shape.d_head
    pre, kv = f"blocks.{layer}.attn.", f"blocks.{layer}.attn.{'_' if shape.gqa else ''}"
    w_q, w_k, b_q, b_k = p[pre + "W_Q"], p[kv + "W_K"], p[pre + "b_Q"], p[kv + "b_K"]
    if cis is not None:  # rotary pairs adjacent (pair_order): q . k unchanged
        order = pair_order(dh).to(x.device)
        w_q, w_k, b_q, b_k = (z[..., order] for z in (w_q, w_k, b_q, b_k))
    w = torch.cat([w_q, w_k, p[kv + "W_V"]], dim=1)  # [n, h+2g, d, dh]
    bias = torch.cat([b_q, b_k, p[kv + "b_V"]], dim=1)  # [n, h+2g, dh]
    w = w.permute(0, 2, 1, 3).reshape(n, shape.d_model, -1)
    qkv = torch.baddbmm(bias.reshape(n, 1, -1), x.reshape(n, b * t, -1), w)
    q, k_raw, v_raw = qkv.view(n, b * t, h + 2 * g, dh).split([h, g, g], dim=2)
    # LIMe-kv (v2 §4): layer l's K/V mix the raw K/V heads of layers 0..l with R^l [g, l+1, g].
    kv_buffer.append(torch.stack([k_raw, v_raw]).permute(1, 3, 0, 2, 4).reshape(n, g, -1))
    if layer == 0:
        k, v = k_raw, v_raw
    else:
        route = p[route_name(layer)].reshape(n, g, -1)  # [n, g, (l+1) g]
        mixed = torch.bmm(route, torch.cat(kv_buffer, dim=1)).view(n, g, 2, b * t, dh)
        k, v = mixed[:, :, 0].transpose(1, 2), mixed[:, :, 1].transpose(1, 2)
    q, k, v = (z.reshape(n, b, t, -1, dh) for z in (q, k, v))
    if cis is not None:
        q, k = rotate(q, cis), rotate(k, cis)
    if g != h:  # grouped-query: query head i reads KV head i // (h / g), as TransformerLens
        k, v = k.repeat_interleave(h // g, dim=3), v.repeat_interleave(h // g, dim=3)
    if isinstance(mask, DocBuckets):
        z = _attend_per_example(q, k, v, mask).reshape(n, b * t, h * dh)
    else:
        z = _attend_rows(q, k, v, mask).reshape(n, b * t, h * dh)
    out = torch.baddbmm(p[pre + "b_O"][:, None], z, p[pre + "W_O"].reshape(n, h * dh, -1))
    return out.view(n, b, t, -1)


def _mlp(p: Params, layer: int, x: torch.Tensor, d_mlp: int) -> torch.Tensor:
    """TransformerLens' gated MLP: (silu(x W_gate) * (x W_in) + b_in) W_out + b_out."""
    n, b, t, d = x.shape
    m = f"blocks.{layer}.mlp."
    w = torch.cat([p[m + "W_gate"], p[m + "W_in"]], dim=2)  # [n, d, 2 d_mlp]
    gate, lin = torch.bmm(x.reshape(n, b * t, d), w).split(d_mlp, dim=2)
    post = F.silu(gate) * lin + p[m + "b_in"][:, None]
    return torch.baddbmm(p[m + "b_out"][:, None], post, p[m + "W_out"]).view(n, b, t, d)


def stacked_hidden(
    p: Params,
    tokens: Int64[torch.Tensor, "batch pos"],
    positions: Int64[torch.Tensor, "batch pos"],
    mask: DocBuckets | Bool[torch.Tensor, "batch 1 pos pos"] | None,
    rope_tables: tuple[torch.Tensor, torch.Tensor] | None,
    shape: StackShape,
) -> Float[torch.Tensor, "n batch pos d_model"]:
    """The residual stream after the last block (before ``ln_final``) of every model.

    ``mask`` None means plain causal rows (what ``HookedTransformer.forward`` does without an
    attention mask); packed rows pass :func:`lime_lens.train.packing.doc_buckets` (attention
    inside each example, the fast path) or the equivalent dense
    :func:`lime_lens.train.packing.block_causal_mask`.
    """
    x = p["embed.W_E"][:, tokens]  # [n, batch, pos, d_model]
    cis = None
    if rope_tables is not None:  # TransformerLens' tables: [n_ctx, dh], both halves equal
        half = rope_tables[0].shape[1] // 2
        cos, sin = rope_tables[0][positions, :half], rope_tables[1][positions, :half]
        cis = torch.complex(cos, sin)  # [batch, pos, dh/2]
    else:
        x = x + p["pos_embed.W_pos"][:, positions]
    kv_buffer: list[torch.Tensor] = []
    if isinstance(mask, torch.Tensor):  # one mask for all models and layers: [n batch, 1, t, t]
        mask = mask.expand(tokens.shape[0], 1, *mask.shape[-2:]).repeat(x.shape[0], 1, 1, 1)
        if x.device.type == "cpu":  # CPU SDPA adds a float mask ~10% faster than it reads a bool
            mask = torch.zeros(mask.shape, dtype=x.dtype).masked_fill_(~mask, float("-inf"))
    for layer in range(shape.n_layers):
        ln1 = rms_norm(x, p[f"blocks.{layer}.ln1.w"][:, None], shape.eps)
        x = x + _attention(p, layer, ln1, kv_buffer, cis, mask, shape)
        ln2 = rms_norm(x, p[f"blocks.{layer}.ln2.w"][:, None], shape.eps)
        x = x + _mlp(p, layer, ln2, shape.d_mlp)
    return x


def stacked_logits(
    p: Params, hidden: Float[torch.Tensor, "n rows d_model"], shape: StackShape
) -> Float[torch.Tensor, "n rows d_vocab"]:
    """ln_final and unembed of selected residual rows."""
    x = rms_norm(hidden, p["ln_final.w"], shape.eps)
    return torch.baddbmm(p["unembed.b_U"][:, None], x, p["unembed.W_U"])


def stacked_loss(
    p: Params,
    batch: dict[str, torch.Tensor],
    rope_tables: tuple[torch.Tensor, torch.Tensor] | None,
    shape: StackShape,
    buckets: DocBuckets | None = None,
) -> Float[torch.Tensor, " n"]:
    """Each model's mean next-token cross-entropy over the target tokens of ``batch``.

    ``batch``: ``tokens`` [rows, pos]; ``loss_mask`` [rows, pos] (True where token t is a target,
    predicted from t - 1: the step task's ``answer_mask``); optional ``positions`` and
    ``doc_ids`` of packed rows, whose ``buckets`` (:func:`doc_buckets`) the caller may pass
    (computed outside a compiled loss: its shapes depend on the data). Only predicting positions
    reach the unembedding.
    """
    tokens, loss_mask = batch["tokens"], batch["loss_mask"]
    rows, t = tokens.shape
    positions = batch.get("positions")
    if positions is None:
        positions = torch.arange(t, device=tokens.device).expand(rows, t)
    mask = buckets
    if mask is None and "doc_ids" in batch:
        mask = doc_buckets(batch["doc_ids"])
    hidden = stacked_hidden(p, tokens, positions, mask, rope_tables, shape)
    where = loss_mask[:, 1:].reshape(-1).nonzero().squeeze(1)  # predicting positions (row, t)
    rows_idx, cols = where // (t - 1), where % (t - 1)
    flat = rows_idx * t + cols
    logits = stacked_logits(p, hidden.reshape(hidden.shape[0], rows * t, -1)[:, flat], shape)
    targets = tokens[rows_idx, cols + 1]
    ce = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        targets.repeat(logits.shape[0]),
        reduction="none",
    )
    return ce.view(logits.shape[0], -1).mean(dim=1)
