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


def run_worker(out: Path, parallel: str, nproc: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--standalone",
    ]
    cmd = [
        *(launcher if nproc > 1 else [sys.executable]),
        str(WORKER),
        str(out),
        parallel,
        str(STEPS),
    ]
    subprocess.run(cmd, check=True, env=env, timeout=300)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return run_worker(tmp_path_factory.mktemp("single") / "curve.json", "ddp", nproc=1)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_process_loss_curve_equals_single_process_at_the_same_global_batch(
    tmp_path, single, parallel
):
    multi = run_worker(tmp_path / "curve.json", parallel, nproc=2)
    assert (single["world_size"], multi["world_size"]) == (1, 2)
    ours, ref = torch.tensor(multi["train_losses"]), torch.tensor(single["train_losses"])
    print(f"{parallel}: max |loss diff| over {STEPS} steps = {(ours - ref).abs().max().item():.3g}")
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert multi["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)
