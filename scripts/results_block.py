"""A rendered block between two HTML-comment markers in a results file: check it, or replace it."""

from __future__ import annotations

from pathlib import Path

from saelens_hierarchical.atomic_write import write_atomic


def update_block(path: Path, begin: str, end: str, block: str, check: bool) -> int:
    """With ``check``: 0 if ``block`` is in ``path``, else 1. Otherwise write it between the
    markers (appended when they are absent), atomically; 0."""
    text = path.read_text()
    if check:
        return 0 if block in text else 1
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_atomic(path, text)
    return 0
