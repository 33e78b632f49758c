"""The docs' benchmark tables are renderings of the committed JSON, not hand-typed numbers."""

from pathlib import Path

import pytest

from benchmarks.render_tables import tables

ROOT = Path(__file__).resolve().parents[1]
TABLES = tables()


@pytest.mark.parametrize("source", sorted(TABLES))
def test_benchmarks_page_quotes_the_table_rendered_from_the_benchmark_json(source):
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    assert f"<!-- rendered from results/benchmarks/{source} -->\n{TABLES[source]}\n" in page
