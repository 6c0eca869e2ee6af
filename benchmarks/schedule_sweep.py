"""Ablation helper: open-loop quality against training *steps* for one recipe variant.

Trains from scratch for ``--steps`` gradient steps (occlusion off unless ``--occlusion``), keeps a copy
of the weights every ``--every`` steps, and evaluates each copy afterwards on 256 fresh held-out
sequences with K=8: the dot-position error (pixels, visible frames) at horizons 10 and 20, and the
constant-velocity baseline. One JSON line per snapshot.

Steps, unlike minutes, do not depend on what else the machine is doing, so two variants can run side
by side (``--threads 1`` each) and still be compared fairly. Multiply by the quiet-machine step rate
(``benchmarks/throughput.py``) to get minutes. This produced the schedule rows of book/ablations.md:

    python benchmarks/schedule_sweep.py --steps 1600 --every 200 --set lr_final=1.0          # A
    python benchmarks/schedule_sweep.py --steps 1600 --every 200 --set lr_final=1.0 dot_weight_final=30 \
        --beta_final 10                                                                    # B
    python benchmarks/schedule_sweep.py                                     # C: the default recipe
    python benchmarks/schedule_sweep.py --set dot_weight_final=30           # D: no weight decay
    python benchmarks/schedule_sweep.py --set lr=0.002 lr_final=0.05        # E: twice the peak lr
    python benchmarks/schedule_sweep.py --beta_final 3                      # F: beta ramped 1 -> 3
    python benchmarks/schedule_sweep.py --occlusion --steps 2100 --every 300 --set dot_weight_final=5
    python benchmarks/schedule_sweep.py --occlusion --steps 2100 --every 300 --set dot_weight_final=30
    python benchmarks/schedule_sweep.py --occlusion --steps 2100 --every 300 --set dot_weight_final=5 overshoot=1
    python benchmarks/schedule_sweep.py --occlusion --steps 2100 --every 300 \
        --set dot_weight_final=5 overshoot=1 lr=0.002 lr_final=0.05
    python benchmarks/schedule_sweep.py --occlusion --steps 2100 --every 300 --threads 2 \
        --set dot_weight_final=5 --model deter_dim=256 hidden_dim=256                      # round 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

import rssm.train
from rssm.dataset import MovingDotConfig
from rssm.evaluate import evaluate_open_loop
from rssm.model import RSSMConfig


def parse_pairs(pairs: list[str]) -> dict:
    """["lr=0.002", "chunk_len=16"] -> {"lr": 0.002, "chunk_len": 16} (values parsed as JSON)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"{Path(sys.argv[0]).stem}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            raise SystemExit(f"{Path(sys.argv[0]).stem}: {pair!r}: the value is not JSON (strings need quotes: KEY='\"text\"')") from None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2300, help="gradient steps (2,300 is ~10 min on 2 quiet cores)")
    parser.add_argument("--every", type=int, default=230, help="steps between snapshots")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--occlusion", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--beta_final", type=float, default=None,
                        help="ramp beta geometrically to this value over the dot weight's decay window")
    parser.add_argument("--set", nargs="*", default=[], help="TrainConfig fields, e.g. lr=0.002 lr_final=0.05")
    parser.add_argument("--model", nargs="*", default=[], help="RSSMConfig fields, e.g. cnn_depth=16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = rssm.train.TrainConfig(seed=args.seed, max_steps=args.steps, val_sequences=8, **parse_pairs(args.set))
    if args.beta_final is not None:
        step = {"n": 0}

        def compute_loss_beta_ramp(model, obs, actions, cfg, dot_weight=None):
            """rssm.train.compute_loss with beta ramped on the dot weight's schedule (same steps, geometric)."""
            as_weight = dataclasses.replace(cfg, dot_weight=cfg.beta, dot_weight_final=args.beta_final)
            beta = rssm.train.dot_weight_at(step["n"], as_weight)
            step["n"] += 1
            return real_compute_loss(model, obs, actions, dataclasses.replace(cfg, beta=beta), dot_weight=dot_weight)

        real_compute_loss = rssm.train.compute_loss
        rssm.train.compute_loss = compute_loss_beta_ramp

    snapshots = []

    def on_step(step: int, model, history) -> None:
        if step % args.every == 0:
            weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            snapshots.append((step, history["time_s"][-1], history["kl"][-1], weights))

    data = MovingDotConfig(use_occlusion=args.occlusion)
    model, _ = rssm.train.train(data, RSSMConfig(**parse_pairs(args.model)), config, progress=False, on_step=on_step)
    eval_world = MovingDotConfig(use_occlusion=args.occlusion, seq_len=32)
    for step, seconds, kl, weights in snapshots:
        model.load_state_dict(weights)
        report = evaluate_open_loop(model, eval_world, K=8, num_sequences=256, seed=987654)
        print(json.dumps({
            "step": step, "train_seconds": round(seconds), "kl": round(kl, 2),
            "h10_px": round(report.at(10)["model"], 2), "h20_px": round(report.at(20)["model"], 2),
            "h10_constant_velocity_px": round(report.at(10)["constant_velocity"], 2),
        }), flush=True)


if __name__ == "__main__":
    main()
