"""Train the embedded default model and write it to lime_lens/assets/data/default_model/.

    nice python scripts/train_default_model.py   # ~5 min on an idle core; 16 min on a loaded 2-core box

A small LLaMA-style HookedTransformer (RMSNorm, rotary, gated SiLU MLP, grouped-query attention:
4 layers, d_model 128, 4 heads, 2 K/V heads, d_head 32, d_mlp 384, n_ctx 256, BPE-4096) trained
by ``lime_lens.train`` on the Austen train split: 400 steps of 16 x 128 tokens (0.82M tokens,
about 0.8 epoch), AdamW lr 3e-3 (short run: higher than the paper's 1e-3), 40 warmup steps,
cosine to 1e-5, seed 0, one thread. The folder is written atomically in
``lime_lens.serialization`` format plus ``metrics.json`` (validation loss/perplexity on the whole
validation split, tokens seen, wall time, command).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from lime_lens.assets.paths import DEFAULT_MODEL_DIR  # noqa: E402
from lime_lens.serialization import atomic_write_dir  # noqa: E402
from lime_lens.train.cli import build_parser, run  # noqa: E402

TRAIN_ARGS = [
    "--arch",
    "vanilla",
    "--n-layers",
    "4",
    "--d-model",
    "128",
    "--n-heads",
    "4",
    "--n-key-value-heads",
    "2",
    "--d-head",
    "32",
    "--d-mlp",
    "384",
    "--n-ctx",
    "256",
    "--context-size",
    "128",
    "--tokenizer",
    "bpe4096",
    "--max-steps",
    "400",
    "--batch-size",
    "16",
    "--lr",
    "3e-3",
    "--min-lr",
    "1e-5",
    "--warmup-steps",
    "40",
    "--eval-interval",
    "100",
    "--seed",
    "0",
    "--precision",
    "fp32",
    "--device",
    "cpu",
    "--keep-checkpoints",
    "1",
]


def main() -> None:
    torch.set_num_threads(int(os.environ.get("LIME_TRAIN_THREADS", "1")))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        args = build_parser().parse_args([*TRAIN_ARGS, "--out", tmp])
        result = run(args)
        trained = Path(tmp) / "model"
        metrics = json.loads((trained / "metrics.json").read_text())
        metrics.update(
            command=shlex.join(["python", "scripts/train_default_model.py"]),
            trainer_command=shlex.join(
                ["python", "-m", "lime_lens.train", *TRAIN_ARGS, "--out", "RUN_DIR"]
            ),
            script_wall_time_s=time.perf_counter() - start,
            torch_threads=torch.get_num_threads(),
            torch_version=torch.__version__,
        )
        (trained / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        atomic_write_dir(
            DEFAULT_MODEL_DIR, lambda d: shutil.copytree(trained, d, dirs_exist_ok=True)
        )
    print(
        f"wrote {DEFAULT_MODEL_DIR}: val loss {result.val_loss:.4f} "
        f"(perplexity {metrics['val_perplexity']:.1f}) after {result.tokens_seen:,} tokens"
    )


if __name__ == "__main__":
    main()
