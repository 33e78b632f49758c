"""``python -m lime_lens.train`` / ``lime-lens-train``: train a LIMe model or its vanilla baseline.

    python -m lime_lens.train --arch lime-kv --max-steps 2000 --out runs/lime-kv
    torchrun --nproc_per_node 8 -m lime_lens.train --arch lime-kv --parallel fsdp --out runs/big
    python -m lime_lens.train --arch vanilla --hf-dataset roneneldan/TinyStories --tokenizer gpt2

This entry point is where the embedded corpus and tokenizers (``lime_lens.assets``) are wired in;
the training library itself takes its rows as arguments. Every TrainConfig and ModelShape field is
a flag (``--max-steps``, ``--d-model``, ...). The run folder gets ``checkpoints/step_*`` and the
final ``model/`` (``lime_lens.serialization`` format, with ``metrics.json``; ``--save-format hf``
writes a Hugging Face ``LIMeForCausalLM`` folder with the tokenizer instead, which
``AutoModelForCausalLM.from_pretrained`` opens after ``import lime_lens``); ``--resume auto``
continues from the newest checkpoint there.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Int64
from transformer_lens import HookedTransformer
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from lime_lens.assets import load_corpus, load_gpt2_tokenizer, load_tokenizer
from lime_lens.assets.dataset import tokenize_rows
from lime_lens.config import LIMeConfig
from lime_lens.hf.convert import hf_config, save_hf
from lime_lens.train.architectures import (
    ARCHES,
    ModelShape,
    build_model,
    count_params,
    source_arches,
)
from lime_lens.train.checkpoint import full_model_view, list_checkpoints, save_trained_model
from lime_lens.train.config import TrainConfig
from lime_lens.train.distributed import (
    DistInfo,
    barrier,
    exit_worker,
    init_distributed,
    shutdown_distributed,
)
from lime_lens.train.texts import read_texts
from lime_lens.train.trainer import TrainResult, train

_OPTIONAL_TYPES = {
    "grad_clip": float,
    "eval_batches": int,
    "checkpoint_dir": str,
    "stop_at_step": int,
    "n_key_value_heads": int,
}
_CLI_OWNED = {"checkpoint_dir"}  # set from --out


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    group = parser.add_argument_group(title, f"fields of {cls.__name__}; see its docstrings")
    for f in dataclasses.fields(cls):
        if f.name in _CLI_OWNED:
            continue
        flag, default = "--" + f.name.replace("_", "-"), f.default
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            group.add_argument(flag, type=type(default[0]), nargs=len(default), default=default)
        else:
            kind = _OPTIONAL_TYPES.get(f.name, type(default))
            group.add_argument(flag, type=kind, default=default, help=f"default {default}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lime-lens-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--arch", choices=(*ARCHES, *source_arches()), default="lime-kv")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints/, model/)")
    parser.add_argument("--resume", default=None, help='a checkpoint, a folder of them, or "auto"')
    parser.add_argument(
        "--context-size", type=int, default=128, help="tokens per training row, BOS included"
    )
    parser.add_argument(
        "--tokenizer",
        default="bpe4096",
        help='"bpe4096" (embedded default), "gpt2" (embedded) or a HF name/folder',
    )
    parser.add_argument("--lime-top-p", type=float, default=0.9, help="lime-residual-top_p only")
    parser.add_argument(
        "--lime-sources",
        default="full",
        help='routing ablation (paper v2 App. D): "full", "average", "last_j" or "first_j"',
    )
    parser.add_argument("--lime-sources-j", type=int, default=2, help="j of last_j / first_j")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--save-format",
        choices=("lime", "hf"),
        default="lime",
        help='final model/: "lime" (HookedLIMeTransformer.from_pretrained) or "hf" '
        "(a Hugging Face LIMeForCausalLM folder with the tokenizer; kv arches only)",
    )
    data = parser.add_argument_group("data", "default: the embedded Austen corpus and its split")
    data.add_argument(
        "--text-file",
        default=None,
        help="a UTF-8 text file (last --val-fraction of lines: validation)",
    )
    data.add_argument(
        "--hf-dataset", default=None, help="a Hugging Face dataset name (needs the hub)"
    )
    data.add_argument("--hf-config", default=None)
    data.add_argument("--hf-split", default="train")
    data.add_argument(
        "--hf-val-split", default=None, help="default: hold out --val-fraction of --hf-split"
    )
    data.add_argument("--hf-text-column", default="text")
    data.add_argument("--val-fraction", type=float, default=0.05)
    _add_dataclass_flags(parser, ModelShape, "model shape")
    _add_dataclass_flags(parser, TrainConfig, "training")
    return parser


def pick_tokenizer(name: str) -> PreTrainedTokenizerBase:
    if name == "bpe4096":
        return load_tokenizer()
    if name == "gpt2":
        return load_gpt2_tokenizer()
    return AutoTokenizer.from_pretrained(name)


def load_texts(
    text_file: str | None = None, hf_dataset: str | None = None, **options: Any
) -> tuple[str, str]:
    """(train, validation) text: the embedded Austen corpus unless a file or HF dataset is named;
    ``options`` are those of :func:`lime_lens.train.texts.read_texts` (split, column, fraction)."""
    if text_file is None and hf_dataset is None:
        return load_corpus("train"), load_corpus("validation")
    return read_texts(text_file, hf_dataset, **options)


def _fields(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    return {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in _CLI_OWNED
    }


def training_rows(
    args: argparse.Namespace, tokenizer: PreTrainedTokenizerBase
) -> tuple[Int64[torch.Tensor, "n_train context_size"], Int64[torch.Tensor, "n_val context_size"]]:
    """(train, validation) token rows of ``--context-size`` from the texts the data flags name."""
    train_text, val_text = load_texts(
        args.text_file,
        args.hf_dataset,
        hf_config=args.hf_config,
        hf_split=args.hf_split,
        hf_val_split=args.hf_val_split,
        hf_text_column=args.hf_text_column,
        val_fraction=args.val_fraction,
    )
    return (
        tokenize_rows(train_text, tokenizer, args.context_size),
        tokenize_rows(val_text, tokenizer, args.context_size),
    )


def run_metrics(
    args: argparse.Namespace,
    model: HookedTransformer,
    shape: ModelShape,
    cfg: TrainConfig,
    result: TrainResult,
) -> dict[str, Any]:
    """The final model's ``metrics.json``: the run's results and the settings that produced them."""
    return {
        "arch": args.arch,
        "n_params": count_params(model),
        "val_loss": result.val_loss,
        "val_perplexity": result.val_history[-1]["perplexity"] if result.val_history else None,
        "val_history": result.val_history,
        "train_losses": result.train_losses,
        "tokens_seen": result.tokens_seen,
        "wall_time_s": result.wall_time_s,
        "tokens_per_s": result.tokens_per_s,
        "world_size": result.extra["world_size"],
        "train_config": cfg.to_dict(),
        "model_shape": dataclasses.asdict(shape),
        "context_size": args.context_size,
        "tokenizer": args.tokenizer,
        "command": shlex.join(
            [os.path.basename(sys.executable), "-m", "lime_lens.train", *sys.argv[1:]]
        ),
    }


def run(args: argparse.Namespace) -> TrainResult:
    """Build data, model and config from parsed flags, train, and save the final model."""
    shape, tokenizer = ModelShape(**_fields(args, ModelShape)), pick_tokenizer(args.tokenizer)
    checkpoint_dir = str(args.out / "checkpoints")
    cfg = TrainConfig(**_fields(args, TrainConfig), checkpoint_dir=checkpoint_dir)
    if not 2 <= args.context_size <= shape.n_ctx:
        raise ValueError(
            f"--context-size must be in [2, n_ctx={shape.n_ctx}], got {args.context_size}"
        )
    train_rows, val_rows = training_rows(args, tokenizer)
    model = build_model(
        args.arch,
        shape,
        len(tokenizer),
        args.seed,
        tokenizer,
        args.lime_top_p,
        args.device,
        args.lime_sources,
        args.lime_sources_j,
    )
    if args.save_format == "hf":  # refuse before training: the HF model has Llama's layout only
        check_hf_savable(model, args.arch)
    resume = args.resume
    if resume == "auto":
        resume = checkpoint_dir if list_checkpoints(checkpoint_dir) else None
    result = train(model, cfg, train_rows, val_rows, resume_from=resume)
    metrics = run_metrics(args, model, shape, cfg, result)
    info = init_distributed(torch.device(args.device))
    if cfg.stop_at_step is None or cfg.stop_at_step == cfg.max_steps:
        save_final_model(model, args.out / "model", tokenizer, metrics, info, args.save_format)
    return result


def save_final_model(
    model: torch.nn.Module,
    path: Path,
    tokenizer: PreTrainedTokenizerBase,
    metrics: dict[str, Any],
    info: DistInfo,
    save_format: str,
) -> None:
    """Write the trained ``model/`` folder in ``--save-format`` (collective call); rank 0 reports."""
    if save_format == "hf":
        save_trained_hf_model(model, path, tokenizer, metrics, info)
    else:
        save_trained_model(model, path, {"metrics.json": metrics}, info)
    if info.is_main:
        print(
            f"saved {path}: val loss {metrics['val_loss']:.4f}, {metrics['tokens_per_s']:,.0f} tok/s"
        )


def check_hf_savable(model: torch.nn.Module, arch: str) -> None:
    """``--save-format hf`` needs a kv-routed LIMe model in the Llama layout (ValueError otherwise)."""
    cfg = getattr(model, "cfg", None)
    if not isinstance(cfg, LIMeConfig) or cfg.lime_mode != "kv":
        raise ValueError(
            f"--save-format hf needs a kv-routed LIMe arch (LIMeForCausalLM), got --arch {arch}"
        )
    hf_config(cfg)  # raises naming the first field the HF Llama layout lacks


def save_trained_hf_model(
    model: torch.nn.Module,
    path: Path,
    tokenizer: PreTrainedTokenizerBase,
    metrics: dict[str, Any],
    info: DistInfo,
) -> None:
    """``--save-format hf``: rank 0 writes the LIMeForCausalLM folder (collective call)."""
    view = full_model_view(model)
    if info.is_main:
        save_hf(view.cfg, view.state_dict(), path, tokenizer, {"metrics.json": metrics})
    barrier(info)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except BaseException:
        # No barrier here: a peer that failed will never reach it.
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise
    shutdown_distributed()


def console_main() -> None:
    """The program ``lime-lens-train`` / ``python -m lime_lens.train``: ``main()``, and under
    torchrun an exit that gloo's worker threads cannot crash (see ``exit_worker``)."""
    main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        exit_worker(0)
