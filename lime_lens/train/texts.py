"""Training text from a file or a Hugging Face dataset, with a held-out validation part.

The embedded Austen corpus is the CLI's default source (``lime_lens.train.cli.load_texts``), so that
this library never loads package data itself.
"""

from __future__ import annotations

from pathlib import Path


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """Hold out the last ``val_fraction`` of lines (at least one) as validation."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    lines = text.split("\n")
    if len(lines) < 2:
        raise ValueError("text has a single line; cannot hold out validation lines")
    cut = min(len(lines) - 1, round((1 - val_fraction) * len(lines)))
    return "\n".join(lines[:cut]), "\n".join(lines[cut:])


def read_texts(
    text_file: str | None = None,
    hf_dataset: str | None = None,
    hf_config: str | None = None,
    hf_split: str = "train",
    hf_val_split: str | None = None,
    hf_text_column: str = "text",
    val_fraction: float = 0.05,
) -> tuple[str, str]:
    """(train, validation) text of ``text_file`` or of the HF dataset ``hf_dataset`` (exactly one)."""
    if text_file is not None and hf_dataset is not None:
        raise ValueError("give either text_file or hf_dataset, not both")
    if text_file is not None:
        path = Path(text_file)
        if not path.is_file():
            raise ValueError(f"text_file {text_file!r} is not a file")
        return split_text(path.read_text(encoding="utf-8"), val_fraction)
    if hf_dataset is None:
        raise ValueError("give text_file or hf_dataset")
    return _hf_texts(hf_dataset, hf_config, hf_split, hf_val_split, hf_text_column, val_fraction)


def _hf_texts(
    name: str,
    config: str | None,
    split: str,
    val_split: str | None,
    column: str,
    val_fraction: float,
) -> tuple[str, str]:
    import datasets  # the real hub path; needs network or a local cache

    def text_of(split_name: str) -> str:
        ds = datasets.load_dataset(name, config, split=split_name)
        if column not in ds.column_names:
            raise ValueError(f"hf_text_column {column!r} not in {name} columns {ds.column_names}")
        return "\n".join(ds[column])

    if val_split is not None:
        return text_of(split), text_of(val_split)
    return split_text(text_of(split), val_fraction)
