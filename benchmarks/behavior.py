"""Planner against policy: the shipped Dreamer agent's actor, the CEM planner, the oracle and random actions.

Every agent plays the same episodes of the planning task (``rssm.planning.PlanningTask``: episode i
seeded by i, occluders as the shipped world model's world draws them) and is judged by the task's one
definition of success (within 2 px of the goal on the last frame). The actor and the planner use the
same world model and the same learned reward: the planner (chapter 11's CEM, default settings)
scores its imagined plans with the position that the agent's goal reward head reads off each state,
so both optimise the distance to the goal as the agent learnt it from the world's rewards. The oracle
is the same CEM on the true simulator.

    python benchmarks/behavior.py                              # episodes 0..99
    python benchmarks/behavior.py --episodes 20 --first_episode 100

One JSON line per agent: agent, success, final_distance_px, ms_per_action (the agent's own time per
action, filtering included), imagined_steps_per_action (the model steps it imagines to choose one),
episodes, occluders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.dataset import MovingDotEnv
from rssm.dreamer import SHIPPED_AGENT, ActorAgent, RewardReading, load_agent
from rssm.planning import (
    LatentModel,
    MPCAgent,
    PlannerConfig,
    PlannerReport,
    PlanningTask,
    RandomAgent,
    SimulatorModel,
    TimedAgent,
    run_episode,
)

AGENTS = ("actor", "planner", "oracle", "random")


def shipped_world_model(name: str) -> Path:
    """The shipped world model file the agent was trained in, by its file name."""
    for path in PRETRAINED.values():
        if path.name == name:
            return path
    raise SystemExit(f"behavior: the agent was trained in {name!r}, which is not a shipped world model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="episodes per agent (default 100)")
    parser.add_argument("--first_episode", type=int, default=0, help="the task's first episode number (default 0)")
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS, help="which agents to play")
    args = parser.parse_args()
    if args.episodes < 1 or args.first_episode < 0:
        parser.error(f"--episodes must be at least 1 and --first_episode at least 0, got {args.episodes} and "
                     f"{args.first_episode}")
    shipped = load_agent(SHIPPED_AGENT)
    world_model = load_checkpoint(shipped_world_model(shipped.world_model))
    model, world = world_model.model, world_model.data_config
    task, planner = PlanningTask(), PlannerConfig()
    latent = LatentModel(model, RewardReading(shipped.reward, world.grid_size))
    imagined = {"actor": 0, "planner": planner.imagined_steps, "oracle": planner.imagined_steps, "random": 0}
    for name in args.agents:
        results, seconds, actions = [], 0.0, 0
        for index in range(args.first_episode, args.first_episode + args.episodes):
            spec = task.episode(index, world)
            env = MovingDotEnv(world, spec)
            agent = {"actor": lambda: ActorAgent(model, shipped.actor, world),
                     "planner": lambda: MPCAgent(latent, planner),
                     "oracle": lambda env=env: MPCAgent(SimulatorModel(env), planner),
                     "random": RandomAgent}[name]()
            timed = TimedAgent(agent)
            results.append(run_episode(task, world, spec, timed, env=env))
            seconds, actions = seconds + timed.seconds, actions + timed.actions
        report = PlannerReport(name, world.use_occlusion, results)
        print(json.dumps({
            "agent": name, "success": round(report.success_rate, 3),
            "final_distance_px": round(report.mean_final_distance, 3),
            "ms_per_action": round(1000 * seconds / actions, 3), "imagined_steps_per_action": imagined[name],
            "episodes": len(results), "occluders": world.use_occlusion, "threads": torch.get_num_threads(),
        }), flush=True)


if __name__ == "__main__":
    main()
