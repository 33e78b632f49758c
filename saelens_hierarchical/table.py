"""Tidy result tables on disk: ``<stem>.csv`` and ``<stem>.json`` (records plus provenance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from saelens_hierarchical.atomic_write import write_atomic


def save_table(
    table: pd.DataFrame, out_dir: str | Path, stem: str, extra: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.json`` (records plus ``extra`` provenance).

    Each file is written atomically, so an interrupted run leaves the previous table or none,
    never a truncated one.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
    payload = {**(extra or {}), "rows": json.loads(table.to_json(orient="records"))}
    write_atomic(csv_path, table.to_csv(index=False))
    write_atomic(json_path, json.dumps(payload, indent=2))
    return csv_path, json_path
