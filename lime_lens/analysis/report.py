"""Run the whole analysis toolkit on a LIMe model and its vanilla baseline, and print the figures.

    python -m lime_lens.analysis.report --lime DIR --baseline DIR [--dynamic DIR] [--out DIR]

``DIR`` are folders written by ``lime_lens.serialization.save_model`` (or ``save_pretrained``).
``--dynamic`` is a residual-mode dynamic-router LIMe model for the depthwise circuits (only that
router has them); if ``--lime`` is itself dynamic it is used. Without ``--lime``/``--baseline``
the shipped tiny models (``lime_lens.assets.load_tiny_lime_model`` / ``load_tiny_baseline_model``,
and ``load_tiny_dynamic_model`` for the circuits) are used when present. Any model still missing is trained in-process for ``--train-steps`` steps
on the embedded corpus (a placeholder). Figures and CSV tables go to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens import HookedLIMeTransformer, LIMeConfig
from lime_lens.analysis import plots
from lime_lens.analysis.attribution import decompose_kv_input, route_ablation_table
from lime_lens.analysis.circuits import depthwise_circuits
from lime_lens.analysis.entropy import StateKind, entropy_per_layer
from lime_lens.analysis.probe import token_separability
from lime_lens.analysis.routing import is_dynamic, mean_abs_routes, routing_heatmaps
from lime_lens.assets import load_gpt2_tokenizer, load_token_dataset, load_tokenizer
from lime_lens.serialization import load_model


def _tokenizer_for(d_vocab: int):
    """The embedded tokenizer with ``d_vocab`` entries (BPE-4096 or GPT-2), else None."""
    return next((t for t in (load_tokenizer(), load_gpt2_tokenizer()) if len(t) == d_vocab), None)


def load_saved_model(path: str | Path) -> HookedTransformer:
    """A saved LIMe or vanilla model (class from ``config.json``), embedded tokenizer attached."""
    config_class = json.loads((Path(path) / "config.json").read_text()).get("config_class")
    lime = config_class == "LIMeConfig"
    cls, cfg_cls = (
        (HookedLIMeTransformer, LIMeConfig)
        if lime
        else (HookedTransformer, HookedTransformerConfig)
    )
    d_vocab = json.loads((Path(path) / "config.json").read_text())["config"]["d_vocab"]
    return load_model(path, cls, cfg_cls, tokenizer=_tokenizer_for(d_vocab)).eval()


def shipped_model(which: str) -> HookedTransformer | None:
    """The shipped tiny ``"lime"`` (kv), ``"vanilla"`` or ``"dynamic"`` model, or None if absent."""
    try:
        from lime_lens.assets import pretrained
    except ImportError:
        return None
    # "dynamic": the shipped residual-dynamic model, used for the depthwise circuits
    loader = {
        "lime": "load_tiny_lime_model",
        "vanilla": "load_tiny_baseline_model",
        "dynamic": "load_tiny_dynamic_model",
    }[which]
    try:
        return getattr(pretrained, loader)()
    except (AttributeError, FileNotFoundError):
        return None


def resolve_model(
    path: str | None, which: str, arch: str, train_steps: int
) -> tuple[HookedTransformer, str]:
    """(model, where it came from): a saved folder, else the shipped ``which`` model ("lime",
    "vanilla" or "dynamic"), else ``arch`` trained in-process (:func:`train_stand_in`)."""
    if path:
        return load_saved_model(path), path
    model = shipped_model(which)
    if model is not None:
        return model, f"shipped lime_lens.assets tiny {which} model"
    return train_stand_in(arch, train_steps), f"{arch} trained in-process ({train_steps} steps)"


@functools.lru_cache(maxsize=4)
def token_rows(split: Literal["train", "validation"], context_size: int) -> torch.Tensor:
    """Rows of the embedded corpus (BPE-4096, BOS first) as an int64 tensor [n_rows, context_size]."""
    return load_token_dataset(split, context_size=context_size)[:]["tokens"]


def train_stand_in(arch: str, steps: int = 60, seed: int = 0) -> HookedTransformer:
    """``arch`` ("vanilla", "lime-kv", "lime-residual-dynamic", ...) built and trained with the
    shipped tiny recipe (``lime_lens.train.tiny_recipe``), truncated to ``steps`` steps."""
    from lime_lens.train import TrainConfig, train
    from lime_lens.train.architectures import ModelShape, build_model
    from lime_lens.train.tiny_recipe import (
        TINY_CONTEXT_SIZE,
        TINY_SHAPE,
        TINY_TRAIN,
        matched_baseline_shape,
    )

    tokenizer = load_tokenizer()
    shape = matched_baseline_shape(len(tokenizer)) if arch == "vanilla" else TINY_SHAPE
    model = build_model(arch, ModelShape(**shape), len(tokenizer), seed=seed, tokenizer=tokenizer)
    recipe: dict[str, Any] = {
        **TINY_TRAIN,
        "max_steps": steps,
        "warmup_steps": max(1, steps // 10),
        "eval_interval": 0,
    }
    train(
        model,
        TrainConfig(**recipe, seed=seed, progress=False),
        token_rows("train", TINY_CONTEXT_SIZE),
    )
    return model.eval()


def entropy_tables(
    models: dict[str, HookedTransformer], tokens: torch.Tensor, alpha: float = 0.5
) -> dict[str, pd.DataFrame]:
    """Entropy per layer of pre-routing values, post-routing values and residual states."""
    kinds: tuple[StateKind, ...] = ("values_pre", "values_post", "resid")
    return {
        name: pd.concat([entropy_per_layer(m, tokens, k, alpha) for k in kinds])
        for name, m in models.items()
    }


def probe_tables(
    models: dict[str, HookedTransformer], tokens: torch.Tensor, epochs: int = 1
) -> dict[str, pd.DataFrame]:
    """The paper's is/are/was/were probe on post-routing values and residual states."""
    return {
        name: pd.concat(
            [
                token_separability(m, tokens, states=k, epochs=epochs)
                for k in ("values_post", "resid")
            ]
        )
        for name, m in models.items()
    }


def _wide(tables: dict[str, pd.DataFrame], col: str) -> pd.DataFrame:
    """One row per layer, one column per (model, states)."""
    frames = [t.assign(model=name) for name, t in tables.items()]
    return (
        pd.concat(frames)
        .pivot_table(index="layer", columns=["model", "states"], values=col)
        .round(3)
    )


def _circuit_readouts(model: HookedTransformer, tokens: torch.Tensor, n: int = 6) -> pd.DataFrame:
    """Depthwise circuits of the routes with the highest corpus prior that are not self-routes."""
    prior = mean_abs_routes(model, tokens)
    table = depthwise_circuits(model, k=8, prior=prior)
    table = table[table.source != table.layer].sort_values("prior", ascending=False)
    return table.head(n)[["layer", "head", "source", "prior", "token_strs"]]


def _route_sae_sweep(
    lime: HookedTransformer, layer: int, head: int, sae_rows: torch.Tensor
) -> pd.DataFrame:
    """A HierarchicalTopK SAE on one head's route (the most ablation-sensitive), swept over
    budgets 1, 2, 4, 8."""
    import datasets

    from lime_lens.analysis.sae_on_routes import (  # imports SAELens
        sweep_route_sae,
        train_route_sae,
    )

    ds = datasets.Dataset.from_dict({"tokens": sae_rows.numpy()}).with_format("torch")
    ctx = sae_rows.shape[1]
    sae = train_route_sae(
        lime,
        ds,
        layer=layer,
        head=head,
        d_sae=64,
        k=8,
        training_tokens=60_000,
        context_size=ctx,
        train_batch_size_tokens=512,
    )
    return sweep_route_sae(sae, lime, ds, [1, 2, 4, 8], context_size=ctx)


def run_report(
    lime: HookedTransformer,
    baseline: HookedTransformer,
    dynamic: HookedTransformer | None,
    tokens: torch.Tensor,
    out: Path,
    probe_rows: torch.Tensor,
    sae_rows: torch.Tensor | None = None,
    probe_epochs: int = 1,
) -> dict[str, Any]:
    """Every ``lime_lens.analysis`` tool on (lime, baseline); figures and tables are written to ``out``.

    ``tokens``: analysis corpus (entropy, routing, ablation); ``probe_rows``: a larger corpus for
    the probe (the embedded validation split has only 39 " are"); ``sae_rows``: SAE training rows.
    """
    out.mkdir(parents=True, exist_ok=True)
    models = {"LIMe": lime, "vanilla": baseline}
    result: dict[str, Any] = {}
    ent = entropy_tables(models, tokens)
    plots.plot_entropy_per_layer(ent).savefig(out / "entropy_per_layer.png", dpi=120)
    result["entropy"] = _wide(ent, "entropy_mean")
    result["entropy_std"] = _wide(ent, "entropy_std")
    probe = probe_tables(models, probe_rows, probe_epochs)
    plots.plot_probe_accuracy(probe).savefig(out / "probe_accuracy.png", dpi=120)
    result["probe"] = _wide(probe, "accuracy_mean")
    maps = routing_heatmaps(mean_abs_routes(lime, tokens[:16]), lime.cfg.n_layers)
    plots.plot_routing_heatmap(maps).savefig(out / "routing_heatmap.png", dpi=120)
    plots.plot_routing_per_head(maps).savefig(out / "routing_per_head.png", dpi=120)
    result["routing_per_layer"] = pd.DataFrame(maps.per_layer.numpy()).round(3)
    ablation = route_ablation_table(lime, tokens[:16])
    plots.plot_route_ablation(ablation).savefig(out / "route_ablation.png", dpi=120)
    result["ablation_top"] = ablation.head(10)
    top = ablation.iloc[0]
    parts, _ = decompose_kv_input(lime, tokens[:4], int(top.layer), int(top["head"]), "v")
    plots.plot_kv_decomposition(parts, f"layer {top.layer} head {top['head']}").savefig(
        out / "kv_decomposition.png", dpi=120
    )
    if dynamic is not None:
        result["circuits"] = _circuit_readouts(dynamic, tokens[:32])
    if sae_rows is not None:
        result["sae_sweep"] = _route_sae_sweep(lime, int(top.layer), int(top["head"]), sae_rows)
        plots.plot_budget_sweep(result["sae_sweep"]).savefig(out / "sae_budget_sweep.png", dpi=120)
    for name, table in result.items():
        table.to_csv(out / f"{name}.csv")
    return result


def main(argv: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")  # the CLI only writes figures to files; set here, not at import
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lime", help="saved LIMe model folder")
    parser.add_argument("--baseline", help="saved vanilla baseline folder")
    parser.add_argument("--dynamic", help="saved residual-dynamic LIMe model folder (circuits)")
    parser.add_argument(
        "--train-steps", type=int, default=120, help="steps for models trained in-process"
    )
    parser.add_argument("--n-seq", type=int, default=256, help="validation rows analysed")
    parser.add_argument(
        "--probe-rows", type=int, default=6000, help="train rows searched for probe words"
    )
    parser.add_argument("--probe-epochs", type=int, default=1, help="probe epochs (paper: 1)")
    parser.add_argument("--no-sae", action="store_true", help="skip the SAE on a route hook")
    parser.add_argument("--out", default="lime_analysis_report", help="output folder")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    lime, lime_src = resolve_model(args.lime, "lime", "lime-kv", args.train_steps)
    baseline, base_src = resolve_model(args.baseline, "vanilla", "vanilla", args.train_steps)
    dynamic, dyn_src = (
        (lime, lime_src)
        if is_dynamic(lime)
        else resolve_model(args.dynamic, "dynamic", "lime-residual-dynamic", args.train_steps)
    )
    n_ctx = lime.cfg.n_ctx
    tokens = token_rows("validation", min(n_ctx, 128))[: args.n_seq]
    train_rows = token_rows("train", min(n_ctx, 128))
    sae_rows = None if args.no_sae else train_rows[-2000:]
    sources = {"lime": lime_src, "baseline": base_src, "dynamic (circuits)": dyn_src}
    print(
        "models:", json.dumps(sources), f"\nanalysis corpus: {tuple(tokens.shape)} validation rows"
    )
    result = run_report(
        lime,
        baseline,
        dynamic,
        tokens,
        Path(args.out),
        train_rows[: args.probe_rows],
        sae_rows,
        args.probe_epochs,
    )
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.max_colwidth", 90
    ):
        for name, table in result.items():
            print(f"\n## {name}\n{table.to_string()}")
    print(f"\nfigures and tables in {args.out}/")


if __name__ == "__main__":
    main()
