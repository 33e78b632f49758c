"""The models the CLI trains: a LLaMA-style vanilla baseline and the LIMe variants (paper v1/v2).

All share one LLaMA-style shape (RMSNorm, rotary, gated SiLU MLP, grouped-query attention) so a
LIMe model and its baseline differ only by the router parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformers import PreTrainedTokenizerBase

from lime_lens.router_registry import router_entries, source_router_entries
from lime_lens.tl.vanilla_attention import use_fused_attention

_SOURCE_ARCH = re.compile(
    r"^(?P<base>lime-.+)-(?:(?P<average>average)|(?P<kind>last|first)(?P<j>\d+))$"
)


def lime_arches() -> dict[str, tuple[str, str]]:
    """``"lime-{name}"`` -> ``(lime_mode, lime_lookup)`` for every registered router."""
    return {f"lime-{entry.name}": key for key, entry in router_entries().items()}


def source_arches(js: tuple[int, ...] = (2, 4, 6)) -> dict[str, tuple[str, str, int]]:
    """The routing ablations (paper v2 App. D, Table 7) as arch names: ``"lime-kv-average"``,
    ``"lime-kv-last{j}"``, ``"lime-kv-first{j}"`` -> ``(base arch, lime_sources, lime_sources_j)``
    for the static router of every mode with restricted-source routers, j in ``js``."""
    arches: dict[str, tuple[str, str, int]] = {}
    for base, (mode, lookup) in lime_arches().items():
        kinds = {sources for m, sources in source_router_entries() if m == mode}
        if lookup != "static":
            continue
        if "average" in kinds:
            arches[f"{base}-average"] = (base, "average", 2)
        for kind in ("last", "first"):
            if f"{kind}_j" in kinds:
                arches.update({f"{base}-{kind}{j}": (base, f"{kind}_j", j) for j in js})
    return arches


def parse_source_arch(arch: str) -> tuple[str, str, int]:
    """``(base arch, lime_sources, lime_sources_j)`` of an arch name; "full" for plain names.

    Any j >= 1 parses (``"lime-kv-last3"``), not only the names :func:`source_arches` lists.
    """
    match = _SOURCE_ARCH.match(arch)
    if match is None or match["base"] not in lime_arches():
        return arch, "full", 2
    if match["average"]:
        return match["base"], "average", 2
    return match["base"], f"{match['kind']}_j", int(match["j"])


ARCHES = ("vanilla", *lime_arches())
"""The built-in architectures; build_model also accepts routers registered later, the routing
ablations of :func:`source_arches` and ``"{lime arch}-last{j}"`` / ``-first{j}`` for any j."""


@dataclass
class ModelShape:
    """Sizes of a LLaMA-style model (defaults: the embedded default model)."""

    n_layers: int = 4
    """Transformer blocks."""
    d_model: int = 128
    """Residual stream width."""
    n_heads: int = 4
    """Query heads."""
    n_key_value_heads: int | None = 2
    """K/V heads (grouped-query attention); None means one per query head."""
    d_head: int = 32
    """Width of one head."""
    d_mlp: int = 384
    """Hidden width of the gated MLP."""
    n_ctx: int = 256
    """Longest context the rotary tables cover."""

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "n_ctx"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelShape.{name} must be >= 1, got {getattr(self, name)}")
        kv = self.n_key_value_heads
        if kv is not None and (kv < 1 or self.n_heads % kv):
            raise ValueError(
                f"ModelShape.n_key_value_heads={kv} must divide n_heads={self.n_heads}"
            )


def llama_config_kwargs(shape: ModelShape, d_vocab: int, seed: int) -> dict[str, Any]:
    """HookedTransformerConfig arguments of a LLaMA-style model of ``shape``."""
    return dict(
        n_layers=shape.n_layers,
        d_model=shape.d_model,
        n_heads=shape.n_heads,
        n_key_value_heads=shape.n_key_value_heads,
        d_head=shape.d_head,
        d_mlp=shape.d_mlp,
        n_ctx=shape.n_ctx,
        d_vocab=d_vocab,
        act_fn="silu",
        gated_mlp=True,
        normalization_type="RMS",
        final_rms=True,
        positional_embedding_type="rotary",
        rotary_dim=shape.d_head,
        rotary_adjacent_pairs=False,
        eps=1e-5,
        seed=seed,
        original_architecture="LlamaForCausalLM",
    )


def build_model(
    arch: str,
    shape: ModelShape,
    d_vocab: int,
    seed: int = 0,
    tokenizer: PreTrainedTokenizerBase | None = None,
    lime_top_p: float = 0.9,
    device: str = "cpu",
    lime_sources: str = "full",
    lime_sources_j: int = 2,
) -> HookedTransformer:
    """A freshly initialised (seeded) model: HookedTransformer or lime_lens.HookedLIMeTransformer.

    ``lime_sources`` / ``lime_sources_j``: the LIMeConfig fields of the routing ablations (paper
    v2 App. D), e.g. ``build_model("lime-kv", ..., lime_sources="last_j", lime_sources_j=2)``,
    which is also ``build_model("lime-kv-last2", ...)`` (see :func:`source_arches`).
    """
    lime = lime_arches()
    if lime_sources == "full":
        arch, lime_sources, parsed_j = parse_source_arch(arch)
        lime_sources_j = parsed_j if lime_sources != "full" else lime_sources_j
    if arch != "vanilla" and arch not in lime:
        raise ValueError(f"arch must be one of {('vanilla', *lime)}, got {arch!r}")
    if arch == "vanilla" and lime_sources != "full":
        raise ValueError(f"lime_sources={lime_sources!r} needs a LIMe arch, got arch='vanilla'")
    kwargs = {**llama_config_kwargs(shape, d_vocab, seed), "device": device}
    if arch == "vanilla":  # fused attention where no pattern hook is attached, as LIMe models
        model = HookedTransformer(HookedTransformerConfig(**kwargs), tokenizer=tokenizer)
        return use_fused_attention(model)
    from lime_lens import HookedLIMeTransformer, LIMeConfig

    mode, lookup = lime[arch]
    cfg = LIMeConfig(
        **kwargs,
        lime_mode=mode,
        lime_lookup=lookup,
        lime_top_p=lime_top_p,
        lime_sources=lime_sources,
        lime_sources_j=lime_sources_j,
    )
    return HookedLIMeTransformer(cfg, tokenizer=tokenizer)


def count_params(model: HookedTransformer) -> int:
    """Trainable parameters (what "equal parameter count" compares)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
