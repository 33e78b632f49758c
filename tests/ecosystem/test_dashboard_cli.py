"""``python -m saelens_hierarchical dashboard``: pages per budget on the embedded corpus; bad
input is reported naming it, with exit status 2 and no output folder."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.ecosystem
pytest.importorskip("sae_dashboard")

from saelens_hierarchical import __main__ as entry  # noqa: E402


def test_cli_writes_one_page_per_budget_and_an_index(sae_dir, tmp_path, capsys):
    out = tmp_path / "dash"
    argv = ["dashboard", "--sae", str(sae_dir), "--budgets", "4,16", "--features", "1,2"]
    assert entry.main([*argv, "--out", str(out), "--n-prompts", "16"]) == 0
    assert sorted(p.name for p in out.glob("*.html")) == [
        "budget_16.html",
        "budget_4.html",
        "index.html",
    ]
    assert f"index: {out / 'index.html'}" in capsys.readouterr().out


def test_cli_reads_a_dataset_the_user_names(sae_dir, token_rows, tmp_path):
    rows = token_rows.select(range(100, 108))  # other rows than the default
    rows.save_to_disk(str(tmp_path / "rows"))
    argv = ["dashboard", "--sae", str(sae_dir), "--budgets", "8", "--features", "1"]
    argv += ["--dataset", str(tmp_path / "rows"), "--out", str(tmp_path / "dash")]
    assert entry.main(argv) == 0
    page = (tmp_path / "dash" / "budget_8.html").read_text()
    assert "plotly.min.js" in page and "cdn.plot.ly" not in page


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--budgets", "4,32", r"budgets must be in 1..K=16; got \[4, 32\]"),
        ("--features", "999", r"features must be in 0..255; got \[999\]"),
        ("--sae", "nowhere", "SAE folder nowhere does not exist"),
    ],
)
def test_cli_refuses_bad_input_naming_it(sae_dir, tmp_path, capsys, flag, value, message):
    args = {"--sae": str(sae_dir), "--budgets": "4", "--features": "1", flag: value}
    argv = ["dashboard", *[x for kv in args.items() for x in kv], "--out", str(tmp_path / "d")]
    assert entry.main(argv) == 2

    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "d").exists()
