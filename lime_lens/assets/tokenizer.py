"""Offline tokenizers: the real GPT-2 BPE, and the default BPE-4096 fitted on Austen.

Why BPE-4096 is the default for models trained here: with GPT-2's 50,257-entry vocabulary the
unembedding dominates a small model on CPU (a 2-layer d_model=128 model has 13.3M parameters
and trains at about 600 tok/s, against 1.47M and 7.5k tok/s with 4096 entries; batch 16 x 128,
fp32, 2 CPU threads), while a byte-level vocabulary (256) spends most of the context on
sub-word pieces. 4096 byte-level BPE entries fitted on the Austen train split cover the corpus at
about 4 characters per token.
``<|endoftext|>`` (id 0) is bos, eos, pad and unk, as in GPT-2.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from lime_lens.assets.paths import BPE_TOKENIZER_DIR, GPT2_TOKENIZER_DIR, require

SPECIAL_TOKEN = "<|endoftext|>"
DEFAULT_VOCAB_SIZE = 4096


def train_bpe_tokenizer(text: str, vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Fit a GPT-2-style byte-level BPE on ``text`` (deterministic: one thread, fixed order)."""
    if vocab_size <= 257:
        raise ValueError(
            f"vocab_size must exceed the 256 bytes + 1 special token, got {vocab_size}"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[SPECIAL_TOKEN],  # id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(text.split("\n"), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL_TOKEN,
        eos_token=SPECIAL_TOKEN,
        pad_token=SPECIAL_TOKEN,
        unk_token=SPECIAL_TOKEN,
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )


def _from_dir(path: Path, what: str) -> PreTrainedTokenizerBase:
    # Loaded from disk (never built in memory) so that ``name_or_path`` is this folder: the
    # TransformerLens tokenizer set-up re-loads tokenizers by that name to add a BOS token.
    return AutoTokenizer.from_pretrained(str(require(path, what)), local_files_only=True)


def load_gpt2_tokenizer() -> PreTrainedTokenizerBase:
    """GPT-2's BPE (50,257 entries), from the files shipped in openai-whisper==20230124."""
    return _from_dir(GPT2_TOKENIZER_DIR, "GPT-2 tokenizer")


def load_tokenizer() -> PreTrainedTokenizerBase:
    """The default tokenizer: byte-level BPE with 4096 entries fitted on the Austen train split."""
    return _from_dir(BPE_TOKENIZER_DIR, "BPE-4096 tokenizer")
