"""What every benchmark shares: the machine's description, timing ours against a
baseline (alternating, after a warm-up, medians), a large matmul as the yardstick of
achieved GFLOP/s, FLOP counting, and the result rows (JSON lines and a Markdown table)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from runtime import devices, memory

IMAGES = Path(__file__).resolve().parent.parent / "assets" / "images"


def machine() -> dict:
    """The machine a result was measured on; load_1min says whether others were busy."""
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpus": devices.usable_cpus(),
        "threads": torch.get_num_threads(),
        "bf16_native": devices.cpu_has_bf16(),
        "memory_gb": round(memory.total_memory("cpu") / 2**30, 1),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    if hasattr(os, "getloadavg"):
        info["load_1min"] = round(os.getloadavg()[0], 2)
    return info


def machine_line(info: dict) -> str:
    gpu = f", {info['gpu']}" if "gpu" in info else ""
    bf16 = "native bf16" if info["bf16_native"] else "no native bf16"
    return (
        f"{info['cpu']} ({info['cpus']} CPUs, {info['threads']} threads, {bf16}, {info['memory_gb']} GB){gpu}; "
        f"torch {info['torch']}; load average at the start {info.get('load_1min', '?')}"
    )


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(ours: Callable[[], object], baseline: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
    """Median seconds of ``ours`` and ``baseline``, run alternately (the order flips each
    round, so drift in the machine's speed hits both alike) after ``warmup`` runs of each."""
    for _ in range(warmup):
        ours()
        baseline()
    times = {"ours": [], "baseline": []}
    for i in range(repeats):
        order = ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours")
        for name in order:
            times[name].append(_timed(ours if name == "ours" else baseline))
    return {name: statistics.median(values) for name, values in times.items()} | {"samples": times}


def matmul_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a (size x size) @ (size x size) matmul in ``dtype``, its best of
    ``repeats``: about the most this machine does, the yardstick for each workload's share."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b  # warm-up
    seconds = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / seconds / 1e9


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call (matmuls, convolutions, attention), counted by PyTorch."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def result(
    name: str, unit: str, ours: float, baseline: float | None, info: dict, *, higher_is_better: bool = False, **extra
) -> dict:
    """One benchmark's row. ``ratio`` is the speed-up (>1: ours is faster)."""
    ratio = None
    if baseline:
        ratio = ours / baseline if higher_is_better else baseline / ours
    row = {"name": name, "unit": unit, "ours": round(ours, 4), "baseline": baseline and round(baseline, 4)}
    row["ratio"] = ratio and round(ratio, 2)
    return row | extra | {"machine": machine_line(info)}


def with_gflops(row: dict, flops: float, ours_s: float, baseline_s: float, peak: dict) -> dict:
    """Add the workload's GFLOP count and achieved GFLOP/s of both paths, each as a share
    of the large matmul in the dtype that path computes in."""
    ours_rate, baseline_rate = flops / ours_s / 1e9, flops / baseline_s / 1e9
    return row | {
        "gflop": round(flops / 1e9, 1),
        "ours_gflops_per_s": round(ours_rate, 1),
        "baseline_gflops_per_s": round(baseline_rate, 1),
        "ours_share_of_matmul": round(ours_rate / peak["ours"], 3),
        "baseline_share_of_matmul": round(baseline_rate / peak["float32"], 3),
    }


def markdown(rows: list[dict]) -> str:
    """The rows as the README's table, with the machine under it; where rows time answers
    token by token (the chat models), a column with the first token and the decoding speed."""
    tokens = any("first_token_s" in row for row in rows)
    lines = [
        "| benchmark | unit | ours | baseline | speed-up | GFLOP/s ours (share of matmul) | fidelity |"
        + (" first token, tokens/s (ours; baseline) |" if tokens else ""),
        "|---|---|---:|---:|---:|---|---|" + ("---|" if tokens else ""),
    ]
    for row in rows:
        if "gflop" in row:
            share = f"{row['ours_gflops_per_s']:.0f} ({row['ours_share_of_matmul']:.0%})"
        else:
            share = ""
        baseline = "—" if row["baseline"] is None else f"{row['baseline']:.3g}"
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        line = (
            f"| {row['name']} | {row['unit']} | {row['ours']:.3g} | {baseline} | {ratio} | {share} | "
            f"{row.get('fidelity', '')} |"
        )
        if tokens:
            speed = f"{row['first_token_s']} s, {row['tokens_per_s']}" if "first_token_s" in row else ""
            if "baseline_first_token_s" in row:
                speed += f"; {row['baseline_first_token_s']} s, {row['baseline_tokens_per_s']}"
            line += f" {speed} |"
        lines.append(line)
    machines = list(dict.fromkeys(row["machine"] for row in rows))
    return "\n".join(lines) + "\n\nMeasured on: " + "; ".join(machines)
