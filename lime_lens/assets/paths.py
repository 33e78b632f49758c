"""Where the embedded assets live inside the installed package (``lime_lens/assets/data``)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS_DIR = DATA_DIR / "austen"
GPT2_TOKENIZER_DIR = DATA_DIR / "gpt2_tokenizer"
BPE_TOKENIZER_DIR = DATA_DIR / "bpe4096_tokenizer"
DEFAULT_MODEL_DIR = DATA_DIR / "default_model"


def require(path: Path, what: str) -> Path:
    """Return ``path`` or raise FileNotFoundError naming the asset and how to rebuild it."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: embedded {what} is missing; rebuild it with `python scripts/build_assets.py`"
            " (corpus/tokenizers) or `python scripts/train_default_model.py` (default model)"
        )
    return path
