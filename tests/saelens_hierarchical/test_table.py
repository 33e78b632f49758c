"""Result tables on disk: CSV + JSON, each written atomically."""

import json

import pandas as pd
import pytest

from saelens_hierarchical.table import save_table


def test_save_table_interrupted_mid_write_keeps_the_previous_table_and_no_temp_files(
    tmp_path, monkeypatch
):
    old, new = pd.DataFrame({"budget": [1, 2]}), pd.DataFrame({"budget": [1, 2, 4]})
    csv_path, json_path = save_table(old, tmp_path, "sweep", extra={"run": "old"})
    before = (csv_path.read_text(), json_path.read_text())

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr("saelens_hierarchical.atomic_write.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_table(new, tmp_path, "sweep", extra={"run": "new"})
    assert (csv_path.read_text(), json_path.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv", "sweep.json"]
    monkeypatch.undo()
    save_table(new, tmp_path, "sweep", extra={"run": "new"})
    assert pd.read_csv(csv_path)["budget"].tolist() == [1, 2, 4]
    assert json.loads(json_path.read_text())["run"] == "new"
