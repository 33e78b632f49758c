"""HookedLIMeTransformer: a HookedTransformer whose attention layers read LIMe routes.

Everything TransformerLens offers on top of ``forward`` (to_tokens, generate with the KV cache,
run_with_cache, run_with_hooks, add_hook, ActivationCache, SAELens' HookedSAETransformer) works
unchanged; this class only replaces the blocks, the layer loop, and weight processing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.block import LIMeBlock
from lime_lens.caching import CachingHooks, PosSlice, position_axes, slice_lime_hooks
from lime_lens.config import LIMeConfig
from lime_lens.route_context import LIMeMemory
from lime_lens.router_registry import router_class
from lime_lens.serialization import load_model, save_model
from lime_lens.tl.internals import (
    USE_DEFAULT_VALUE,
    LocallyOverridenDefaults,
    Output,
    Slice,
    TransformerLensKeyValueCache,
    TypedModuleList,
    apply_softcap,
    get_device_for_block_index,
)
from lime_lens.tl.linear_layout import store_linear_weights_transposed
from lime_lens.tl.switches import check_switches, switch_refusal
from lime_lens.weight_processing import (
    check_processing_supported,
    fold_lime_norms,
    fold_routed_value_biases,
    use_pre_lime_norms,
)

_RAW_KV_HOOK_SUFFIXES = ("attn.hook_k_raw", "attn.hook_v_raw")


class HookedLIMeTransformer(HookedTransformer):
    """LIMe (arXiv 2502.09245) as a HookedTransformer; see ``LIMeConfig`` for the two modes."""

    cfg: LIMeConfig
    blocks: TypedModuleList[LIMeBlock]  # type: ignore[valid-type, assignment]

    def __init__(
        self,
        cfg: HookedTransformerConfig,  # a LIMeConfig; checked below with a ValueError that says why
        tokenizer: Any = None,
        move_to_device: bool = True,
        default_padding_side: Literal["left", "right"] | None = None,
    ):
        if not isinstance(cfg, LIMeConfig):
            raise ValueError(
                f"cfg must be a LIMeConfig, got {type(cfg).__name__}; vanilla models are "
                "plain HookedTransformer"
            )
        super().__init__(
            cfg, tokenizer, move_to_device=False, default_padding_side=default_padding_side
        )
        # The parent hard-codes TransformerBlock; swap in LIMe blocks, then redo init/move/setup.
        self.blocks = TypedModuleList([LIMeBlock(self.cfg, i) for i in range(self.cfg.n_layers)])
        if self.cfg.init_weights:
            self.init_weights()
        if move_to_device:
            self.move_model_modules_to_device()
        store_linear_weights_transposed(self)  # MLP / unembed F.linear without a per-call copy
        self.setup()

    def init_weights(self) -> None:
        """Stock init (it only touches ``W_*`` names), then the routers' own init (App. A)."""
        super().init_weights()
        for block in getattr(self, "blocks", []):
            if getattr(block, "lime", None) is not None:
                block.lime.reset_parameters()

    def check_hooks_to_add(
        self, hook_point, hook_point_name, hook, dir="fwd", is_permanent=False, prepend=False
    ) -> None:
        # LIMe hooks are always computed; no config flag gates them (unlike hook_k_input etc.).
        raw_kv = router_class(self.cfg).raw_kv_hooks and hook_point_name.endswith(
            _RAW_KV_HOOK_SUFFIXES
        )
        if ".lime." in hook_point_name or raw_kv:
            return
        super().check_hooks_to_add(hook_point, hook_point_name, hook, dir, is_permanent, prepend)

    def first_block(self, start_at_layer: int | None) -> int:
        """The first block that ``forward(input, start_at_layer=s)`` runs, as vanilla TransformerLens.

        Vanilla runs ``blocks[s:]`` on the given residual. LIMe reproduces that exactly only where
        no earlier layer is needed: s = None, 0 or -n_layers (every block, from the embedding
        residual) and s = n_layers (no block: ln_final and the unembedding alone).
        """
        n = self.cfg.n_layers
        if start_at_layer is None or start_at_layer in (0, -n):
            return 0
        if start_at_layer == n:
            return n
        raise ValueError(
            f"start_at_layer={start_at_layer} is not supported by LIMe models: layer l routes the "
            "K/V (kv mode) or residual states (residual mode) of every earlier layer, which a run "
            f"starting at layer l never computes. Supported: None, 0 or -{n} (every block, from "
            f"the embedding residual) and {n} (no block: ln_final and unembed). Use hooks or "
            "stop_at_layer instead."
        )

    def _set_refused_switch(self, switch: str, value: bool) -> None:
        if value:
            raise ValueError(switch_refusal(switch))
        setattr(self.cfg, switch, False)  # already off: LIMeConfig refuses it at construction

    def set_use_split_qkv_input(self, use_split_qkv_input: bool) -> None:
        """Refused when True (``lime_lens.tl.switches``); False is a no-op."""
        self._set_refused_switch("use_split_qkv_input", use_split_qkv_input)

    def set_use_attn_in(self, use_attn_in: bool) -> None:
        """Refused when True (``lime_lens.tl.switches``); False is a no-op."""
        self._set_refused_switch("use_attn_in", use_attn_in)

    def set_ungroup_grouped_query_attention(self, ungroup_grouped_query_attention: bool) -> None:
        """Refused when True (``lime_lens.tl.switches``); False is a no-op."""
        self._set_refused_switch("ungroup_grouped_query_attention", ungroup_grouped_query_attention)

    def get_caching_hooks(
        self,
        names_filter: Callable[[str], bool] | Sequence[str] | str | None = None,
        incl_bwd: bool = False,
        device: str | torch.device | None = None,
        remove_batch_dim: bool = False,
        cache: dict[str, torch.Tensor] | None = None,
        pos_slice: PosSlice = None,
    ) -> tuple[dict[str, torch.Tensor], CachingHooks, CachingHooks]:
        """TransformerLens' caching hooks (``run_with_cache`` builds its cache with them), except
        that ``pos_slice`` slices each LIMe hook on its own position axis (``lime_lens.caching``)."""
        device = torch.device(device) if device is not None else None
        cache, fwd, bwd = super().get_caching_hooks(
            names_filter, incl_bwd, device, remove_batch_dim, cache, pos_slice
        )
        axes = position_axes(self.blocks, self.cfg)
        resave = partial(
            slice_lime_hooks,
            axes=axes,
            cache=cache,
            pos_slice=Slice.unwrap(pos_slice),
            device=device,
            remove_batch_dim=remove_batch_dim,
        )
        return cache, resave(fwd, is_backward=False), resave(bwd, is_backward=True)

    def forward(  # type: ignore[override]
        self,
        input: str
        | list[str]
        | Int[torch.Tensor, "batch pos"]
        | Float[torch.Tensor, "batch pos d_model"],
        return_type: str | None = "logits",
        loss_per_token: bool = False,
        prepend_bos: bool | None = USE_DEFAULT_VALUE,
        padding_side: Literal["left", "right"] | None = USE_DEFAULT_VALUE,
        start_at_layer: int | None = None,
        tokens: Int[torch.Tensor, "batch pos"] | None = None,
        shortformer_pos_embed: Float[torch.Tensor, "batch pos d_model"] | None = None,
        attention_mask: torch.Tensor | None = None,
        stop_at_layer: int | None = None,
        past_kv_cache: TransformerLensKeyValueCache | None = None,
    ) -> Any:
        """Same contract as ``HookedTransformer.forward``; ``start_at_layer`` see :meth:`first_block`."""
        first = self.first_block(start_at_layer)
        check_switches(self.cfg)
        with LocallyOverridenDefaults(self, prepend_bos=prepend_bos, padding_side=padding_side):
            if start_at_layer is None:
                residual, tokens, _, attention_mask = self.input_to_embed(
                    input,
                    prepend_bos=prepend_bos,
                    padding_side=padding_side,
                    attention_mask=attention_mask,
                    past_kv_cache=past_kv_cache,
                )
            elif isinstance(input, torch.Tensor) and input.is_floating_point() and input.ndim == 3:
                residual = input
            else:
                raise ValueError(
                    f"input must be the residual stream [batch, pos, d_model] when start_at_layer "
                    f"is given (start_at_layer={start_at_layer}), got {type(input).__name__}"
                    + (f" {tuple(input.shape)}" if isinstance(input, torch.Tensor) else "")
                )
            memory = LIMeMemory()
            for i, block in list(enumerate(self.blocks))[first:stop_at_layer]:
                residual = block(
                    residual.to(get_device_for_block_index(i, self.cfg)),
                    memory,
                    past_kv_cache_entry=past_kv_cache[i] if past_kv_cache is not None else None,
                    attention_mask=attention_mask,
                )  # [batch, pos, d_model]
            if stop_at_layer is not None:
                return residual
            return self._unembed_and_loss(
                residual, return_type, tokens, attention_mask, loss_per_token
            )

    def _unembed_and_loss(
        self,
        residual: Float[torch.Tensor, "batch pos d_model"],
        return_type: str | None,
        tokens: Int[torch.Tensor, "batch pos"] | None,
        attention_mask: torch.Tensor | None,
        loss_per_token: bool,
    ) -> Any:
        if self.cfg.normalization_type is not None:
            residual = self.ln_final(residual)
        if return_type is None:
            return None
        logits = apply_softcap(self.unembed(residual), self.cfg.output_logits_soft_cap)
        if return_type == "logits":
            return logits
        if tokens is None:
            raise ValueError("tokens must be passed in if return_type is 'loss' or 'both'")
        loss = self.loss_fn(logits, tokens, attention_mask, per_token=loss_per_token)
        if return_type == "loss":
            return loss
        if return_type == "both":
            return Output(logits, loss)
        raise ValueError(f"Invalid return_type {return_type!r}")

    def load_and_process_state_dict(
        self,
        state_dict: dict[str, torch.Tensor],
        fold_ln: bool = True,
        center_writing_weights: bool = True,
        center_unembed: bool = True,
        fold_value_biases: bool = True,
        refactor_factored_attn_matrices: bool = False,
    ) -> None:
        """Stock processing where it is exact for LIMe, a LIMe fold where it is not, else refuse."""
        router = router_class(self.cfg)
        check_processing_supported(router, self.cfg, fold_ln, refactor_factored_attn_matrices)
        missing = sorted(k for k in self.state_dict() if ".lime." in k and k not in state_dict)
        if missing:  # TransformerLens' fill_missing_keys would silently re-initialise them
            raise ValueError(f"state_dict lacks LIMe router weights {missing}")
        routed_fold = fold_value_biases and router.value_bias_fold == "routed"
        lime_norm_fold = (
            fold_ln
            and router.ln_fold == "lime_norm"
            and self.cfg.normalization_type in ("LN", "RMS")
        )
        if lime_norm_fold:
            state_dict = fold_lime_norms(state_dict, self.cfg, router)
        super().load_and_process_state_dict(
            state_dict,
            fold_ln=fold_ln,
            center_writing_weights=center_writing_weights,
            center_unembed=center_unembed,
            fold_value_biases=fold_value_biases and not routed_fold,
            refactor_factored_attn_matrices=refactor_factored_attn_matrices,
        )
        if routed_fold:
            fold_routed_value_biases(self)
        if lime_norm_fold:  # the parent swapped ln1/ln2/ln_final to *Pre; the LIMe norms follow
            use_pre_lime_norms(self)
            self.setup()

    def save_pretrained(
        self, path: str | os.PathLike[str], extra_json: dict[str, dict[str, Any]] | None = None
    ) -> None:
        """Atomic safetensors + JSON folder (``lime_lens.serialization``)."""
        save_model(self, path, extra_json)

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        path: str | os.PathLike[str],
        device: str | torch.device | None = None,
        tokenizer: Any = None,
        **hub_kwargs: Any,
    ) -> HookedLIMeTransformer:
        """Load a folder written by :meth:`save_pretrained`; missing/extra/misshapen keys raise.

        Unlike ``HookedTransformer.from_pretrained`` this reads no hub model and processes no
        weights (call ``process_weights_`` after loading); hub options raise a ValueError.
        """
        if hub_kwargs:
            raise ValueError(
                f"{cls.__name__}.from_pretrained(path, device, tokenizer) loads a save_pretrained "
                f"folder; TransformerLens hub options {sorted(hub_kwargs)} do not apply"
            )
        return load_model(path, cls, LIMeConfig, device=device, tokenizer=tokenizer)
