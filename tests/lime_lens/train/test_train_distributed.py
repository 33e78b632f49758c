"""DDP and FSDP under torchrun (2 CPU processes, gloo) reproduce the single-process loss curve."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS = 8


def run_worker(out: Path, parallel: str, nproc: int, checkpoint_dir: Path | None = None) -> dict:
    """Run ddp_worker.py in one process or under torchrun; return rank 0's curve."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
    ]
    cmd = [
        *(torchrun if nproc > 1 else [sys.executable]),
        str(WORKER),
        str(out),
        parallel,
        str(STEPS),
        *([str(checkpoint_dir)] if checkpoint_dir is not None else []),
    ]
    subprocess.run(cmd, check=True, env=env, timeout=300)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return run_worker(tmp_path_factory.mktemp("single") / "curve.json", "ddp", nproc=1)


@pytest.mark.slow
@pytest.mark.parametrize(("parallel", "resumed"), [("ddp", False), ("fsdp", False), ("fsdp", True)])
def test_two_process_loss_curve_equals_single_process_at_the_same_global_batch(
    tmp_path, single, parallel, resumed
):
    """With ``resumed``, the 2-process run stops halfway and resumes from its checkpoint."""
    checkpoint_dir = tmp_path / "checkpoints" if resumed else None
    multi = run_worker(tmp_path / "curve.json", parallel, nproc=2, checkpoint_dir=checkpoint_dir)
    assert (single["world_size"], multi["world_size"]) == (1, 2)
    ours, ref = torch.tensor(multi["train_losses"]), torch.tensor(single["train_losses"])
    print(
        f"{parallel} (resumed={resumed}): max |loss diff| over {STEPS} steps = "
        f"{(ours - ref).abs().max().item():.3g}"
    )
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert multi["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)
