"""Benchmark 1: training throughput of the default recipe's step (B=32 windows of 32 frames, 32x32 pixels).

Times full training steps (forward, loss, backward, gradient clipping, Adam) of the default RSSM on
CPU (or ``--device cuda``) and prints one JSON line: steps/s, sequences/s, frames/s, parameter count
and peak resident memory; with ``--flops`` also the step's floating-point work (counted by
``torch.utils.flop_counter``), the GFLOP/s it achieves, and this machine's float32 matmul rate
(a 1024x1024 matmul on the same threads), so that the fraction of the peak a CPU reaches is visible.
``--chunk_len 0`` times whole 64-frame sequences instead of the recipe's windows.

    python benchmarks/throughput.py --flops         # the default step, with its GFLOP and the peak
    python benchmarks/throughput.py --chunk_len 0   # whole sequences, B=32, T=64
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from rssm.cli import MODEL_FIELDS, add_fields
from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences
from rssm.model import RSSM, RSSMConfig
from rssm.train import TrainConfig, gradient_step, random_windows
from rssm.utils import resolve_device


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """This machine's float32 matmul rate on the current threads: GFLOP/s of a (size x size) @ (size x size)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--seq_len", type=int, default=MovingDotConfig().seq_len)
    parser.add_argument("--chunk_len", type=int, default=TrainConfig().chunk_len, help="0 = whole sequences")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--flops", action="store_true", help="also count the step's GFLOP and time a matmul")
    parser.add_argument("--no_channels_last", action="store_true")
    add_fields(parser, "model (RSSMConfig, as rssm-train's flags)", RSSMConfig, MODEL_FIELDS)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (as rssm-train --device)")
    args = parser.parse_args()
    device = resolve_device(args.device)

    torch.manual_seed(0)
    data_config = MovingDotConfig(seq_len=args.seq_len)
    config = TrainConfig(batch_size=args.batch_size, chunk_len=args.chunk_len or None).for_world(data_config)
    sizes = {name: getattr(args, name) for name in MODEL_FIELDS}
    model = RSSM(RSSMConfig(**sizes)).to(device)
    if not args.no_channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batch = {k: v.to(device) for k, v in generate_moving_dot_sequences(data_config, args.batch_size, seed=0).items()}
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        obs, actions = random_windows(batch, config.chunk_len, gen)
        gradient_step(model, optimizer, obs, actions, config, step=0)

    def finish_queued_work() -> None:  # CUDA runs asynchronously: time the work, not the queueing
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    finish_queued_work()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    finish_queued_work()
    seconds = (time.perf_counter() - start) / args.steps
    frames_per_step = args.batch_size * (args.chunk_len or args.seq_len)
    record = {
        "benchmark": "throughput", "batch_size": args.batch_size, "seq_len": args.seq_len,
        "frames_per_step": frames_per_step, "channels_last": not args.no_channels_last,
        "threads": torch.get_num_threads(), "seconds_per_step": round(seconds, 4),
        "steps_per_s": round(1 / seconds, 2), "sequences_per_s": round(args.batch_size / seconds, 1),
        "frames_per_s": round(frames_per_step / seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": str(device), **sizes, "torch": torch.__version__,
    }
    if args.flops:
        with FlopCounterMode(display=False) as counter:
            step()
        gflop = counter.get_total_flops() / 1e9
        record.update(gflop_per_step=round(gflop, 2), achieved_gflops=round(gflop / seconds, 1))
        if device.type == "cpu":
            peak = matmul_gflops()
            record.update(matmul_peak_gflops=round(peak, 1), fraction_of_peak=round(gflop / seconds / peak, 3))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
