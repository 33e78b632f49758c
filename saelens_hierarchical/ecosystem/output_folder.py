"""Write an output folder beside its final name and rename it into place when complete.

An interrupted run then leaves no half-written folder under the name the user asked for.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_folder(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it becomes ``out_dir``.

    ``out_dir`` must not exist or be empty (ValueError naming it otherwise): results are never
    mixed with a previous run's.
    """
    final = Path(out_dir)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise ValueError(f"output folder {final} exists and is not empty")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            final.rmdir()
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
