"""Ahead-of-time compile check of the HierarchicalTopK Triton kernels for A100 and H100, on CPU.

Every kernel of ``saelens_hierarchical/loss/triton_kernels.py`` (forward; backward with and
without atomics; the deterministic path's segment sum) is compiled with
``triton.compile(ASTSource(...), target=GPUTarget("cuda", cc, 32))`` for sm_80 (A100) and
sm_90 (H100), at every configuration the launcher can pick (``triton_configs.CANDIDATES``)
and at the one it launched before tuning (``BEFORE_TUNING``), for fp32, bf16 and fp16 inputs.
No GPU is needed: Triton's wheel carries ptxas and cuobjdump. For each compile it records
registers per thread, stack and local memory (spills), shared memory, and the theoretical
occupancy per SM (``occupancy``). Each compile is made twice (``_attrs``): with the
specialisation Triton gives a training launch (every pointer 16-byte aligned and B, K, D
multiples of 16: F=65,536, D=2,304, B=4,096, K=64) and with none (any shape).

Rerun (10 to 15 minutes on 2 CPU cores; ``--defaults`` compiles only the table's two
configurations, as the CI test does, ``--smoke`` one config for sm_90 in bf16):

    TRITON_DEFAULT_FP_FUSION=1 python -m benchmarks.triton_aot \\
        --out results/benchmarks/triton_aot.json

It writes the JSON (with the command, commit, start and end time, machine specification) and
``triton_aot.md`` next to it, rendered from the JSON by ``benchmarks/triton_aot_render.py``
(``python -m benchmarks.triton_aot_render results/benchmarks/triton_aot.json`` re-renders).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # 3.9 warns when unset; 3.10's default
import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from benchmarks.triton_aot_render import write_outputs
from saelens_hierarchical.loss import triton_configs as tc

CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
DTYPES = {"fp32": "*fp32", "bf16": "*bf16", "fp16": "*fp16"}
TORCH = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Per SM, both architectures (CUDA occupancy calculator, compute capability 8.0 and 9.0).
SM: dict[int, dict[str, Any]] = {
    80: {"gpu": "A100 (sm_80)", "regs": 65536, "max_warps": 64, "max_blocks": 32, "smem": 164},
    90: {"gpu": "H100 (sm_90)", "regs": 65536, "max_warps": 64, "max_blocks": 32, "smem": 228},
}
SPECS = ("aligned", "any")  # see _attrs
REG_ALLOC_UNIT = 256  # registers are allocated per warp in units of 256
# The table's keys reported as "defaults": GPT-2's, Gemma-2-2B's (the paper's), Llama's d_in,
# and a d_in that is not a multiple of 16, at the paper's K's.
DEFAULT_KEYS = [(d, k, dt) for d in (70, 768, 2304, 4096) for k in (32, 64, 128) for dt in DTYPES]


def kernel_specs(dtype: str) -> dict[str, tuple[Any, dict[str, str], bool | None]]:
    """kernel -> (JIT function, signature, ATOMIC) for one input dtype; the forward has no atomic
    switch, the segment sum (deterministic path only) reads fp32 buffers whatever the dtype.

    The kernels module is imported here, not with this one: ``triton.jit`` fixes compiled vs
    interpreted mode at that import, once per process (a test process importing this module
    for its arithmetic must not fix it for the interpreter tests)."""
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise RuntimeError("triton_aot compiles for a GPU: unset TRITON_INTERPRET")
    from saelens_hierarchical.loss import triton_kernels as tk

    ptr = DTYPES[dtype]
    fwd = dict(
        x_ptr=ptr,
        b_ptr=ptr,
        a_ptr=ptr,
        idx_ptr="*i64",
        w_ptr=ptr,
        weight_ptr="*fp32",
        res_ptr="*fp32",
        out_ptr="*fp32",
        part_ptr="*fp32",
        B="i32",
        K="i32",
        D="i32",
    )
    bwd = dict(
        r_ptr="*fp32",
        s_ptr="*fp32",
        a_ptr=ptr,
        idx_ptr="*i64",
        w_ptr=ptr,
        scaled_weight_ptr="*fp32",
        da_ptr="*fp32",
        dw_ptr="*fp32",
        contrib_ptr="*fp32",
        B="i32",
        K="i32",
        D="i32",
        t_lo="i32",
        t_hi="i32",
    )
    seg = dict(
        contrib_ptr="*fp32",
        order_ptr="*i64",
        latent_ptr="*i64",
        end_ptr="*i64",
        dw_ptr="*fp32",
        D="i32",
    )
    return {"forward": (tk.forward_kernel, fwd, None),
            "backward": (tk.backward_kernel, bwd, True),
            "backward_sorted": (tk.backward_kernel, bwd, False),
            "segment_sum": (tk.segment_sum_kernel, seg, None)}  # fmt: skip


def _attrs(fn: Any, signature: dict[str, str], spec: str) -> dict[tuple[int, ...], list[list[Any]]]:
    """Triton's launch-time specialisation: "aligned" marks every pointer and B, K, D divisible
    by 16 (D = 2,304, B = 4,096, K = 64: vectorised loads); "any" marks nothing (any shape, e.g.
    K = 5 or D = 70, scalar loads and more address registers)."""
    if spec == "any":
        return {}
    aligned = {name for name, kind in signature.items() if kind.startswith("*")} | {"B", "K", "D"}
    return {(fn.arg_names.index(n),): [["tt.divisibility", 16]] for n in aligned if n in signature}


def resource_usage(cubin: bytes) -> dict[str, int]:
    """REG, STACK, SHARED, LOCAL of the cubin's one function (``cuobjdump --dump-resource-usage``)."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as handle:
        handle.write(cubin)
        handle.flush()
        text = subprocess.run(
            [str(CUOBJDUMP), "--dump-resource-usage", handle.name],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    line = next(x for x in text.splitlines() if "REG:" in x)
    fields = dict(item.split(":", 1) for item in line.split() if ":" in item)
    return {key.lower(): int(fields[key]) for key in ("REG", "STACK", "SHARED", "LOCAL")}


def occupancy(regs: int, warps: int, shared_bytes: int, cc: int) -> dict[str, Any]:
    """Theoretical resident blocks and warps per SM: the least of the register file (allocated
    per warp in 256-register units), the 64-warp and 32-block limits and shared memory."""
    sm = SM[cc]
    regs_per_warp = -(-regs * 32 // REG_ALLOC_UNIT) * REG_ALLOC_UNIT
    limits = {
        "registers": (sm["regs"] // regs_per_warp) // warps,
        "warps": sm["max_warps"] // warps,
        "blocks": sm["max_blocks"],
        "shared": sm["smem"] * 1024 // shared_bytes if shared_bytes else sm["max_blocks"],
    }
    blocks = min(limits.values())
    limiter = min(limits, key=limits.__getitem__)
    warps_resident = blocks * warps
    return {"blocks_per_sm": blocks, "warps_per_sm": warps_resident, "limited_by": limiter,
            "occupancy": warps_resident / sm["max_warps"]}  # fmt: skip


def compile_one(
    fn: Any, signature: dict[str, str], atomic: bool | None, cfg: tc.TileConfig, cc: int, spec: str
) -> dict[str, Any]:
    """One kernel at one configuration for one target: its resources, or the compile error."""
    constexprs: dict[str, Any] = {"BLOCK_D": cfg.block_d}
    if "BLOCK_B" in fn.arg_names:
        constexprs["BLOCK_B"] = cfg.block_b
    if atomic is not None:
        constexprs["ATOMIC"] = atomic
    full_sig = {**signature, **dict.fromkeys(constexprs, "constexpr")}
    source = ASTSource(fn, full_sig, constexprs, _attrs(fn, signature, spec))
    start = time.perf_counter()
    try:
        compiled = triton.compile(
            source, target=GPUTarget("cuda", cc, 32),
            options={"num_warps": cfg.num_warps, "num_stages": cfg.num_stages},
        )  # fmt: skip
    except Exception as error:  # recorded: the check fails on it, the run goes on
        return {"error": f"{type(error).__name__}: {error}"[:1000]}
    usage = resource_usage(compiled.asm["cubin"])
    shared = usage["shared"] + compiled.metadata.shared  # static + dynamic, per block
    return {**usage, "dynamic_shared": compiled.metadata.shared,
            **occupancy(usage["reg"], cfg.num_warps, shared, cc),
            "compile_s": round(time.perf_counter() - start, 2)}  # fmt: skip


def run(configs: list[tuple[str, tc.TileConfig]], ccs: list[int], dtypes: list[str]) -> list[dict]:
    """Every (config, specialisation, target, dtype, kernel) compiled once; the segment sum
    (dtype-free) only with the first dtype."""
    rows = []
    for label, cfg in configs:
        for spec, cc, dtype in itertools.product(SPECS, ccs, dtypes):
            for name, (fn, sig, atomic) in kernel_specs(dtype).items():
                if name == "segment_sum" and dtype != dtypes[0]:
                    continue
                result = compile_one(fn, sig, atomic, cfg, cc, spec)
                rows.append({"set": label, "config": cfg.name, **cfg._asdict(), "spec": spec,
                             "cc": cc, "dtype": dtype, "kernel": name, **result})  # fmt: skip
                print(_progress(rows[-1]), flush=True)
    return rows


def _progress(row: dict[str, Any]) -> str:
    what = f"{row['set']:>6} {row['config']:<16} {row['spec']:<7} sm_{row['cc']} {row['dtype']}"
    if "error" in row:
        return f"{what} {row['kernel']}: ERROR {row['error'][:200]}"
    return (
        f"{what} {row['kernel']}: reg {row['reg']} stack {row['stack']} occ {row['occupancy']:.3f}"
    )


def configs_to_check(which: str) -> list[tuple[str, tc.TileConfig]]:
    """ "all": ("before", the pre-tuning launch) and ("tuned", each candidate); "defaults": the
    table's two choices; "smoke": the aligned default."""
    if which == "smoke":
        return [("tuned", tc.ALIGNED)]
    if which == "defaults":
        return [("tuned", tc.ALIGNED), ("tuned", tc.UNALIGNED)]
    return [("before", tc.BEFORE_TUNING), *(("tuned", c) for c in tc.CANDIDATES)]


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "triton": triton.__version__, "torch": torch.__version__, "gpu": "none (CPU compile)"}  # fmt: skip


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="JSON file; the .md goes next to it"
    )
    parser.add_argument("--smoke", action="store_true", help="the aligned default, sm_90, bf16")
    parser.add_argument("--defaults", action="store_true", help="only the table's two configs")
    args = parser.parse_args(argv)
    ccs, dtypes = ([90], ["bf16"]) if args.smoke else ([80, 90], list(DTYPES))
    which = "smoke" if args.smoke else "defaults" if args.defaults else "all"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = run(configs_to_check(which), ccs, dtypes)
    record = {
        "benchmark": "triton_aot",
        "command": " ".join(["python -m benchmarks.triton_aot", *(argv or sys.argv[1:])]),
        "commit": _commit(), "start": started,
        "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(), "sm_limits": {str(k): v for k, v in SM.items()},
        "defaults": [{"d_in": d, "K": k, "dtype": dt, "config": tc.choose(d, k, TORCH[dt]).name}
                     for d, k, dt in DEFAULT_KEYS],
        "rows": rows,
    }  # fmt: skip
    write_outputs(record, args.out)
    return record


if __name__ == "__main__":
    main()
