""" "Where it fails, and why" and the SmolLM2 caveats of ``htopk_pareto.md``: the reasoning is
fixed text, every number in it is read from the runs' JSON (``main_runs``)."""

from __future__ import annotations

from experiments.htopk_pareto.main_runs import HIER, TOPK, Run, k_class, load_run, source_runs
from experiments.htopk_pareto.render_main import PAPER_D_SAE, signed, span

EV = "explained_variance"


def _fvu(run: Run, method: str, k: int) -> float:
    return 1 - run.value(method, k, EV)


def _rel(run: Run, k: int) -> float:
    return _fvu(run, HIER, k) / _fvu(run, TOPK, k) - 1


def not_seed_noise(runs: dict[str, Run]) -> str:
    pairs = [source_runs(runs, s) for s in ("default model", "synthetic data")]
    agree = all(
        (s0.diff(k) < 0) == (s1.diff(k) < 0)
        for s0, s1, _ in pairs
        for k in (s0.budgets[0], s0.big_k)
    )
    small = [abs(r.diff(r.budgets[0])) for rs in pairs for r in rs]
    at_k = [abs(r.diff(r.big_k)) for rs in pairs for r in rs]
    spread_small = max(abs(s0.diff(s0.budgets[0]) - s1.diff(s0.budgets[0])) for s0, s1, _ in pairs)
    spread_k = max(abs(s0.diff(s0.big_k) - s1.diff(s0.big_k)) for s0, s1, _ in pairs)
    return (
        f"1. **Not seed noise.** Seeds 0 and 1 {'agree' if agree else 'do not agree'} in sign at "
        "the smallest budget and at K on the default model and on synthetic data, and the "
        f"deficits there ({min(small):.4f}-{max(small):.4f} EV at the smallest k, "
        f"{min(at_k):.4f}-{max(at_k):.4f} at K) are larger than the seed-to-seed difference "
        f"of the differences (<= {spread_small:.4f} at the smallest k, <= {spread_k:.4f} at K)."
    )


def _trend(before: float, after: float) -> str:
    if after > before + 0.02:
        return "widened"
    if after < before - 0.02:
        return "narrowed"
    return "stayed about the same"


def longer_training(runs: dict[str, Run]) -> str:
    d0, d3 = runs["default s0"], runs["default 3x"]
    s0, s3 = runs["synthetic s0"], runs["synthetic 3x"]
    gaps = "; ".join(
        f"{name} k={r0.budgets[0]} {signed(r0.diff(r0.budgets[0]))} -> "
        f"{signed(r3.diff(r0.budgets[0]))}, K {signed(r0.diff(r0.big_k))} -> {signed(r3.diff(r0.big_k))}"
        for name, r0, r3 in (("synthetic", s0, s3), ("default model", d0, d3))
    )
    evs = ", ".join(
        f"{name} {r0.value(HIER, r0.big_k, EV):.3f} -> {r3.value(HIER, r0.big_k, EV):.3f}"
        for name, r0, r3 in (("synthetic", s0, s3), ("default", d0, d3))
    )
    fvu = "; ".join(
        f"on the {name} it {_trend(_rel(r0, r0.big_k), _rel(r3, r0.big_k))}: FVU "
        f"{_fvu(r0, HIER, r0.big_k):.4f} vs {_fvu(r0, TOPK, r0.big_k):.4f} "
        f"({100 * _rel(r0, r0.big_k):+.0f}%) became {_fvu(r3, HIER, r0.big_k):.4f} vs "
        f"{_fvu(r3, TOPK, r0.big_k):.4f} ({100 * _rel(r3, r0.big_k):+.0f}%)"
        for name, r0, r3 in (("default model", d0, d3), ("synthetic data", s0, s3))
    )
    mid = d0.budgets[2:-1]
    ones = [runs[label].diff(k) for label in ("default s0", "default s1") for k in mid]
    return (
        "2. **Not (only) under-training.** Three times more training leaves the EV gaps about "
        f"where they were ({gaps}), while both SAEs improve (hierarchical EV at K: {evs}). "
        f"Relative to the error left, the gap at K: {fvu}. At k = {', '.join(map(str, mid))} on "
        f"the default model the 3x run gives {', '.join(signed(d3.diff(k)) for k in mid)} where "
        f"the two 1x runs gave {span(ones)}."
    )


def trade_off(runs: dict[str, Run]) -> str:
    s0, sub, d0 = runs["synthetic s0"], load_run("subset", "synthetic_subset"), runs["default s0"]
    lo, big = s0.budgets[0], s0.big_k

    def sub_diff(k: int) -> float:
        return sub.value(HIER, k, EV) - s0.value(TOPK, k, EV)

    below = [k for k in d0.budgets if k < d0.big_k]
    dominated = all(d0.value(HIER, k, EV) > d0.value("multi_topk", k, EV) for k in below)
    return (
        "3. **At k = K it is a trade-off built into the objective.** TopK at K optimises only "
        "`||x - x_hat_K||^2`; the hierarchical loss spends (K-1)/K of its weight on the shorter "
        'prefixes, which constrain the same dictionary to be good "coarse-first". Changing that '
        "weighting moves the trade-off but does not remove it: training on the paper's optional "
        f"subset J = {{{', '.join(map(str, sub.record['config']['baselines']['extra_sae_kwargs']['budgets']))}}} "
        "instead of all j (synthetic, seed 0, against the TopK SAEs of synthetic s0; "
        "`python -m experiments.htopk_pareto.run_synthetic_subset OUT_DIR`, tables in "
        f"`experiments/htopk_pareto/synthetic_subset/`) moves the gap at k={lo} from "
        f"{signed(s0.diff(lo))} to {signed(sub_diff(lo))} and at K from {signed(s0.diff(big))} to "
        f"{signed(sub_diff(big))}. Multi-TopK, which puts weight 1 on K, scores EV "
        f"{d0.value('multi_topk', d0.big_k, EV):.4f} at K on the default model (TopK "
        f"{d0.value(TOPK, d0.big_k, EV):.4f}, hierarchical {d0.value(HIER, d0.big_k, EV):.4f}) and "
        f"{d0.value('multi_topk', d0.budgets[0], EV):.3f} at k={d0.budgets[0]} (hierarchical "
        f"{d0.value(HIER, d0.budgets[0], EV):.3f}): the hierarchical SAE "
        f"{'dominates' if dominated else 'does not dominate'} it at every k < K."
    )


def smallest_k(runs: dict[str, Run], largest_d_sae: int) -> str:
    tokens = sorted({r.config["training_tokens"] for r in runs.values() if r.label != "SmolLM2"})
    return (
        "4. **At the smallest k, a TopK SAE trained at exactly k can specialise its whole "
        "dictionary for those k latents;** the hierarchical SAE's top-k latents must also be the "
        "first k of a good K-latent code. The paper's claim is for Gemma-2-2B layer 12, d_sae "
        f"{PAPER_D_SAE:,}, ~1B tokens, K up to 128; our largest run has d_sae {largest_d_sae:,} "
        f"(the default-model d_sae runs below), and the main runs {tokens[0] / 1e6:.1f}-"
        f"{tokens[-1] / 1e6:.1f}M tokens. Whether the gap closes at that scale cannot be tested "
        "here (`real_lm.paper_scale_config()` documents the GPU configuration; the SynthSAEBench "
        "scale is `synthetic.paper_scale_config()`)."
    )


def what_holds(runs: dict[str, Run]) -> str:
    d0, smol = runs["default s0"], runs["SmolLM2"]
    ties = [
        f"k = {k} on the {source}"
        for source in ("default model", "synthetic data")
        for k in source_runs(runs, source)[0].budgets[1:-1]
        if k_class(source_runs(runs, source), k)[0] == "mixed"
    ]
    at_k = max(abs(r.diff(r.big_k)) for r in source_runs(runs, "default model"))
    lo = d0.budgets[0]
    peers = ("batchtopk", "matryoshka_batchtopk")
    beats = all(d0.value(HIER, lo, EV) > d0.value(p, lo, EV) for p in peers)

    def dead(run: Run, method: str) -> int:
        return int(run.value(method, run.big_k, "dead_latents"))

    fewer_smol = dead(smol, HIER) < dead(smol, TOPK)
    return (
        f"5. **What does hold here:** the hierarchical SAE ties TopK at {'; '.join(ties)}; it is "
        f"within {at_k:.4f} EV of it at K on the default model; it "
        f"{'beats' if beats else 'does not beat'} BatchTopK and Matryoshka-BatchTopK at k={lo} "
        f"({d0.value(HIER, lo, EV):.3f} vs {d0.value(peers[0], lo, EV):.3f} / "
        f"{d0.value(peers[1], lo, EV):.3f}, default s0); and at K it has "
        f"{dead(d0, HIER)} vs {dead(d0, TOPK)} dead latents of {d0.config['d_sae']} on the "
        f"default model's held-out tokens (SmolLM2 at k={smol.big_k}: {dead(smol, HIER)} vs "
        f"{dead(smol, TOPK)} of {smol.config['d_sae']}, so {'also' if fewer_smol else 'not'} on "
        "SmolLM2)."
    )


def smollm2_caveats(runs: dict[str, Run]) -> list[str]:
    smol = runs["SmolLM2"]
    sweep = smol.record["config"]["sweep"]
    n_tokens = int(smol.rows["n_tokens"].iloc[0])
    family = smol.rows[smol.rows["method"].isin([HIER, TOPK, "multi_topk"])]
    best = family[family["budget"] == smol.big_k]["explained_variance"].max()
    ahead = [k for k in smol.budgets if smol.diff(k) > 0]
    ratios = [
        smol.value(m, k, "l0") / k
        for m in ("batchtopk", "matryoshka_batchtopk")
        for k in smol.budgets
    ]
    ce = "on" if sweep["compute_ce_loss"] else "off"
    return [
        f"- CE/KL splicing was {ce} for this run (`compute_ce_loss` in its sweep config): EV, "
        f"MSE, cosine, L0 and dead/dense latents only, on {n_tokens:,} held-out tokens.",
        f"- {smol.steps} optimiser steps are far from convergence (best EV {best:.2f} at "
        f"k={smol.big_k} among the TopK family), so the {', '.join(signed(smol.diff(k), 3) for k in ahead)} at "
        f"k = {', '.join(map(str, ahead))} measure early-training speed as much as the objective. "
        "The BatchTopK/Matryoshka JumpReLU thresholds (an EMA with rate 0.01 started at 0) had not "
        f"converged after {smol.steps} steps: their held-out L0 is {min(ratios):.1f}-"
        f"{max(ratios):.1f}x the nominal k, so those points are not comparable to the "
        "TopK-family points.",
        "- The model is the dequantised Q4_1 checkpoint, not the hub weights.",
    ]


def investigation(runs: dict[str, Run], largest_d_sae: int) -> list[str]:
    return [
        not_seed_noise(runs),
        longer_training(runs),
        trade_off(runs),
        smallest_k(runs, largest_d_sae),
        what_holds(runs),
    ]
