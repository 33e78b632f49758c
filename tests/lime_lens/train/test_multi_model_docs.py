"""The training guide's stacked-training example (docs/lime/training.md) runs as written, and each
model folder it writes loads on its own as the architecture it was built as."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lime_lens.model import HookedLIMeTransformer
from lime_lens.train.multi_checkpoint import load_saved_model

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "lime" / "training.md"


def _stack_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "train_models(" in b]
    return block


@pytest.mark.slow
def test_the_guide_example_trains_four_models_that_each_load_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example writes runs/stack/<name>
    scope: dict = {}
    exec(compile(_stack_example(), str(GUIDE), "exec"), scope)
    assert [r.train_losses[-1] > 0 for r in scope["results"]] == [True] * 4
    for name, model in zip(scope["names"], scope["models"], strict=True):
        loaded = load_saved_model(tmp_path / "runs" / "stack" / name / "step_00000020" / "model")
        assert isinstance(loaded, HookedLIMeTransformer) == name.startswith("lime")
        for key, value in model.state_dict().items():
            assert key in loaded.state_dict(), key
            assert loaded.state_dict()[key].equal(value), key
