"""Register a training architecture with SAELens, safely under re-import.

SAELens's ``register_sae_training_class`` raises when the name is taken, so a module that
registers on import would fail on ``importlib.reload``. Here the entry is re-pointed when it
holds the same class (same module and qualified name: a reload made a new class object), and a
different class already holding the name is refused rather than silently shadowed.
"""

from __future__ import annotations

from typing import Any

from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY, register_sae_training_class
from sae_lens.saes.sae import TrainingSAE, TrainingSAEConfig


def _identity(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


def register_architecture(
    name: str, sae_class: type[TrainingSAE[Any]], config_class: type[TrainingSAEConfig]
) -> None:
    """Register ``name`` -> (``sae_class``, ``config_class``) for SAELens training.

    Raises ValueError naming the holder when a foreign class already has ``name``.
    """
    entry = SAE_TRAINING_CLASS_REGISTRY.get(name)
    if entry is None:
        register_sae_training_class(name, sae_class, config_class)
    elif _identity(entry[0]) == _identity(sae_class):
        SAE_TRAINING_CLASS_REGISTRY[name] = (sae_class, config_class)
    else:
        raise ValueError(
            f"SAELens architecture {name!r} is already registered by {entry[0]!r}; "
            f"refusing to replace it with {sae_class!r}"
        )
