"""The fused-attention path for vanilla HookedTransformers: the stock attention classes, one level down.

``use_fused_attention(model)`` swaps each block's ``Attention`` / ``GroupedQueryAttention`` for the
subclass below, in place: the new module takes over the old one's very Parameter and buffer
objects, so weights, devices, dtypes, state-dict keys and optimiser references are unchanged. It
works on any HookedTransformer (``HookedSAETransformer`` included); the models this package builds
and loads (``lime_lens.train.architectures.build_model``, ``lime_lens.assets``) call it.
A LIMe model's attention already has the fused path; for it the call only sets ``cfg.attn_impl``.
"""

from __future__ import annotations

from typing import TypeVar

from transformer_lens import HookedTransformer

from lime_lens.tl.fused_attention import FusedAttention, check_attn_impl
from lime_lens.tl.internals import Attention, GroupedQueryAttention
from lime_lens.tl.linear_layout import store_linear_weights_transposed

M = TypeVar("M", bound=HookedTransformer)


class SDPAAttention(FusedAttention, Attention):
    """Multi-head attention; fused (``lime_lens.tl.fused_attention``) under ``attn_impl``."""


class SDPAGroupedQueryAttention(FusedAttention, GroupedQueryAttention):
    """Grouped-query attention; fused (``lime_lens.tl.fused_attention``) under ``attn_impl``."""


_FUSED: dict[type, type[SDPAAttention | SDPAGroupedQueryAttention]] = {
    Attention: SDPAAttention,
    GroupedQueryAttention: SDPAGroupedQueryAttention,
}


def _fused_copy(
    attn: Attention | GroupedQueryAttention,
) -> SDPAAttention | SDPAGroupedQueryAttention:
    fused_cls = _FUSED[type(attn)]
    new: SDPAAttention | SDPAGroupedQueryAttention = fused_cls(
        attn.cfg, attn.attn_type, attn.layer_id
    )
    # assign=True: take the old Parameter/buffer objects themselves (device, dtype, identity)
    new.load_state_dict(attn.state_dict(keep_vars=True), strict=True, assign=True)
    for name, buffer in attn.named_buffers(recurse=False):  # non-persistent ones too
        setattr(new, name, buffer)
    new.train(attn.training)
    return new


def use_fused_attention(model: M, attn_impl: str = "auto") -> M:
    """``model`` with every attention layer on the fused path under ``attn_impl`` (in place).

    Vanilla blocks get :class:`SDPAAttention` / :class:`SDPAGroupedQueryAttention`; attention
    already fused (a LIMe model's) only gets ``attn_impl``, which LIMe keeps in ``cfg.attn_impl``.
    Attention classes of other variants raise a ValueError.
    Call it before adding hooks: hooks already on a swapped module stay on the old one.
    """
    check_attn_impl(attn_impl)
    for i, block in enumerate(model.blocks):  # refuse before swapping anything
        if not isinstance(block.attn, FusedAttention) and type(block.attn) not in _FUSED:
            raise ValueError(
                f"blocks.{i}.attn is a {type(block.attn).__name__}; use_fused_attention handles "
                "Attention, GroupedQueryAttention and FusedAttention subclasses (LIMe's among them)"
            )
    for block in model.blocks:
        if type(block.attn) in _FUSED:
            block.attn = _fused_copy(block.attn)
        assert isinstance(block.attn, FusedAttention)  # checked above
        block.attn.attn_impl = attn_impl  # a LIMe attention writes it to the model's cfg
    store_linear_weights_transposed(model)  # as LIMe models: no weight copy per MLP / unembed call
    model.setup()
    return model
