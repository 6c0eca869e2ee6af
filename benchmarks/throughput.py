"""Benchmark 1: training throughput at the seed's shape (B=32, T=64, 32x32 frames).

Times full training steps (forward, loss, backward, Adam) of the default RSSM on CPU (or ``--device
cuda``) and prints one
JSON line: steps/s, sequences/s, frames/s, parameter count and peak resident memory. With
``--chunk_len`` the step trains on windows of that many frames (the default recipe uses 32); the
default here, 0, times whole 64-frame sequences.

    python benchmarks/throughput.py                 # whole sequences, B=32, T=64
    python benchmarks/throughput.py --chunk_len 32  # the default recipe's step
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from rssm.cli import MODEL_FIELDS, add_fields
from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences
from rssm.losses import compute_loss
from rssm.model import RSSM, RSSMConfig
from rssm.train import TrainConfig, random_windows
from rssm.utils import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--chunk_len", type=int, default=0, help="0 = whole sequences")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no_channels_last", action="store_true")
    add_fields(parser, "model (RSSMConfig, as rssm-train's flags)", RSSMConfig, MODEL_FIELDS)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (as rssm-train --device)")
    args = parser.parse_args()
    device = resolve_device(args.device)

    torch.manual_seed(0)
    data_config = MovingDotConfig(seq_len=args.seq_len)
    config = TrainConfig(batch_size=args.batch_size, chunk_len=args.chunk_len or None)
    sizes = {name: getattr(args, name) for name in MODEL_FIELDS}
    model = RSSM(RSSMConfig(**sizes)).to(device)
    if not args.no_channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batch = {k: v.to(device) for k, v in generate_moving_dot_sequences(data_config, args.batch_size, seed=0).items()}
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        obs, actions = random_windows(batch, config.chunk_len, gen)
        loss, _ = compute_loss(model, obs, actions, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

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
    print(json.dumps({
        "benchmark": "throughput", "batch_size": args.batch_size, "seq_len": args.seq_len,
        "frames_per_step": frames_per_step, "channels_last": not args.no_channels_last,
        "threads": torch.get_num_threads(), "seconds_per_step": round(seconds, 4),
        "steps_per_s": round(1 / seconds, 2), "sequences_per_s": round(args.batch_size / seconds, 1),
        "frames_per_s": round(frames_per_step / seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": str(device), **sizes, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
