"""Load a saved SAE folder for the ecosystem tools, and check budgets and feature indices early."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sae_lens import SAE

from saelens_hierarchical.budget import max_budget


def load_sae(sae_dir: str | Path, device: str = "cpu") -> SAE:
    """``SAE.load_from_disk``, with an error naming the folder when it is missing or incomplete."""
    path = Path(sae_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"SAE folder {path} does not exist")
    for name in ("cfg.json", "sae_weights.safetensors"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"SAE folder {path} has no {name}")
    return SAE.load_from_disk(str(path), device=device)


def check_budgets(sae: SAE, budgets: Sequence[int]) -> list[int]:
    """The budgets, sorted and unique; ValueError naming any outside 1..K."""
    K = max_budget(sae)  # type: ignore[arg-type]
    bad = [k for k in budgets if not 1 <= k <= K]
    if not budgets or bad:
        raise ValueError(f"budgets must be in 1..K={K}; got {list(budgets)}")
    return sorted(set(budgets))


def check_features(sae: SAE, features: Sequence[int]) -> list[int]:
    """The feature indices, unique in order; ValueError naming any outside 0..d_sae-1."""
    bad = [f for f in features if not 0 <= f < sae.cfg.d_sae]
    if not features or bad:
        raise ValueError(f"features must be in 0..{sae.cfg.d_sae - 1}; got {list(features)}")
    return list(dict.fromkeys(features))
