"""LIMe in TransformerLens's TransformerBridge (transformer-lens 3.9 and 4.x).

``TransformerBridge.boot_transformers(folder)`` boots a folder saved by ``LIMeForCausalLM`` (or an
official LIMe v2 folder) once ``lime_lens`` is imported: the adapter is found under the
architecture key ``LIMeForCausalLM``, declared as a ``transformer_lens.architectures`` entry point
and registered by :func:`register_adapter`. :func:`boot_from_model` bridges a model in memory.
Hook names: see ``docs/lime/bridge.md``.
"""

from __future__ import annotations

from typing import Any

ARCHITECTURE = "LIMeForCausalLM"

__all__ = ["ARCHITECTURE", "boot_from_model", "register_adapter"]


def register_adapter() -> None:
    """Register the adapter with TransformerLens's ArchitectureAdapterFactory (idempotent).

    Entry points are discovered first: the factory warns when an entry point names an adapter
    that is already registered, so registering before its own discovery would warn at every boot.
    """
    from transformer_lens.factories.architecture_adapter_factory import (
        SUPPORTED_ARCHITECTURES,
        ArchitectureAdapterFactory,
    )

    from lime_lens.bridge.adapter import LIMeArchitectureAdapter

    ArchitectureAdapterFactory.discover_entry_points()
    ArchitectureAdapterFactory.register_adapter(ARCHITECTURE, LIMeArchitectureAdapter)
    # boot_transformers picks the architecture key by looking it up in SUPPORTED_ARCHITECTURES,
    # the built-in table, before the factory consults its registered and entry-point adapters
    # (transformer-lens 3.9 and 4.3), so a registered key alone is never chosen.
    SUPPORTED_ARCHITECTURES.setdefault(ARCHITECTURE, LIMeArchitectureAdapter)


def boot_from_model(model: Any, tokenizer: Any, device: str | None = None, **kwargs: Any) -> Any:
    """A TransformerBridge around ``model`` (a LIMeForCausalLM in memory), sharing its weights.

    ``TransformerBridge.boot_transformers(name, hf_model=model, tokenizer=tokenizer)`` with the
    architecture key set, since a model built in memory has no ``config.architectures`` yet.
    ``tokenizer`` must have been loaded from a folder (TransformerLens re-loads it by
    ``name_or_path`` to add a BOS token). TransformerLens switches the model to eager attention,
    so the bridge can hook the attention scores and pattern.
    """
    from transformer_lens.model_bridge import TransformerBridge

    register_adapter()
    overrides = {"architectures": [ARCHITECTURE], **kwargs.pop("hf_config_overrides", {})}
    name = getattr(model, "name_or_path", "") or ARCHITECTURE
    return TransformerBridge.boot_transformers(
        name,
        hf_model=model,
        tokenizer=tokenizer,
        device=device or str(next(model.parameters()).device),
        hf_config_overrides=overrides,
        **kwargs,
    )
