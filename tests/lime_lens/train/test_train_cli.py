import json
import os
import subprocess
import sys

import pytest
import torch

from lime_lens import HookedLIMeTransformer
from lime_lens.serialization import load_model
from lime_lens.train.cli import main

TINY = [
    "--n-layers",
    "2",
    "--d-model",
    "32",
    "--n-heads",
    "2",
    "--n-key-value-heads",
    "1",
    "--d-head",
    "16",
    "--d-mlp",
    "64",
    "--n-ctx",
    "32",
    "--context-size",
    "32",
    "--batch-size",
    "4",
    "--warmup-steps",
    "2",
    "--eval-interval",
    "0",
    "--no-progress",
    "--device",
    "cpu",
]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    from lime_lens.assets import load_corpus

    path = tmp_path_factory.mktemp("text") / "austen_val.txt"
    path.write_text(load_corpus("validation")[:40_000])
    return path


@pytest.mark.parametrize("arch", ["vanilla", "lime-kv"])
def test_cli_trains_on_a_text_file_and_saves_a_loadable_model_with_metrics(
    tmp_path, text_file, arch
):
    main(
        [
            "--arch",
            arch,
            "--out",
            str(tmp_path),
            "--text-file",
            str(text_file),
            "--max-steps",
            "3",
            *TINY,
        ]
    )
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["arch"] == arch and len(metrics["train_losses"]) == 3
    assert metrics["tokens_seen"] == 3 * 4 * 32
    assert metrics["val_perplexity"] == pytest.approx(
        torch.tensor(metrics["val_loss"]).exp().item(), rel=1e-6
    )
    model = (
        HookedLIMeTransformer.from_pretrained(tmp_path / "model")
        if arch != "vanilla"
        else load_model(tmp_path / "model")
    )
    assert model.cfg.d_vocab == 4096 and model.cfg.n_layers == 2


def test_cli_resume_auto_continues_a_stopped_run_to_the_same_curve(tmp_path, text_file):
    common = ["--arch", "vanilla", "--text-file", str(text_file), "--max-steps", "4", *TINY]
    main([*common, "--out", str(tmp_path / "full")])
    main([*common, "--out", str(tmp_path / "split"), "--stop-at-step", "2"])
    assert not (tmp_path / "split" / "model").exists()  # stopped early: checkpoint only
    main([*common, "--out", str(tmp_path / "split"), "--resume", "auto"])
    full, split = (
        json.loads((tmp_path / d / "model" / "metrics.json").read_text()) for d in ("full", "split")
    )
    assert split["train_losses"] == full["train_losses"]


def test_cli_rejects_an_unknown_arch(tmp_path):
    with pytest.raises(SystemExit):
        main(["--arch", "gpt5", "--out", str(tmp_path)])


@pytest.mark.slow
def test_cli_under_torchrun_fsdp_matches_one_process_and_every_worker_exits_zero(
    tmp_path, text_file
):
    """``torchrun -m lime_lens.train`` (2 gloo workers, FSDP): same curve as one process, and a
    clean exit: the workers leave through ``exit_worker``, not a finalization that can abort."""
    common = ["--arch", "lime-kv", "--text-file", str(text_file), "--max-steps", "3", *TINY]
    main([*common, "--out", str(tmp_path / "one")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "lime_lens.train", *common, "--parallel", "fsdp", "--out", str(tmp_path / "two")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (
        json.loads((tmp_path / d / "model" / "metrics.json").read_text()) for d in ("one", "two")
    )
    torch.testing.assert_close(
        torch.tensor(two["train_losses"]), torch.tensor(one["train_losses"]), rtol=1e-5, atol=1e-5
    )
