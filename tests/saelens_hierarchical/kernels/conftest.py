"""Triton's interpreter for the kernel tests on machines without CUDA.

Triton reads TRITON_INTERPRET once, when it is first imported, and nothing imports it while
pytest collects (``saelens_hierarchical.loss_triton`` imports its kernels on first use), so
setting it here, at collection, puts every later Triton launch of the run on the CPU
interpreter. With CUDA present it is left alone: the kernels then compile for the GPU.
"""

import os
import sys

import torch

if not torch.cuda.is_available():
    if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(
            "triton was imported before TRITON_INTERPRET=1 could be set; run the kernel tests "
            "with TRITON_INTERPRET=1 in the environment"
        )
    os.environ["TRITON_INTERPRET"] = "1"
