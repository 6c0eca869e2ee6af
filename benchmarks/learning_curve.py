"""Open-loop quality of a recipe against training steps and wall-clock time, from scratch.

Trains for ``--steps`` gradient steps or ``--minutes`` of training (the learning-rate decay is fitted
to whichever budget is given, as with ``rssm-train --max_steps`` / ``--max_minutes``), keeps a copy of
the weights every ``--every`` steps (or ``--every_seconds`` of training) and at the end, and scores
each copy afterwards on the benchmark protocol (``rssm.evaluate.BENCHMARK``: K = 8, 256 fresh held-out
sequences): the dot-position error in pixels at horizons 10 and 20 over visible frames, with the
constant-velocity and blank-frame baselines. One JSON line per snapshot, then a summary line.

Steps, unlike minutes, do not depend on what else the machine is doing, so two variants can run side
by side (``--threads 1`` each) and still be compared; minutes need a quiet machine.

    python benchmarks/learning_curve.py --minutes 10                        # the default recipe, occluders on
    python benchmarks/learning_curve.py --minutes 5 --no_occlusion
    python benchmarks/learning_curve.py --steps 2100 --every 300 --set dot_weight_final=5
    python benchmarks/learning_curve.py --steps 2100 --every 300 --model deter_dim=256 hidden_dim=192
    python benchmarks/learning_curve.py --steps 1600 --every 200 --no_occlusion --beta_final 3  # beta ramped 1 -> 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from rssm.cli import parse_overrides
from rssm.dataset import MovingDotConfig
from rssm.evaluate import BENCHMARK
from rssm.losses import compute_loss, dot_weight_at
from rssm.model import RSSMConfig
from rssm.train import TrainConfig, TrainState, train

PROGRAM = "learning_curve"


def beta_ramp(beta_final: float):
    """The book's objective with beta ramped geometrically from ``beta`` to ``beta_final`` over the
    foreground weight's decay window (the same steps, the same geometric shape)."""

    def objective(model, obs, actions, config, step):
        as_weight = dataclasses.replace(config, dot_weight=config.beta, dot_weight_final=beta_final)
        ramped = dataclasses.replace(config, beta=dot_weight_at(step, as_weight))
        return compute_loss(model, obs, actions, ramped, dot_weight=dot_weight_at(step, config))

    return objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--steps", type=int, help="gradient steps to train")
    budget.add_argument("--minutes", type=float, help="minutes of training")
    parser.add_argument("--every", type=int, default=None, help="snapshot every N steps")
    parser.add_argument("--every_seconds", type=float, default=None, help="snapshot every S seconds of training")
    occlusion = parser.add_mutually_exclusive_group()
    occlusion.add_argument("--occlusion", dest="occlusion", action="store_true", default=True, help="occluders on (default)")
    occlusion.add_argument("--no_occlusion", dest="occlusion", action="store_false", help="occluders off")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--sequences", type=int, default=BENCHMARK.sequences, help="held-out sequences per snapshot")
    parser.add_argument("--beta_final", type=float, default=None,
                        help="ramp beta geometrically to this value over the dot weight's decay window")
    parser.add_argument("--set", nargs="*", default=[], help="TrainConfig fields, e.g. lr_final=0.05 dot_weight_final=5")
    parser.add_argument("--model", nargs="*", default=[], help="RSSMConfig fields, e.g. deter_dim=256")
    args = parser.parse_args()
    for flag in ("steps", "minutes", "every", "every_seconds", "sequences", "threads"):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            parser.error(f"--{flag} must be positive, got {value}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        # The budget ends the run, not the epochs (unless --set epochs=N asks for them).
        config = TrainConfig(**{"seed": args.seed, "val_sequences": 8, "max_steps": args.steps, "max_minutes": args.minutes,
                                "epochs": 10**6, **parse_overrides(args.set, TrainConfig, PROGRAM)})
        model_config = RSSMConfig(**parse_overrides(args.model, RSSMConfig, PROGRAM))
    except ValueError as error:
        parser.error(str(error))
    world = MovingDotConfig(use_occlusion=args.occlusion)
    snapshots: list[tuple[int, float, float, dict]] = []  # (step, training seconds, kl, weights)
    next_time = [args.every_seconds or float("inf")]

    def on_step(state: TrainState) -> None:
        by_steps = args.every is not None and state.step % args.every == 0
        by_time = state.seconds >= next_time[0]
        if by_time:
            next_time[0] += args.every_seconds
        if by_steps or by_time:
            weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
            snapshots.append((state.step, state.seconds, state.history["kl"][-1], weights))

    start = time.perf_counter()
    objective = beta_ramp(args.beta_final) if args.beta_final is not None else None
    model, history = train(world, model_config, config, progress=False, on_step=on_step,
                           **({"objective": objective} if objective else {}))
    wall = time.perf_counter() - start
    if not snapshots or snapshots[-1][0] != len(history["loss"]):
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        snapshots.append((len(history["loss"]), history["time_s"][-1], history["kl"][-1], weights))
    rows = []
    for step, seconds, kl, weights in snapshots:
        model.load_state_dict(weights)
        report = BENCHMARK.replace(sequences=args.sequences).evaluate(model, world)
        rows.append({"step": step, "train_seconds": round(seconds, 1), "kl": round(kl, 2),
                     "h10_px": round(report.at(10)["model"], 3), "h20_px": round(report.at(20)["model"], 3),
                     "h10_constant_velocity_px": round(report.at(10)["constant_velocity"], 3),
                     "h10_blank_px": round(report.at(10)["blank"], 3)})
        print(json.dumps(rows[-1]), flush=True)
    off_plateau = next((r["train_seconds"] for r in rows if r["h10_px"] < 0.9 * r["h10_blank_px"]), None)
    print(json.dumps({"summary": True, "occlusion": args.occlusion, "steps": len(history["loss"]), "wall_seconds": round(wall, 1),
                      "threads": torch.get_num_threads(), "set": args.set, "model": args.model, "beta_final": args.beta_final,
                      "final": rows[-1], "first_off_plateau_s": off_plateau}))


if __name__ == "__main__":
    main()
