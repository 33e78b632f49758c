"""Cache activations of ANY in-memory HookedTransformer in SAELens's own on-disk format.

SAELens's ``CacheActivationsRunner`` loads its model by name, so it cannot cache a model built in
memory (a LIMe model, the embedded default model, a dequantised GGUF). ``cache_activations`` runs
the same runner on a model object instead and writes the same dataset: one ``Array2D`` column
named after the hook, shape (context_size, d_in), plus ``token_ids``. The stock training runner
reads it back with ``use_cached_activations=True`` (or ``cached_activations_store`` here).

4-D hooks ([batch, pos, head, d]: ``attn.hook_z``, a per-token LIMe ``lime.hook_route``) are
cached either flattened over heads or, with ``hook_head_index``, for one head, as SAELens's
``ActivationsStore`` does at training time.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import torch
from datasets import Array2D, Dataset, Features, Sequence, Value
from jaxtyping import Float
from sae_lens import SAE, ActivationsStore
from sae_lens.cache_activations_runner import CacheActivationsRunner
from sae_lens.config import CacheActivationsRunnerConfig
from transformer_lens import HookedTransformer

SHARD_BYTES = 500_000_000
"""Upper bound on one cached shard (SAELens advises shards under 2 GB for the datasets writer)."""


def hook_width(model: HookedTransformer, hook_name: str, hook_head_index: int | None = None) -> int:
    """d_in of the SAE that reads ``hook_name``: the hook's trailing width (one head, or all heads
    flattened). Raises ValueError for an unknown hook, a hook with no per-token axis (a LIMe
    kv route is per sequence), or a head index out of range."""
    if hook_name not in model.hook_dict:
        raise ValueError(f"hook_name {hook_name!r} is not a hook of {model.cfg.model_name}")
    shapes = []
    for n_pos in (2, 3):  # a per-token hook's axis 1 follows the sequence length
        tokens = torch.ones(1, n_pos, dtype=torch.long, device=model.cfg.device)
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens, names_filter=[hook_name])
        shapes.append(tuple(cache[hook_name].shape))
    if shapes[0][1] != 2 or shapes[1][1] != 3:
        raise ValueError(
            f"hook_name {hook_name!r} has shape {shapes[0]} for 2 tokens: no per-token "
            "axis after batch, so it has no per-token activations to cache"
        )
    trailing = shapes[0][2:]
    if hook_head_index is None:
        return math.prod(trailing)
    if len(trailing) != 2 or not 0 <= hook_head_index < trailing[0]:
        raise ValueError(
            f"hook_head_index={hook_head_index} needs a 4-D hook with index in "
            f"[0, {trailing[0] if len(trailing) == 2 else 0}); {hook_name!r} has shape {shapes[0]}"
        )
    return trailing[1]


def check_hook_width(sae: SAE, model: HookedTransformer) -> None:
    """ValueError unless the SAE reads its hook as SAELens stores it (flattened or one head)."""
    hook_name, head = sae.cfg.metadata.hook_name, sae.cfg.metadata.hook_head_index
    width = hook_width(model, hook_name, head)
    if width != sae.cfg.d_in:
        raise ValueError(
            f"SAE d_in={sae.cfg.d_in} does not read hook {hook_name!r}: SAELens stores it "
            f"{width} wide (hook_head_index={head})"
        )


def sae_input(
    activation: Float[torch.Tensor, "batch pos *trailing"], hook_head_index: int | None = None
) -> Float[torch.Tensor, "batch pos d_in"]:
    """A hook's activation as the SAE reads it: a 4-D [batch, pos, head, d] hook flattened over
    heads, or at ``hook_head_index``, as SAELens's ``ActivationsStore`` does at training time."""
    if activation.ndim != 4:
        return activation
    return activation.flatten(2) if hook_head_index is None else activation[:, :, hook_head_index]


class InMemoryCacheActivationsRunner(CacheActivationsRunner):
    """``CacheActivationsRunner`` on a model object (its own ``__init__`` loads one by name).

    Everything after construction (sharding, consolidation, the dataset schema) is SAELens's.
    """

    def __init__(
        self,
        cfg: CacheActivationsRunnerConfig,
        model: HookedTransformer,
        dataset: Dataset,
        hook_head_index: int | None = None,
    ):
        self.cfg = cfg
        self.model = model
        self.activations_store = ActivationsStore(
            model=model,
            dataset=dataset,
            streaming=False,
            hook_name=cfg.hook_name,
            hook_head_index=hook_head_index,
            context_size=cfg.context_size,
            d_in=cfg.d_in,
            n_batches_in_buffer=cfg.n_batches_in_buffer,
            total_training_tokens=cfg.training_tokens,
            store_batch_size_prompts=cfg.model_batch_size,
            train_batch_size_tokens=-1,
            prepend_bos=cfg.prepend_bos,
            normalize_activations="none",
            device=torch.device("cpu"),  # the cache goes to disk
            dtype=cfg.dtype,
            seqpos_slice=cfg.seqpos_slice,
        )
        self.context_size = self._get_sliced_context_size(cfg.context_size, cfg.seqpos_slice)
        self.features = Features(
            {
                cfg.hook_name: Array2D(shape=(self.context_size, cfg.d_in), dtype=cfg.dtype),
                "token_ids": Sequence(Value(dtype="int32"), length=self.context_size),
            }
        )


def _batches_per_shard(n_batches: int, batch_bytes: int) -> int:
    """The largest divisor of ``n_batches`` whose shard fits SHARD_BYTES, so that every shard is
    full and the cache holds exactly ``n_batches`` model batches."""
    cap = max(1, SHARD_BYTES // batch_bytes)
    return max(d for d in range(1, min(cap, n_batches) + 1) if n_batches % d == 0)


def _check_args(dataset: Dataset, n_tokens: int, context_size: int, batch: int, out: Path) -> None:
    if context_size < 1 or n_tokens < context_size:
        raise ValueError(f"need 1 <= context_size <= n_tokens; got {context_size}, {n_tokens}")
    if batch < 1:
        raise ValueError(f"model_batch_size must be >= 1; got {batch}")
    if not {"tokens", "input_ids", "text"} & set(dataset.column_names):
        raise ValueError(
            f"dataset needs a tokens, input_ids or text column; has {dataset.column_names}"
        )
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"out_dir {out} exists and is not empty")


def cache_activations(
    model: HookedTransformer,
    dataset: Dataset,
    hook_name: str,
    n_tokens: int,
    context_size: int,
    out_dir: str | Path,
    model_batch_size: int = 8,
    hook_head_index: int | None = None,
    prepend_bos: bool = False,
    dtype: str = "float32",
) -> Path:
    """Cache activations at ``hook_name`` of ``model`` over ``dataset`` into ``out_dir``.

    ``n_tokens`` is rounded up to whole model batches (``model_batch_size`` rows of
    ``context_size`` tokens), read from ``dataset`` in order and not shuffled, so the cache lines
    up with the dataset rows. The folder appears only when complete (built beside it, renamed).
    """
    out = Path(out_dir)
    _check_args(dataset, n_tokens, context_size, model_batch_size, out)
    d_in = hook_width(model, hook_name, hook_head_index)
    n_batches = math.ceil(n_tokens / (model_batch_size * context_size))
    batch_bytes = (
        model_batch_size * context_size * d_in * torch.finfo(getattr(torch, dtype)).bits // 8
    )
    per_shard = _batches_per_shard(n_batches, batch_bytes)
    cfg = CacheActivationsRunnerConfig(
        dataset_path="in-memory",
        model_name=model.cfg.model_name,
        model_batch_size=model_batch_size,
        hook_name=hook_name,
        d_in=d_in,
        training_tokens=n_batches * model_batch_size * context_size,
        context_size=context_size,
        shuffle=False,
        dtype=dtype,
        device=str(model.cfg.device),
        prepend_bos=prepend_bos,
        streaming=False,
        # half a batch of slack: SAELens floors buffer_size_gb * 1e9 to whole batches
        buffer_size_gb=(per_shard + 0.5) * batch_bytes / 1e9,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cfg.new_cached_activations_path = str(tmp)
    try:
        InMemoryCacheActivationsRunner(cfg, model, dataset, hook_head_index).run()
        if out.exists():
            out.rmdir()  # empty (checked above): rename needs the name free
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def cached_activations_store(
    cache_dir: str | Path,
    model: HookedTransformer,
    hook_name: str,
    context_size: int,
    train_batch_size_tokens: int,
    n_batches_in_buffer: int = 16,
    store_batch_size_prompts: int = 8,
    exclude_special_tokens: list[int] | None = None,
) -> ActivationsStore:
    """A SAELens ``ActivationsStore`` that serves training batches from a cache folder.

    ``exclude_special_tokens`` (e.g. ``[bos_token_id]``) drops those positions, using the
    cache's ``token_ids`` column, as the live store does.
    """
    cache = Path(cache_dir)
    if not (cache / "state.json").is_file():
        raise ValueError(f"cache_dir {cache} is not a SAELens activation cache (no state.json)")
    width = Dataset.load_from_disk(str(cache)).features[hook_name].shape[1]
    return ActivationsStore(
        model=model,
        dataset=None,
        streaming=False,
        hook_name=hook_name,
        hook_head_index=None,
        context_size=context_size,
        d_in=width,
        n_batches_in_buffer=n_batches_in_buffer,
        total_training_tokens=0,
        store_batch_size_prompts=store_batch_size_prompts,
        train_batch_size_tokens=train_batch_size_tokens,
        prepend_bos=False,
        normalize_activations="none",
        device=torch.device("cpu"),
        dtype="float32",
        cached_activations_path=str(cache),
        exclude_special_tokens=None
        if exclude_special_tokens is None
        else torch.tensor(exclude_special_tokens),
    )
