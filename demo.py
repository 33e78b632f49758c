"""Demo on the embedded default model: what lime_lens ships offline, measured now.

    python demo.py          # about a minute on 2 CPU cores; writes outputs/demo/

Prints (and saves to outputs/demo/) the default model's validation loss measured now against the
value recorded when it was trained, and a greedy continuation of a prompt.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything below is embedded; never touch the hub

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
    print(
        f"  validation loss now: {measured:.4f} (perplexity {math.exp(measured):.1f})"
    )
    print(f"  validation loss recorded at training time: {recorded['val_loss']:.4f}")
    print(f"  greedy generation: {text!r}")
    return result


def main() -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results = {"default_model": section_default_model()}
    # Sections from other capabilities (HierarchicalTopK SAEs, LIMe) are added here.
    out = OUT_DIR / "results.json"
    out.write_text(json.dumps(results, indent=2))
    (OUT_DIR / "generation.txt").write_text(results["default_model"]["greedy_generation"] + "\n")
    print(f"\nwrote {out.resolve()} and {(OUT_DIR / 'generation.txt').resolve()}")


if __name__ == "__main__":
    main()
