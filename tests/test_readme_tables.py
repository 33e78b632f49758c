"""The README's benchmark tables are renderings of the committed JSON, not hand-typed numbers."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from render_benchmark_tables import tables  # noqa: E402

TABLES = tables()


@pytest.mark.parametrize("source", sorted(TABLES))
def test_readme_quotes_the_table_rendered_from_the_benchmark_json(source):
    readme = (ROOT / "README.md").read_text()
    assert f"<!-- rendered from results/benchmarks/{source} -->\n{TABLES[source]}\n" in readme
