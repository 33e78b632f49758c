"""The embedded English corpus: Jane Austen's six novels (Debian r-cran-janeaustenr 1.0.0-1).

Split (deterministic, decided at build time by ``scripts/build_assets.py``): for each novel, in
publication order, the first ``ceil(0.95 * n_lines)`` lines go to ``train`` and the remaining
lines to ``validation``; within a split the novels' line blocks are joined with ``"\\n"``.
Validation is therefore the closing ~5% of every novel: unseen text, same author and style.
"""

from __future__ import annotations

import gzip
import math
from typing import Literal

from lime_lens.assets.paths import CORPUS_DIR, require

Split = Literal["train", "validation"]
SPLITS: tuple[Split, ...] = ("train", "validation")
NOVELS = (  # publication order, as janeaustenr::austen_books()
    "sensesensibility",
    "prideprejudice",
    "mansfieldpark",
    "emma",
    "northangerabbey",
    "persuasion",
)
VALIDATION_FRACTION = 0.05


def split_novels(novels: dict[str, list[str]]) -> dict[Split, str]:
    """The documented split: the last 5% of each novel's lines is validation (see module doc)."""
    parts: dict[Split, list[str]] = {"train": [], "validation": []}
    for name in NOVELS:
        lines = novels[name]
        cut = math.ceil((1 - VALIDATION_FRACTION) * len(lines))
        parts["train"].append("\n".join(lines[:cut]))
        parts["validation"].append("\n".join(lines[cut:]))
    return {split: "\n".join(blocks) for split, blocks in parts.items()}


def load_corpus(split: Split = "train") -> str:
    """Jane Austen's novels, ``split`` in {"train", "validation"}; offline, from package data."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = require(CORPUS_DIR / f"{split}.txt.gz", f"Austen {split} corpus")
    return gzip.decompress(path.read_bytes()).decode("utf-8")
