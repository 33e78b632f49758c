"""What every study shares: repo paths, rendered files, rendered blocks and run provenance.

A study's ``render`` module exposes ``rendered() -> list[Rendered]``: every results file it owns,
as rendered from its committed JSON alone. ``python -m experiments.rerender`` writes them, and
``--check`` fails on any difference with the committed files.
"""

from __future__ import annotations

import datetime
import io
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPO = Path(__file__).resolve().parents[1]
UNKNOWN = "unknown (not recorded at the time of the run)"
"""The value of a provenance field that an older run's JSON did not record."""


def repo_path(path: Path) -> str:
    """``path`` relative to the repository root in POSIX form (as rendered text quotes it);
    a path outside the repository as given."""
    try:
        return Path(path).resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Rendered:
    """One results file as its renderer makes it from the committed JSON."""

    path: Path
    """Where the committed file lives (absolute)."""
    content: str | bytes
    """Its full content: Markdown text, or the bytes of a figure."""

    def differs(self) -> bool:
        """True when the committed file is absent or not byte-identical to ``content``."""
        if not self.path.is_file():
            return True
        data = self.content.encode() if isinstance(self.content, str) else self.content
        return self.path.read_bytes() != data

    def write(self) -> None:
        """Write ``content`` to ``path`` atomically."""
        from saelens_hierarchical.atomic_write import atomic_path

        data = self.content.encode() if isinstance(self.content, str) else self.content
        with atomic_path(self.path) as tmp:
            Path(tmp).write_bytes(data)


def png_bytes(fig: Figure, dpi: int) -> bytes:
    """``fig`` as PNG bytes (deterministic for a given matplotlib: no timestamp is embedded)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def replace_block(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with ``block`` between the markers ``begin`` and ``end`` (``block`` includes both
    markers); appended at the end when the markers are absent."""
    if begin in text:
        return text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def git_commit() -> str:
    """The checked-out commit, with ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git checkout)"
    return head + ("+dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_spec() -> dict[str, Any]:
    """The specification of the machine a run is made on (never its load at the time)."""
    import torch

    spec: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        spec["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        spec["memory_gib"] = None
    return spec


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def provenance(seeds: list[int], argv: list[str] | None = None) -> dict[str, Any]:
    """The provenance block a runner writes at its start: command, commit, seeds, start time and
    machine; :func:`finish` adds the end time."""
    args = sys.argv if argv is None else argv
    module = _module_of(args[0])
    command = ["python", "-m", module, *args[1:]] if module else ["python", *args]
    return {
        "command": shlex.join(command),
        "git_commit": git_commit(),
        "seeds": list(seeds),
        "start_time": now(),
        "end_time": None,
        "machine": machine_spec(),
    }


def finish(block: dict[str, Any]) -> dict[str, Any]:
    """``block`` with its end time set to now."""
    return {**block, "end_time": now()}


def _module_of(script: str) -> str | None:
    """``experiments.x.run`` for a file inside this repository run with ``python -m``."""
    try:
        rel = Path(script).resolve().relative_to(REPO)
    except ValueError:
        return None
    return ".".join(rel.with_suffix("").parts) if rel.parts[0] == "experiments" else None
