"""``python -m experiments.rerender --check``: every results file equals its rendering from the
committed JSON, and a difference is reported, not written."""

import pytest

from experiments import rerender
from experiments.common import Rendered, replace_block


def test_a_file_that_differs_from_its_rendering_is_stale(tmp_path):
    path = tmp_path / "page.md"
    path.write_text("old\n")
    assert Rendered(path, "new\n").differs()
    assert not Rendered(path, "old\n").differs()
    assert Rendered(tmp_path / "absent.md", "x").differs()
    Rendered(path, b"\x89PNG").write()
    assert path.read_bytes() == b"\x89PNG"


def test_replace_block_swaps_only_the_marked_block():
    text = "a\n<!-- b -->\nold\n<!-- e -->\nz\n"
    assert replace_block(text, "<!-- b -->", "<!-- e -->", "<!-- b -->\nnew\n<!-- e -->") == (
        "a\n<!-- b -->\nnew\n<!-- e -->\nz\n"
    )


@pytest.mark.slow
def test_every_committed_results_file_is_the_rendering_of_its_json(capsys):
    assert rerender.main(["--check"]) == 0, capsys.readouterr().err
