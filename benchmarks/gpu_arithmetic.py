"""One GPU command: the paper's step-task budget for the study's 4 models in one batched run.

The paper trains 200 epochs of 150,000 expressions (LIMe v2 §5.3.2, App. A): 234,375 steps of
128 expressions per model. Here LIMe-kv and vanilla, seeds 0 and 1, train as ONE stack
(``lime_lens.train.multi_model``; padded rows, fixed shapes, so CUDA graphs apply), so a step of
the 4 models is one step of the GPU.

1. Prediction, before the GPU runs anything: a stated GPU model (:func:`predict_gpu_step_s`)
   applied to what this repository measured on CPU (``results/benchmarks/small_models.json``:
   the stack's step time and FLOPs) and to the kernel count of one stacked step (counted here
   with the profiler). Recorded as is.
2. A probe of ``--probe-steps`` steps on the GPU (after compile / CUDA-graph warm-up) measures the
   real step time; the run takes the paper's full budget if that fits in ``--minutes`` (minus
   the measured set-up and the scoring estimate), else the largest fraction that fits, and says
   which. The schedule spans exactly the steps run.
3. Scores every model on the full test set of every tier (KV-cached greedy generation) at
   ``--points`` points; writes ``--out`` after every point.

    python benchmarks/gpu_arithmetic.py [--minutes 10] [--out results/benchmarks/gpu_arithmetic.json]

Untested on a GPU: the CUDA-graph path (``StackOptions.cuda_graphs``) is guarded on CPU, and no
test runs it on hardware.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from lime_lens.arithmetic.scale_run import ScaleRun, run_scale
from lime_lens.arithmetic.step_recipe import STEP_EPOCHS, STEP_SHAPE, STEP_TRAIN
from lime_lens.arithmetic.step_task import StepTask, make_step_splits
from lime_lens.arithmetic.step_vocab import encode_steps, step_vocab
from lime_lens.serialization import atomic_write_text
from lime_lens.train import TrainConfig, build_model
from lime_lens.train.model_stack import rope_tables, stack_params, stack_shape
from lime_lens.train.multi_model import StackOptions, train_models
from lime_lens.train.stacked_adamw import build_optimizer, scheduled_rates
from lime_lens.train.stacked_model import stacked_loss

ROOT = Path(__file__).resolve().parents[1]
CPU_BENCH = ROOT / "results" / "benchmarks" / "small_models.json"
RESULT = ROOT / "results" / "benchmarks" / "gpu_arithmetic.json"
H100: dict[str, Any] = {
    "launch_s_eager": 6e-6,
    "launch_s_cuda_graph": 1.5e-6,
    "sustained_flops": 50e12,
    "note": "H100 SXM: a kernel launch costs ~5-8 us from Python eager and ~1-2 us replayed in a "
    "CUDA graph; d_model-32 matmuls reach a small share of the 989 TFLOP/s bf16 peak: 50 TFLOP/s "
    "assumed. A 4-model step is far below the GPU's width, so launches bound it.",
}
"""The stated GPU model (assumptions, not measurements)."""
LAUNCHING = {
    "mm",
    "bmm",
    "baddbmm",
    "addmm",
    "mul",
    "mul_",
    "add",
    "add_",
    "sub",
    "sub_",
    "div",
    "div_",
    "cat",
    "copy_",
    "index",
    "index_put_",
    "embedding_dense_backward",
    "sum",
    "mean",
    "pow",
    "sqrt",
    "rsqrt",
    "neg",
    "silu",
    "silu_backward",
    "where",
    "fill_",
    "zero_",
    "lerp_",
    "addcmul_",
    "_foreach_mul_",
    "_foreach_lerp_",
    "_foreach_addcmul_",
    "_foreach_sqrt",
    "_foreach_div_",
    "_foreach_add_",
    "_foreach_div",
    "nonzero",
    "clamp",
    "_log_softmax",
    "_log_softmax_backward_data",
    "nll_loss_forward",
    "nll_loss_backward",
    "masked_fill_",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "eq",
    "bitwise_and",
    "tril",
    "repeat",
    "new_zeros",
    "scatter_add_",
    "index_add_",
    "gather",
    "ones_like",
    "zeros_like",
    "full",
    "arange",
    "remainder",
    "floor_divide",
    "sort",
    "any",
    "all",
    "isnan",
}
"""aten ops (as the profiler names them on CPU) that each launch one GPU kernel or more."""


def kernels_per_step(n_models: int = 4) -> int:
    """Operations of one stacked step (loss, backward, clipping, AdamW) that launch a GPU kernel,
    counted on CPU with the profiler on padded rows of the recipe's batch (views excluded)."""
    vocab = step_vocab()
    task = StepTask(n_operands=(4,), n_train=STEP_TRAIN["batch_size"], n_test=1)
    rows = encode_steps(make_step_splits(task)[4][0], vocab)
    models = [
        build_model(("lime-kv", "vanilla")[i % 2], STEP_SHAPE, len(vocab), seed=i)
        for i in range(n_models)
    ]
    cfgs = [TrainConfig(**{**STEP_TRAIN, "max_steps": 10}, progress=False)] * n_models
    params, trainable = stack_params(models)
    opt = build_optimizer(params, trainable, cfgs)
    batch = {"tokens": rows["tokens"], "loss_mask": rows["answer_mask"]}
    rates = scheduled_rates(cfgs, 0, torch.device("cpu"))
    with torch.profiler.profile() as prof:
        stacked_loss(params, batch, rope_tables(models), stack_shape(models)).sum().backward()
        opt.clip_and_mask()
        opt.step(rates)
    return sum(  # outermost aten op only: a foreach op or a matmul is one launch, not its parts
        1
        for e in prof.events()
        if e.name.removeprefix("aten::") in LAUNCHING
        and e.name.startswith("aten::")
        and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))
    )


def predict_gpu_step_s(kernels: int, flops_per_step: float, cuda_graphs: bool) -> float:
    """Step time = kernel launches + FLOPs at the sustained rate (they do not overlap: bound)."""
    launch = H100["launch_s_cuda_graph" if cuda_graphs else "launch_s_eager"]
    return kernels * launch + flops_per_step / H100["sustained_flops"]


def paper_steps(task: StepTask) -> int:
    per_epoch = math.ceil(task.n_train * len(task.n_operands) / STEP_TRAIN["batch_size"])
    return STEP_EPOCHS * per_epoch


def prediction(task: StepTask) -> dict[str, Any]:
    """What the stated model predicts from the CPU measurements, before the GPU runs."""
    cpu = json.loads(CPU_BENCH.read_text()) if CPU_BENCH.is_file() else None
    kernels = kernels_per_step()
    steps = paper_steps(task)
    padded = STEP_TRAIN["batch_size"] * 4 * (cpu["settings"]["padded_row_len"] if cpu else 69)
    flops = padded * (cpu["flops_per_real_token"] if cpu else 4.2e5)
    out = {
        "kernels_per_step": kernels,
        "paper_steps": steps,
        "flops_per_step": flops,
        "gpu_model": H100,
        "cpu_benchmark": str(CPU_BENCH) if cpu else None,
    }
    for graphs in (False, True):
        s = predict_gpu_step_s(kernels, flops, graphs)
        out["cuda_graphs" if graphs else "eager"] = {
            "step_s": s,
            "paper_budget_min": s * steps / 60,
        }
    if cpu:
        n4 = cpu["cases"]["stacked_n4"]
        out["cpu_stacked_n4_step_s"] = n4["seconds"] / cpu["settings"]["steps"]
        out["cpu_paper_budget_hours"] = out["cpu_stacked_n4_step_s"] * steps / 3600
    return out


def probe_step_s(task: StepTask, steps: int, cuda_graphs: bool) -> float:
    """Measured seconds per stacked step on this device (after a warm-up of the same length)."""
    vocab = step_vocab()
    rows = encode_steps([ex for tr, _ in make_step_splits(task).values() for ex in tr], vocab)
    models = [
        build_model(("lime-kv", "vanilla")[i % 2], STEP_SHAPE, len(vocab), seed=i, device="cuda")
        for i in range(4)
    ]
    options = StackOptions(cuda_graphs=cuda_graphs)
    warm = TrainConfig(**{**STEP_TRAIN, "max_steps": steps}, progress=False)
    train_models(models, [warm] * 4, rows, options)
    torch.cuda.synchronize()
    start = time.perf_counter()
    train_models(models, [warm] * 4, rows, options)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--probe-steps", type=int, default=50)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument(
        "--score-min",
        type=float,
        default=2.0,
        help="scoring time reserved per point (4 models, full test sets)",
    )
    parser.add_argument("--no-cuda-graphs", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    t0, task = time.time(), StepTask()
    record: dict[str, Any] = {"prediction": prediction(task)}
    print(json.dumps(record["prediction"], indent=1))
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: prediction printed, nothing trained")
    graphs = not args.no_cuda_graphs
    step_s = probe_step_s(task, args.probe_steps, graphs)
    left = args.minutes * 60 - (time.time() - t0) - args.points * args.score_min * 60
    full = paper_steps(task)
    fraction = min(1.0, max(0.0, left / (step_s * full)))
    record["probe"] = {
        "step_s": step_s,
        "cuda_graphs": graphs,
        "paper_budget_min": step_s * full / 60,
    }
    record["budget"] = {
        "fraction_of_paper_budget": fraction,
        "epochs": STEP_EPOCHS * fraction,
        "statement": "the paper's full budget"
        if fraction >= 1.0
        else f"{100 * fraction:.1f}% of the paper's budget: the full budget is predicted to need "
        f"{step_s * full / 60:.0f} min of training on this GPU",
    }
    print(record["budget"]["statement"])
    with tempfile.TemporaryDirectory() as tmp:
        run = ScaleRun(
            out=tmp,
            epochs=STEP_EPOCHS * fraction,
            n_points=args.points,
            device="cuda",
            packed=False,
            cuda_graphs=graphs,
            checkpoint_every=10**9,
            task=task,
        )
        record["run"] = run_scale(run)
    record["wall_s"] = time.time() - t0
    atomic_write_text(args.out, json.dumps(record, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
