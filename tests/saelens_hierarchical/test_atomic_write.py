"""The one atomic-write helper: the old file or the new one, never a partial one or a temp file."""

import pytest

from saelens_hierarchical.atomic_write import atomic_path, write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "ratios.json"
    write_atomic(path, "old")
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["ratios.json"]


def test_a_failing_writer_keeps_the_previous_file(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_the_temporary_path_keeps_the_suffix_writers_choose_formats_by(tmp_path):
    with atomic_path(tmp_path / "frontier.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_bytes(b"x")
    assert (tmp_path / "frontier.png").read_bytes() == b"x"
