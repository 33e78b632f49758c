"""Re-render every results file of every study from its committed JSON.

    python -m experiments.rerender           # write them
    python -m experiments.rerender --check   # exit 1, listing them, if any differs from the commit

Each study's ``render`` module exposes ``rendered()`` (see ``experiments.common.Rendered``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from experiments.common import Rendered, repo_path

STUDIES = (
    "experiments.htopk_pareto.render",
    "experiments.lime_reproduction.render",
    "experiments.lime_ablation.render",
    "experiments.lime_arithmetic.render",
    "experiments.lime_arithmetic.render_scale",
    "experiments.lime_depth.render",
    "experiments.htopk_adaptive_control.render",
    "experiments.summary",
    "benchmarks.render_tables",
)
"""Every module whose ``rendered()`` lists results files."""


def all_rendered(studies: tuple[str, ...] = STUDIES) -> list[Rendered]:
    """Every results file, as rendered from its JSON."""
    return [file for name in studies for file in importlib.import_module(name).rendered()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; fail on a difference")
    args = parser.parse_args(argv)
    files = all_rendered()
    stale = [file for file in files if file.differs()]
    if args.check:
        for file in stale:
            print(f"stale: {repo_path(file.path)} differs from its rendering", file=sys.stderr)
        print(f"{len(files) - len(stale)} of {len(files)} results files match their JSON")
        return 1 if stale else 0
    for file in stale:
        file.write()
        print(f"wrote {repo_path(file.path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
