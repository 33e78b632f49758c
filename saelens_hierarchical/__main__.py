"""``python -m saelens_hierarchical compare ...``: the HierarchicalTopK-vs-peers study's CLI.

The study lives in ``saelens_hierarchical.study``; it is imported only when this runs, so the
plugin itself never loads it.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Hand the arguments to ``saelens_hierarchical.study.cli``."""
    from saelens_hierarchical.study.cli import main as study_main

    return study_main(argv)


if __name__ == "__main__":
    sys.exit(main())
