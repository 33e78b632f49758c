"""HookedLIMeTransformer: a HookedTransformer whose attention layers read LIMe routes.

Everything TransformerLens offers on top of ``forward`` (to_tokens, generate with the KV cache,
run_with_cache, run_with_hooks, add_hook, ActivationCache, SAELens' HookedSAETransformer) works
unchanged; this class only replaces the blocks, the layer loop, and weight processing.
"""

from __future__ import annotations

import os
from typing import Any, Literal, cast

import torch
from jaxtyping import Float, Int
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.block import LIMeBlock, LIMeMemory
from lime_lens.config import LIMeConfig
from lime_lens.router_registry import router_class
from lime_lens.serialization import load_model, save_model
from lime_lens.tl_internals import (
    USE_DEFAULT_VALUE,
    LocallyOverridenDefaults,
    Output,
    TransformerLensKeyValueCache,
    TypedModuleList,
    apply_softcap,
    get_device_for_block_index,
)
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
        """Same contract as ``HookedTransformer.forward``, except ``start_at_layer`` must be 0/None."""
        if start_at_layer is not None and start_at_layer % self.cfg.n_layers != 0:
            raise ValueError(
                f"start_at_layer={start_at_layer} is not supported by LIMe models: layer l routes "
                "the K/V (kv mode) or residual states (residual mode) of every earlier layer, which "
                "a run starting at layer l never computes. Run from the embedding (start_at_layer "
                "None or 0) and use hooks or stop_at_layer instead."
            )
        with LocallyOverridenDefaults(self, prepend_bos=prepend_bos, padding_side=padding_side):
            if start_at_layer is None:
                residual, tokens, _, attention_mask = self.input_to_embed(
                    input,
                    prepend_bos=prepend_bos,
                    padding_side=padding_side,
                    attention_mask=attention_mask,
                    past_kv_cache=past_kv_cache,
                )
            else:
                residual = cast(torch.Tensor, input)
            memory = LIMeMemory()
            for i, block in list(enumerate(self.blocks))[:stop_at_layer]:
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
