"""Benchmark 1: training throughput at the seed's shape (B=32, T=64, 32x32 frames).

Times full training steps (forward, loss, backward, Adam) of the default RSSM on CPU and prints one
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

from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences
from rssm.model import RSSM, RSSMConfig
from rssm.train import TrainConfig, compute_loss, random_windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--chunk_len", type=int, default=0, help="0 = whole sequences")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no_channels_last", action="store_true")
    parser.add_argument("--cnn_depth", type=int, default=RSSMConfig().cnn_depth)
    args = parser.parse_args()

    torch.manual_seed(0)
    data_config = MovingDotConfig(seq_len=args.seq_len)
    config = TrainConfig(batch_size=args.batch_size, chunk_len=args.chunk_len or None)
    model = RSSM(RSSMConfig(cnn_depth=args.cnn_depth))
    if not args.no_channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batch = generate_moving_dot_sequences(data_config, args.batch_size, seed=0)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        obs, actions = random_windows(batch, config.chunk_len, gen)
        loss, _ = compute_loss(model, obs, actions, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
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
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
