"""Benchmark 2: open-loop quality against wall-clock training time for the default CPU recipe.

Trains from scratch for ``--minutes``; every ``--every`` seconds of training it snapshots the weights
(cheap), and after training it evaluates each snapshot on fresh held-out sequences with K=8: the
dot-position error (pixels, visible frames) at horizons 10 and 20, next to the baselines.
Prints one JSON object per snapshot and a final summary line.

    python benchmarks/time_to_quality.py --minutes 10             # occlusion off (the issue's target)
    python benchmarks/time_to_quality.py --minutes 10 --occlusion # occlusion on
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rssm.dataset import MovingDotConfig
from rssm.evaluate import evaluate_open_loop
from rssm.model import RSSM, RSSMConfig
from rssm.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds of training between snapshots")
    parser.add_argument("--occlusion", action="store_true", help="train and evaluate with occluders")
    parser.add_argument("--eval_sequences", type=int, default=256)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--set", nargs="*", default=[], help="TrainConfig overrides, e.g. dot_weight=5 chunk_len=16")
    parser.add_argument("--model", nargs="*", default=[], help="RSSMConfig overrides, e.g. cnn_depth=8")
    args = parser.parse_args()

    def parse(pairs: list[str]) -> dict:
        out = {}
        for pair in pairs:
            key, value = pair.split("=", 1)
            out[key] = None if value == "None" else json.loads(value) if value[0].isdigit() or value[0] in "-[{" or value in ("true", "false") else value
        return out

    data_config = MovingDotConfig(use_occlusion=args.occlusion)
    train_config = TrainConfig(seed=args.seed, max_minutes=args.minutes, **parse(args.set))
    model_config = RSSMConfig(**parse(args.model))
    snapshots: list[tuple[float, int, dict]] = []
    next_snapshot = [args.every]

    def on_step(step: int, model: RSSM, history: dict) -> None:
        if history["time_s"][-1] >= next_snapshot[0]:
            snapshots.append((history["time_s"][-1], step, {k: v.detach().clone() for k, v in model.state_dict().items()}))
            next_snapshot[0] += args.every

    start = time.perf_counter()
    model, history = train(data_config, model_config, train_config, progress=False, on_step=on_step)
    snapshots.append((history["time_s"][-1], len(history["loss"]), model.state_dict()))
    train_seconds = time.perf_counter() - start
    eval_config = MovingDotConfig(use_occlusion=args.occlusion, seq_len=32)
    results = []
    for seconds, step, state in snapshots:
        model.load_state_dict(state)
        report = evaluate_open_loop(model, eval_config, K=8, num_sequences=args.eval_sequences, seed=987654)
        row = {
            "train_seconds": round(seconds, 1),
            "step": step,
            "h10_px": {k: round(v, 3) for k, v in report.at(10).items()},
            "h20_px": {k: round(v, 3) for k, v in report.at(20).items()},
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    plateau = next((r["train_seconds"] for r in results if r["h10_px"]["model"] < 0.9 * r["h10_px"]["blank"]), None)
    print(json.dumps({
        "summary": True, "occlusion": args.occlusion, "minutes": args.minutes, "wall_seconds": round(train_seconds, 1),
        "steps": len(history["loss"]), "train_config": {k: v for k, v in vars(train_config).items()},
        "model_config": vars(model_config), "final": results[-1], "first_off_plateau_s": plateau,
    }))


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    main()
