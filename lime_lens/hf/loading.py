"""``LIMeForCausalLM.from_pretrained``: LIMe folders, official LIMe folders, and refusals.

- ``model_type: "lime"`` (folders this package saves): transformers' own loader.
- An official corl-team/lime v2 folder (``model_type: "llama"`` with a ``lime_config`` block or
  ``architectures: ["LIMeForCausalLM"]``): converted in memory (``lime_lens.hf.official``).
- Any other local config raises a ValueError naming the field, before anything is built.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from lime_lens.hf.official import is_official_config, official_config, official_to_hf

_OFFICIAL_OPTIONS = ("dtype", "torch_dtype", "attn_implementation", "device_map")
# Hub / cache options: meaningless for a local folder read in memory, so accepted and unused
# (TransformerBridge.boot_transformers and AutoModel pass them through).
_HUB_OPTIONS = (
    "_from_auto",
    "adapter_kwargs",
    "cache_dir",
    "force_download",
    "local_files_only",
    "proxies",
    "revision",
    "subfolder",
    "token",
    "trust_remote_code",
    "use_safetensors",
    "low_cpu_mem_usage",
)


def check_lime_config(raw: dict[str, Any], config_file: Path) -> None:
    """A local config.json that is neither ``model_type: "lime"`` nor official LIMe raises."""
    if raw.get("model_type") != "lime" and not is_official_config(raw):
        raise ValueError(
            f"{config_file}: model_type={raw.get('model_type')!r} is not a LIMe model (expected "
            "'lime', or an official LIMe folder: model_type 'llama' with a lime_config block or "
            "architectures ['LIMeForCausalLM'])"
        )


def _dtype(options: dict[str, Any], raw: dict[str, Any]) -> torch.dtype | None:
    """The requested dtype; unset or "auto" means config.json's (transformers 5's default)."""
    dtype = options.get("dtype", options.get("torch_dtype"))
    if dtype is None or dtype == "auto":
        dtype = raw.get("dtype", raw.get("torch_dtype"))
    if dtype is None:
        return None
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def load_official_folder(cls: Any, folder: Path, raw: dict[str, Any], **options: Any) -> Any:
    """An official v2 folder as ``cls`` (LIMeForCausalLM), in eval mode like from_pretrained."""
    if options.get("subfolder"):
        raise ValueError(f"{folder} is an official LIMe folder: subfolder= is not supported")
    device_map = options.get("device_map")
    one_device = device_map is None or isinstance(device_map, (str, torch.device))
    if not one_device or device_map == "auto":
        raise ValueError(
            f"{folder} is an official LIMe folder, loaded on one device: device_map must be a "
            f"device (e.g. 'cpu', 'cuda:0'), got {device_map!r}"
        )
    unknown = sorted(set(options) - set(_OFFICIAL_OPTIONS) - set(_HUB_OPTIONS))
    if unknown:
        raise ValueError(
            f"{folder} is an official LIMe folder, converted in memory; options {unknown} are "
            f"not supported there (supported: {list(_OFFICIAL_OPTIONS)})"
        )
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: missing (expected an official LIMe folder)")
    config = official_config(raw)
    state = official_to_hf(load_file(str(weights)), config)  # raises on a bad key, builds nothing
    if options.get("attn_implementation"):
        config._attn_implementation = options["attn_implementation"]
    model = cls(config)
    model.load_state_dict(state, strict=True)
    dtype = _dtype(options, raw)
    if dtype is not None:
        model = model.to(dtype)
    if device_map is not None:
        model = model.to(device_map)
    return model.eval()


class LIMeLoadingMixin:
    """``from_pretrained`` that also opens official LIMe folders and refuses non-LIMe ones."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any) -> Any:
        config_file = Path(os.fspath(pretrained_model_name_or_path)) / "config.json"
        if config_file.is_file():
            raw = json.loads(config_file.read_text())
            if kwargs.get("config") is None:
                check_lime_config(raw, config_file)
            if is_official_config(raw):
                if args:
                    raise ValueError("official LIMe folders take keyword options only")
                # Its keys load no other way, whatever ``config=`` says (TransformerBridge passes
                # the LIMe config its adapter derived from this folder).
                kwargs.pop("config", None)
                return load_official_folder(cls, config_file.parent, raw, **kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)  # type: ignore[misc]
