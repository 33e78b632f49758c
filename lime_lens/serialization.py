"""Save and load any HookedTransformer (vanilla or LIMe) as safetensors plus a JSON config.

One format for the whole project: a folder holding
    config.json        {"config_class": <class name>, "config": cfg.to_dict() as JSON}
    model.safetensors  the state dict, keys exactly as ``model.state_dict()``
plus any extra JSON files the caller adds (e.g. ``metrics.json``).

Writes are atomic: everything goes to a temporary sibling folder that is renamed into
place only once complete, so an interrupted save never leaves a folder that loads.
Loading is strict: a missing or unexpected key (e.g. a dropped router weight) raises.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformer, HookedTransformerConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

M = TypeVar("M", bound=HookedTransformer)


def config_to_json_dict(cfg: HookedTransformerConfig) -> dict[str, Any]:
    """``cfg.to_dict()`` made JSON-safe (torch dtypes become strings like ``"float32"``)."""
    out: dict[str, Any] = {}
    for key, value in cfg.to_dict().items():
        if isinstance(value, torch.dtype):
            value = str(value).removeprefix("torch.")
        elif isinstance(value, torch.device):
            value = str(value)
        out[key] = value
    return out


def config_from_json_dict(
    cfg_cls: type[HookedTransformerConfig], data: dict[str, Any], source: str = "config"
) -> HookedTransformerConfig:
    """Inverse of :func:`config_to_json_dict`; unknown keys raise, naming them and ``source``."""
    init_fields = {f.name for f in dataclasses.fields(cfg_cls) if f.init}
    unknown = sorted(set(data) - init_fields)
    if unknown:
        raise ValueError(f"{source}: unknown {cfg_cls.__name__} fields {unknown}")
    kwargs = dict(data)
    if isinstance(kwargs.get("dtype"), str):
        kwargs["dtype"] = getattr(torch, kwargs["dtype"])
    # Derived fields that __post_init__ recomputes; passing them back is harmless but
    # n_params is not an init argument on every TransformerLens 3.x release.
    return cfg_cls(**kwargs)


def _apply_umask(root: Path) -> None:
    """Give ``root`` and its contents ordinary permissions: mkdtemp makes the folder 0o700 and
    safetensors writes its files 0o600, which would hide saved models from other users."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file beside it and ``os.replace``, so an
    interrupted run leaves the previous file or none, never a truncated one."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def atomic_write_dir(final_dir: str | os.PathLike[str], write: Any) -> Path:
    """Call ``write(tmp_dir)`` then atomically move ``tmp_dir`` to ``final_dir``.

    An existing ``final_dir`` is replaced only after the new one is complete.
    """
    final = Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        write(tmp)
        _apply_umask(tmp)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


@runtime_checkable
class SavableModel(Protocol):
    """What :func:`save_model` reads: a HookedTransformer, or the gathered full view of a DDP- or
    FSDP-wrapped one that the trainer builds (``cfg`` plus the full ``state_dict``)."""

    @property
    def cfg(self) -> HookedTransformerConfig: ...

    def state_dict(self) -> dict[str, torch.Tensor]: ...


def save_model(
    model: SavableModel,
    path: str | os.PathLike[str],
    extra_json: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Save ``model`` to folder ``path`` (atomic). ``extra_json`` maps file name -> content."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    payload = {"config_class": type(model.cfg).__name__, "config": config_to_json_dict(model.cfg)}

    def write(tmp: Path) -> None:
        save_file(state, str(tmp / WEIGHTS_FILE))
        for name, content in {CONFIG_FILE: payload, **(extra_json or {})}.items():
            (tmp / name).write_text(json.dumps(content, indent=2, sort_keys=True))

    return atomic_write_dir(path, write)


def read_config(
    path: str | os.PathLike[str], cfg_cls: type[HookedTransformerConfig]
) -> HookedTransformerConfig:
    """Read ``config.json`` from a saved folder as ``cfg_cls``, with errors naming the file."""
    cfg_file = Path(path) / CONFIG_FILE
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{cfg_file}: no model config (expected a folder from save_model)")
    payload = json.loads(cfg_file.read_text())
    if "config" not in payload:
        raise ValueError(f"{cfg_file}: missing the 'config' entry")
    return config_from_json_dict(cfg_cls, payload["config"], source=str(cfg_file))


def load_state_dict_strict(model: torch.nn.Module, path: str | os.PathLike[str]) -> None:
    """Load ``model.safetensors`` into ``model``; missing, unexpected or misshapen keys raise."""
    weights_file = Path(path) / WEIGHTS_FILE
    if not weights_file.is_file():
        raise FileNotFoundError(f"{weights_file}: no weights file")
    state = load_file(str(weights_file))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{weights_file}: missing keys {missing}, unexpected keys {unexpected}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ValueError(
                f"{weights_file}: {key} has shape {tuple(tensor.shape)}, "
                f"the model expects {tuple(expected[key].shape)}"
            )
    model.load_state_dict(state, strict=True)


def load_model(
    path: str | os.PathLike[str],
    model_class: type[M] = HookedTransformer,  # type: ignore[assignment]
    cfg_cls: type[HookedTransformerConfig] = HookedTransformerConfig,
    device: str | torch.device | None = None,
    **model_kwargs: Any,
) -> M:
    """Build ``model_class(cfg, **model_kwargs)`` from a folder written by :func:`save_model`."""
    cfg = read_config(path, cfg_cls)
    if device is not None:
        cfg.device = str(device)
    model = model_class(cfg, move_to_device=False, **model_kwargs)
    load_state_dict_strict(model, path)
    assert cfg.device is not None  # HookedTransformerConfig.__post_init__ always sets it
    return model.to(cfg.device)
