"""Demo on the embedded default model and corpus: both halves of the library, offline.

    python demo.py          # a few minutes on CPU; writes outputs/demo/

1. The default model: its validation loss measured now against the value recorded when it was
   trained, and a greedy continuation of a prompt.
2. HierarchicalTopK (saelens_hierarchical), reduced scale: one hierarchical_topk SAE at K = 16
   and its peers (TopK at each budget, Multi-TopK) trained by SAELens on identical activations
   of the default model, swept over budgets 2..16 with SAELens run_evals, plus the same SAE with
   adaptive per-token budgets at mean L0 2..16; a tidy table, the per-budget EV differences and
   the frontier plot. BatchTopK and Matryoshka-BatchTopK are left out of the demo: in its 98
   steps their thresholds do not converge (L0 far above k); ``compare --scale adaptive`` trains
   BatchTopK until they do.
3. LIMe (lime_lens): the shipped tiny LIMe-kv model and its equal-size vanilla baseline, their
   validation losses, and the mean |R| routing weights per (target layer, source layer).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything below is embedded; never touch the hub
# The libraries' progress bars cannot show this demo's progress (SAELens's multi-SAE bar moves
# every 100 steps, the demo trains 98; its norm-estimate and eval bars nest one per SAE), so
# they stay silent and the demo says what runs and how long it took. tqdm reads this at import.
os.environ["TQDM_DISABLE"] = "1"
# SAELens and TransformerLens warn about hub-loading advice and HookedTransformer's deprecation,
# neither of which applies to embedded models; keep the demo's output to its results.
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402

from lime_lens.assets import default_model_metrics, load_default_model, load_token_dataset  # noqa: E402

OUT_DIR = Path("outputs/demo")
PROMPT = "It is a truth universally acknowledged, that"


def validation_loss(model) -> float:
    """Mean next-token loss on the whole validation split (432 rows of 128 tokens), as recorded."""
    context_size = default_model_metrics()["context_size"]
    tokens = load_token_dataset("validation", context_size=context_size)[:]["tokens"]
    with torch.no_grad():
        losses = [
            model(batch, return_type="loss").item() * len(batch) for batch in tokens.split(16)
        ]
    return sum(losses) / len(tokens)


def greedy_generation(model, prompt: str = PROMPT, max_new_tokens: int = 40) -> str:
    torch.manual_seed(0)
    return model.generate(prompt, max_new_tokens=max_new_tokens, do_sample=False, verbose=False)


def section_default_model() -> dict:
    """Load the default model, re-measure its validation loss, generate from a prompt."""
    start = time.perf_counter()
    model = load_default_model()
    recorded = default_model_metrics()
    measured = validation_loss(model)
    text = greedy_generation(model)
    result = {
        "model": f"{model.cfg.n_layers}-layer LLaMA-style HookedTransformer, d_model {model.cfg.d_model}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters",
        "val_loss_measured_now": measured,
        "val_loss_recorded": recorded["val_loss"],
        "val_perplexity_recorded": recorded["val_perplexity"],
        "prompt": PROMPT,
        "greedy_generation": text,
        "seconds": time.perf_counter() - start,
    }
    print(f"[default model] {result['model']}")
    print(f"  validation loss now: {measured:.4f} (perplexity {math.exp(measured):.1f})")
    print(f"  validation loss recorded at training time: {recorded['val_loss']:.4f}")
    print(f"  greedy generation: {text!r}")
    return result


def scale_sentence(differences, cfg) -> str:
    """What the EV differences mean at the demo's scale, and where the full results are."""
    ev = differences[differences["metric"] == "explained_variance"]
    behind = [int(k) for k in ev.loc[ev["difference"] < 0, "budget"]]
    # SAELens trains while fewer samples than training_tokens have been seen: a last partial step.
    steps = math.ceil(cfg.baselines.training_tokens / cfg.baselines.train_batch_size_tokens)
    where = f"at k = {', '.join(map(str, behind))}" if behind else "at no budget"
    return (
        f"  At the demo's scale (one seed, {steps} training steps, d_sae {cfg.baselines.d_sae}) "
        f"the one HierarchicalTopK SAE explains less variance than a TopK SAE trained for the "
        f"budget {where}; runs this short are a smoke test of the pipeline, not a measurement, "
        f"and the full comparison (seeds, longer training, larger dictionaries, three data "
        f"sources) is on the docs results page, docs/results.md."
    )


def section_hierarchical_topk() -> dict:
    """Train hierarchical_topk + peers on the default model, sweep budgets, plot the frontier."""
    from saelens_hierarchical.study.cli import run_default  # the embedded model and corpus
    from saelens_hierarchical.study.comparison import demo_config
    from saelens_hierarchical.study.peers import PEERS

    start, cfg = time.perf_counter(), demo_config()
    base = cfg.baselines
    trained = {m: PEERS[m].trained_ks(base.K, base.budgets) for m in base.methods}
    plan = "; ".join(f"{m} at k = {', '.join(map(str, ks))}" for m, ks in trained.items())
    print(
        f"\n[HierarchicalTopK] training {sum(map(len, trained.values()))} SAEs of d_sae "
        f"{base.d_sae} ({plan}) on {base.training_tokens:,} tokens of the default model's "
        f"activations, then sweeping budgets {base.budgets} ...",
        flush=True,
    )
    run = run_default(OUT_DIR / "hierarchical_topk", cfg)
    print(f"  done in {time.perf_counter() - start:.0f} s")
    print("  EV(hierarchical at k) - EV(TopK trained at k):")
    print(run.differences.to_string(index=False))
    print(scale_sentence(run.differences, cfg))
    adaptive = run.table[run.table["method"].str.startswith("adaptive_")]
    print("  the same SAE with adaptive per-token budgets (target mean L0 = budget):")
    print(
        adaptive[["method", "budget", "l0", "explained_variance", "ce_loss_score"]].to_string(
            index=False
        )
    )
    files = ("table_csv", "table_json", "differences_csv", "plot_png", "plot_html")
    for key in files:
        print(f"  {key}: {Path(getattr(run, key)).resolve()}")
    return {
        "differences": run.differences.to_dict(orient="records"),
        "adaptive": adaptive.to_dict(orient="records"),
        **{key: str(getattr(run, key)) for key in files},
        "seconds": time.perf_counter() - start,
    }


def section_lime() -> dict:
    """The shipped tiny LIMe-kv model against its equal-size vanilla baseline."""
    from lime_lens.analysis.plots import plot_routing_heatmap
    from lime_lens.analysis.routing import routing_heatmaps_for
    from lime_lens.assets import load_tiny_baseline_model, load_tiny_lime_model, tiny_model_metrics

    start = time.perf_counter()
    lime, base = load_tiny_lime_model(), load_tiny_baseline_model()
    heatmaps = routing_heatmaps_for(lime)
    fig = plot_routing_heatmap(heatmaps, title="tiny LIMe-kv: mean |R| per source layer")
    png = OUT_DIR / "lime_routing_heatmap.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    result = {
        "lime_params": sum(p.numel() for p in lime.parameters()),
        "baseline_params": sum(p.numel() for p in base.parameters()),
        "lime_val_loss_recorded": tiny_model_metrics("lime")["val_loss"],
        "baseline_val_loss_recorded": tiny_model_metrics("vanilla")["val_loss"],
        "routing_per_layer": [
            [round(float(v), 3) for v in row] for row in heatmaps.per_layer.nan_to_num(0.0).tolist()
        ],
        "routing_heatmap_png": str(png),
        "seconds": time.perf_counter() - start,
    }
    print(
        f"\n[LIMe] tiny LIMe-kv ({result['lime_params']:,} params) val loss "
        f"{result['lime_val_loss_recorded']:.4f} vs vanilla baseline ({result['baseline_params']:,} "
        f"params) {result['baseline_val_loss_recorded']:.4f}"
    )
    print(f"  routing heatmap (rows: target layer, cols: source layer): {png.resolve()}")
    return result


def main() -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    # SAELens warns that a run with an in-memory model and dataset cannot be rebuilt from its
    # config alone; the demo's are the embedded ones, so the warning says nothing here.
    logging.getLogger("sae_lens").setLevel(logging.ERROR)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results = {
        "default_model": section_default_model(),
        "hierarchical_topk": section_hierarchical_topk(),
        "lime": section_lime(),
    }
    out = OUT_DIR / "results.json"
    out.write_text(json.dumps(results, indent=2))
    (OUT_DIR / "generation.txt").write_text(results["default_model"]["greedy_generation"] + "\n")
    print(f"\nwrote {out.resolve()} and {(OUT_DIR / 'generation.txt').resolve()}")


if __name__ == "__main__":
    main()
