"""Planning in the learned model: success rates of the RSSM planner against random and oracle.

Plays the same seeded episodes of :class:`rssm.planning.PlanningTask` (drive the dot to a goal;
success if it ends within 2 px of it) with three planners, in the world with occluders and without:

- ``rssm``: CEM in the shipped model's latent space (``rssm.load_pretrained()``), scored by a position
  head trained here (once, on the checkpoint's world, occluders on) on the model's filtered latents;
  it only ever sees frames;
- ``oracle``: the same CEM with the true simulator and the true state as its model (the upper bound);
- ``random``: uniformly random actions (the lower bound).

Prints one JSON line per planner and world: planner, occlusion, success_rate, mean_final_distance
(pixels), episodes, and extra keys: seconds_per_episode and cpu_seconds_per_episode (wall-clock and
CPU time; on a shared machine the CPU time is the steadier figure), goal_hidden_episodes and
success_rate_goal_hidden (the episodes whose goal is behind an occluder), head_train_seconds (rssm),
and the planner settings. Episode i is seeded by seed + i, so every planner plays the same episodes.

    python benchmarks/planning.py                                     # default CEM settings, both worlds
    python benchmarks/planning.py --occlusion --planners rssm oracle --episodes 50
    python benchmarks/planning.py --candidates 1000 --top_k 100 --iterations 10   # PlaNet's CEM settings (slow)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields

import torch

from rssm.checkpoint import load_pretrained
from rssm.dataset import MovingDotConfig
from rssm.planning import PLANNERS, LatentModel, PlannerConfig, PlanningTask, evaluate_planner, train_position_head


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="planning.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="seeded episodes per planner and world")
    parser.add_argument("--seed", type=int, default=0, help="episode i is seeded by seed + i")
    world = parser.add_mutually_exclusive_group()
    world.add_argument("--occlusion", dest="occlusion", action="store_const", const=[True], help="only the world with occluders")
    world.add_argument("--no_occlusion", dest="occlusion", action="store_const", const=[False], help="only the world without")
    parser.add_argument("--planners", nargs="+", choices=PLANNERS, default=list(PLANNERS))
    parser.add_argument("--head_steps", type=int, default=2000, help="training steps of the position head")
    parser.add_argument("--head_seed", type=int, default=0)
    defaults = PlannerConfig()
    for f in fields(PlannerConfig):
        kind = type(getattr(defaults, f.name))
        if kind is bool:
            parser.add_argument(f"--{f.name}", type=_bool, default=getattr(defaults, f.name), metavar="{true,false}")
        else:
            parser.add_argument(f"--{f.name}", type=kind, default=getattr(defaults, f.name))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads: 1 by default; CEM's batches are small, and 2 threads on 2 busy cores ran 9x slower")
    return parser


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = PlannerConfig(**{f.name: getattr(args, f.name) for f in fields(PlannerConfig)})
        task = PlanningTask(seed=args.seed)
        if args.episodes < 1:
            raise ValueError(f"--episodes={args.episodes}: must be at least 1")
        if args.head_steps < 1 or args.threads < 1:
            raise ValueError("--head_steps and --threads must be at least 1")
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)
    checkpoint = load_pretrained()
    started = time.perf_counter()
    head = train_position_head(checkpoint.model, checkpoint.data_config, steps=args.head_steps, seed=args.head_seed)
    head_seconds = round(time.perf_counter() - started, 1)
    latent = LatentModel(checkpoint.model, head)
    for occlusion in args.occlusion or [True, False]:
        world = MovingDotConfig(**{**checkpoint.data_config.to_dict(), "use_occlusion": occlusion})
        for planner in args.planners:
            report = evaluate_planner(planner, task, world, args.episodes, config, latent)
            extra = {"head_train_seconds": head_seconds} if planner == "rssm" else {}
            print(json.dumps({**report.summary(), **extra, "planner_config": asdict(config)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
