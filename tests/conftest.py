"""Suite-wide: offline (the embedded assets need no hub) and one torch thread per test process."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

import jaxtyping  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def unchecked():
    """Turn the runtime shape and type checks (pyproject addopts: jaxtyping + beartype) off.

    For tests that pass ill-typed input ON PURPOSE (a float k, an unknown Literal choice, a vanilla
    config) to pin the ValueError naming the field that a user gets: users run without the
    checker, which would otherwise answer first with a TypeError of its own. And for tests that
    run our code under ``torch.compile``: dynamo traces the checker's isinstance tests on its
    fake tensors, and they fail (the same code is checked in the eager tests).
    """
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", False)
