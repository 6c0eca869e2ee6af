"""The Dreamer agent on the planning task: act, remember, learn the reward, learn to act in imagination.

Chapter 11's planner searches imagined futures at every step. This agent instead learns a policy (an
:class:`rssm.behavior.Actor`) from imagined futures, in a loop:

1. **collect**: play episodes of :class:`rssm.planning.PlanningTask` with the current actor, which
   sees frames and the goal only, and keep each episode's frames, actions and rewards;
2. **learn the reward**: fit a :class:`GoalRewardHead` on the filtered states of the replayed
   episodes to the rewards the world returned (never to the simulator's positions);
3. **learn to act**: train the actor and its critic on rollouts the world model imagines from those
   states (:func:`rssm.behavior.actor_loss`).

The reward is :meth:`rssm.planning.PlanningTask.reward`: minus the dot's distance to the goal, as a
fraction of the grid's side, at every frame (dense, so that every imagined step says how good it is;
success stays the task's one definition, within 2 px on the last frame). The goal reaches the agent as
an input, (x, y) divided by the grid's side.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from rssm.behavior import (
    Actor,
    BehaviorConfig,
    Critic,
    ReturnNormalizer,
    actor_loss,
    critic_loss,
    mlp,
    update_slow,
)
from rssm.behavior import features as state_features
from rssm.checkpoint import (
    PRETRAINED_DIR,
    checkpoint_path,
    first_line,
    library_versions,
    load_checkpoint,
    save_atomically,
)
from rssm.config import Bounds, add_fields, check_fields, non_negative, positive
from rssm.dataset import MovingDotConfig, MovingDotEnv
from rssm.model import RSSM, RSSMState
from rssm.planning import (
    Agent,
    AgentView,
    EpisodeResult,
    EpisodeSpec,
    PlannerReport,
    PlanningTask,
    RandomAgent,
    filter_step,
    run_episode,
)


@dataclass(frozen=True)
class AgentConfig:
    """The agent loop's settings. Each iteration collects episodes, then updates the heads and the actor."""

    prefill_episodes: int = 256  # random-action episodes in the replay before the first round (as Dreamer's prefill)
    iterations: int = 10  # rounds of collect, learn the reward, learn to act
    episodes_per_iteration: int = 16  # episodes collected by the current actor each round
    reward_updates: int = 100  # reward-head updates per round
    behavior_updates: int = 100  # actor-critic updates per round
    start_states: int = 256  # imagined rollouts per actor-critic update, started from replayed states
    reward_batch: int = 16  # replayed episodes per reward-head update
    reward_lr: float = 1e-3  # Adam's learning rate for the reward head
    monitor_episodes: int = 0  # after each round, the actor's mean action plays this many monitoring episodes
    seed: int = 0  # seeds the training episodes (TRAINING_EPISODES on, away from evaluation's) and the updates

    bounds: ClassVar[dict[str, Bounds]] = {
        "prefill_episodes": non_negative, "iterations": positive, "episodes_per_iteration": positive, "reward_updates": positive,
        "behavior_updates": positive, "start_states": positive, "reward_batch": positive, "reward_lr": positive,
        "monitor_episodes": non_negative,
    }

    def __post_init__(self) -> None:
        check_fields(self)  # every field's type, and the bounds above


TRAINING_EPISODES = 1_000_000  # training collects the task's episodes from here on; evaluation uses 0, 1, 2, ...
MONITOR_EPISODES = 500_000  # the loop's progress is watched on episodes from here on, apart from both


def training_episode(config: AgentConfig, round_: int, index: int) -> int:
    """The task's episode number of the ``index``-th episode collected in round ``round_`` (0: the prefill)."""
    return TRAINING_EPISODES + config.seed + 10_000 * round_ + index


def goal_input(goal: torch.Tensor, world: MovingDotConfig) -> torch.Tensor:
    """The goal as the agent's networks receive it: (x, y) in pixels divided by the grid's side, (..., 2)."""
    return goal / world.grid_size


# ----- the reward head ---------------------------------------------------------------------------


class GoalRewardHead(nn.Module):
    """The reward read off a state, in the task's own form: minus the distance between a learned 2-D
    reading of (h, z) and the goal, both in grid sides.

    features (..., deter + latent + 2) = [h, z, goal / grid] -> (...). The reading ``place`` is an MLP
    trained only through the rewards the world returns (no position is ever a label); a state seen
    with many goals pins it down. A plain MLP on [h, z, goal] (:class:`rssm.behavior.RewardHead`) has to
    learn the distance's kink at the goal, and both a planner and an actor stop where its reading
    flattens, pixels away (``benchmarks/README.md``).
    """

    def __init__(self, state_dim: int, hidden_dim: int = 128) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.place = mlp(state_dim, hidden_dim, 2)

    def position(self, feats: torch.Tensor) -> torch.Tensor:
        """Where the state puts the dot, in grid sides (0 to 1 inside the grid): (..., 2)."""
        return 0.5 + 0.5 * self.place(feats[..., : self.state_dim])

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return -(self.position(feats) - feats[..., self.state_dim :]).norm(dim=-1)


class RewardReading(nn.Module):
    """The goal reward head's reading of a state as a position in pixels: (h, z) -> (..., 2).

    Chapter 11's planner scores plans by the positions a head reads off imagined states; handed this
    reading, it scores them with the reward the agent learnt, so planner and actor optimise the same thing.
    """

    def __init__(self, reward: GoalRewardHead, grid_size: int) -> None:
        super().__init__()
        self.reward, self.grid_size = reward, grid_size

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.grid_size * self.reward.position(torch.cat([h, z], -1))


# ----- acting --------------------------------------------------------------------------------------


class ActorAgent:
    """The actor as an :class:`rssm.planning.Agent`: filter the frame into (h, z), read the action off
    ``actor([h, z, goal])``. ``explore`` samples the action (collection), else takes the mean (evaluation).
    """

    def __init__(self, model: RSSM, actor: Actor, world: MovingDotConfig, explore: bool = False) -> None:
        self.model, self.actor, self.world, self.explore = model, actor, world, explore
        self.device = next(model.parameters()).device

    def reset(self, goal: torch.Tensor, seed: int, steps: int) -> None:
        self.goal = goal_input(goal.float().view(1, 2), self.world).to(self.device)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.belief = self.model.initial_state(1, self.device)
        self.prev_action = torch.zeros(2)

    @torch.no_grad()
    def act(self, frame: torch.Tensor) -> torch.Tensor:
        prev = self.prev_action.view(1, 2).to(self.device)
        self.belief = filter_step(self.model, self.belief, prev, frame.unsqueeze(0).to(self.device))
        feats = state_features(self.belief, self.goal)
        if self.explore:
            noise = torch.randn(1, 2, generator=self.generator).to(self.device)
            action = self.actor.sample(feats, reparameterize=False, noise=noise).action[0]
        else:
            action = self.actor.mode(feats)[0]
        self.prev_action = action.cpu()
        return self.prev_action

    def view(self) -> AgentView | None:
        """The actor makes no plan to show."""


def evaluate_actor(model: RSSM, actor: Actor, task: PlanningTask, world: MovingDotConfig,
                   episodes: list[int]) -> list[EpisodeResult]:
    """Play the task's ``episodes`` (episode numbers) with the actor's mean action; one result each."""
    results = []
    for index in episodes:
        spec = task.episode(index, world)
        results.append(run_episode(task, world, spec, ActorAgent(model, actor, world)))
    return results


# ----- remembering ---------------------------------------------------------------------------------


@dataclass
class Replay:
    """Collected episodes, time second: frames 0..T and what came with them."""

    obs: torch.Tensor  # (E, T+1, 1, H, W) the frames the agent saw
    actions: torch.Tensor  # (E, T+1, 2) actions[:, t] taken after frame t (the last is 0: never taken)
    rewards: torch.Tensor  # (E, T+1) rewards[:, t] = the task's reward for frame t
    goals: torch.Tensor  # (E, 2) in pixels

    def __len__(self) -> int:
        return self.obs.shape[0]

    def extend(self, other: Replay) -> Replay:
        return Replay(*(torch.cat([a, b]) for a, b in zip(vars(self).values(), vars(other).values(), strict=True)))


def collect(task: PlanningTask, world: MovingDotConfig, specs: list[EpisodeSpec], agent: Agent) -> Replay:
    """Play one episode per spec with ``agent`` (the actor, or random actions to fill the replay at first);
    the world returns a frame and a reward for every frame."""
    obs, actions, rewards, goals = [], [], [], []
    for spec in specs:
        env = MovingDotEnv(world, spec)
        frame = env.reset()
        agent.reset(spec.goal, spec.seed, task.episode_steps)
        frames, taken, got = [frame], [], [task.reward(env.position, spec.goal, world)]
        for _ in range(task.episode_steps):
            action = agent.act(frame)
            frame = env.step(action)
            frames.append(frame)
            taken.append(action)
            got.append(task.reward(env.position, spec.goal, world))
        taken.append(torch.zeros(2))
        obs.append(torch.stack(frames))
        actions.append(torch.stack(taken))
        rewards.append(torch.stack(got))
        goals.append(spec.goal.float())
    return Replay(torch.stack(obs), torch.stack(actions), torch.stack(rewards), torch.stack(goals))


@torch.no_grad()
def filtered_states(model: RSSM, replay: Replay) -> RSSMState:
    """The posterior's mode after every frame of every episode: h (E, T+1, deter), z (E, T+1, latent)."""
    out = model.observe(replay.obs, replay.actions, sample=False)
    return RSSMState(out.h, out.z)


# ----- learning ------------------------------------------------------------------------------------


@dataclass
class DreamerAgent:
    """What the loop trains: the reward head, the actor, the critic and its slow copy, their optimisers."""

    reward: GoalRewardHead
    actor: Actor
    critic: Critic
    slow_critic: Critic
    normalizer: ReturnNormalizer
    reward_optimizer: torch.optim.Optimizer
    actor_optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer

    @classmethod
    def create(cls, model: RSSM, behavior: BehaviorConfig, agent: AgentConfig) -> DreamerAgent:
        c = model.config
        feature_dim = c.deter_dim + c.latent_size + 2
        reward = GoalRewardHead(c.deter_dim + c.latent_size, behavior.hidden_dim)
        actor = Actor(feature_dim, c.action_dim, behavior)
        critic = Critic(feature_dim, behavior)
        return cls(
            reward, actor, critic, copy.deepcopy(critic).requires_grad_(False), ReturnNormalizer(behavior.return_decay),
            torch.optim.Adam(reward.parameters(), lr=agent.reward_lr),
            torch.optim.Adam(actor.parameters(), lr=behavior.actor_lr),
            torch.optim.Adam(critic.parameters(), lr=behavior.critic_lr),
        )


def reward_update(agent: DreamerAgent, states: RSSMState, replay: Replay, world: MovingDotConfig,
                  index: torch.Tensor) -> float:
    """One step of the reward head on the episodes ``index``: MSE between r([h, z, goal]) and the rewards."""
    goal = goal_input(replay.goals[index], world)[:, None].expand(-1, states.h.shape[1], -1)  # (n, T+1, 2)
    feats = state_features(RSSMState(states.h[index], states.z[index]), goal)  # (n, T+1, F)
    loss = ((agent.reward(feats) - replay.rewards[index]) ** 2).mean()
    agent.reward_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    agent.reward_optimizer.step()
    return loss.item()


def behavior_update(agent: DreamerAgent, model: RSSM, states: RSSMState, replay: Replay, world: MovingDotConfig,
                    config: BehaviorConfig, starts: torch.Tensor) -> dict[str, float]:
    """One actor-critic update from the replayed states ``starts`` (flat indices into (E, T+1))."""
    E, T1 = states.h.shape[:2]
    start = RSSMState(states.h.reshape(E * T1, -1)[starts], states.z.reshape(E * T1, -1)[starts])
    goal = goal_input(replay.goals, world).repeat_interleave(T1, 0)[starts]
    loss, rollout, logs = actor_loss(model, agent.actor, agent.critic, agent.reward, start, goal, agent.normalizer,
                                     config)
    agent.actor_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.actor.parameters(), config.grad_clip)
    agent.actor_optimizer.step()
    value_loss = critic_loss(agent.critic, agent.slow_critic, rollout.features[:-1].detach(), logs["returns"], config)
    agent.critic_optimizer.zero_grad(set_to_none=True)
    value_loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.critic.parameters(), config.grad_clip)
    agent.critic_optimizer.step()
    update_slow(agent.slow_critic, agent.critic, config.slow_critic_rate)
    return {"actor_loss": loss.item(), "critic_loss": value_loss.item(), "return": logs["returns"].mean().item()}


def train_agent(
    model: RSSM,
    task: PlanningTask,
    world: MovingDotConfig,
    behavior: BehaviorConfig | None = None,
    config: AgentConfig | None = None,
    on_iteration: Callable[[int, DreamerAgent, dict[str, float]], None] | None = None,
) -> tuple[DreamerAgent, list[dict[str, float]]]:
    """Run the agent loop with ``model`` held fixed; returns the agent and one log line per round.

    ``on_iteration(k, agent, log)`` is called after every round. With ``config.monitor_episodes``, each
    log also has the actor's ``success`` and mean ``final_distance`` (px) on the monitoring episodes.
    """
    behavior, config = behavior or BehaviorConfig(), config or AgentConfig()
    torch.manual_seed(config.seed)
    model = model.eval().requires_grad_(False)
    agent = DreamerAgent.create(model, behavior, config)
    replay: Replay | None = None
    if config.prefill_episodes:
        specs = [task.episode(training_episode(config, 0, i), world) for i in range(config.prefill_episodes)]
        replay = collect(task, world, specs, RandomAgent())
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    for k in range(config.iterations):
        specs = [task.episode(training_episode(config, k + 1, i), world) for i in range(config.episodes_per_iteration)]
        fresh = collect(task, world, specs, ActorAgent(model, agent.actor, world, explore=True))
        replay = fresh if replay is None else replay.extend(fresh)
        states = filtered_states(model, replay)
        for _ in range(config.reward_updates):
            index = torch.randint(len(replay), (min(config.reward_batch, len(replay)),), generator=generator)
            reward_loss = reward_update(agent, states, replay, world, index)
        total = states.h.shape[0] * states.h.shape[1]
        for _ in range(config.behavior_updates):
            starts = torch.randint(total, (config.start_states,), generator=generator)
            logs = behavior_update(agent, model, states, replay, world, behavior, starts)
        log = {"iteration": k + 1, "episodes": len(replay), "reward_loss": reward_loss,
               "collected_return": fresh.rewards.sum(1).mean().item(),
               "collected_final_distance": -world.grid_size * fresh.rewards[:, -1].mean().item(), **logs}
        if config.monitor_episodes:
            watched = PlannerReport("actor", world.use_occlusion, evaluate_actor(
                model, agent.actor, task, world, [MONITOR_EPISODES + i for i in range(config.monitor_episodes)]))
            log["success"], log["final_distance"] = watched.success_rate, watched.mean_final_distance
        history.append(log)
        if on_iteration is not None:
            on_iteration(k, agent, log)
    model.requires_grad_(True)
    return agent, history


# ----- the shipped agent ---------------------------------------------------------------------------

SHIPPED_AGENT = PRETRAINED_DIR / "dreamer_agent.pt"  # trained by scripts/train_agent.sh
AGENT_FORMAT = 2  # 2: with the return scale S


@dataclass
class LoadedAgent:
    """An agent file: the trained heads, the settings they were trained with, and the world model's name."""

    actor: Actor
    reward: GoalRewardHead
    critic: Critic
    behavior: BehaviorConfig
    config: AgentConfig
    world_model: str  # the world model's checkpoint file, e.g. moving_dot_occluded.pt
    history: list[dict[str, float]]
    seconds: float  # training time
    return_scale: float  # the return normaliser's S at the end of training (advantages are divided by max(1, S))


def save_agent(path: str | Path, agent: DreamerAgent, behavior: BehaviorConfig, config: AgentConfig,
               world_model: Path, history: list[dict[str, float]], seconds: float) -> Path:
    """Write the agent's heads and settings to ``path`` atomically (no optimiser state: not for resuming)."""
    payload = {
        "format": AGENT_FORMAT, "behavior": asdict(behavior), "agent_config": asdict(config),
        "state_dim": agent.reward.state_dim, "action_dim": agent.actor.net[-1].out_features // 2,
        "world_model": world_model.name, "world_model_sha256": hashlib.sha256(world_model.read_bytes()).hexdigest(),
        "actor": agent.actor.state_dict(), "reward": agent.reward.state_dict(), "critic": agent.critic.state_dict(),
        "history": history, "seconds": float(seconds), "return_scale": float(agent.normalizer.scale),
        "versions": library_versions(),
    }
    return save_atomically(payload, path)


def load_agent(path: str | Path = SHIPPED_AGENT) -> LoadedAgent:
    """Read an agent file written by :func:`save_agent`. Raises ValueError, in one line, for anything else."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload["format"] != AGENT_FORMAT:
            raise ValueError(f"format {payload['format']!r}, this rssm reads {AGENT_FORMAT}")
        behavior, config = BehaviorConfig(**payload["behavior"]), AgentConfig(**payload["agent_config"])
        state_dim, action_dim = payload["state_dim"], payload["action_dim"]
        actor, reward = Actor(state_dim + 2, action_dim, behavior), GoalRewardHead(state_dim, behavior.hidden_dim)
        critic = Critic(state_dim + 2, behavior)
        for module, key in ((actor, "actor"), (reward, "reward"), (critic, "critic")):
            module.load_state_dict(payload[key])
            module.eval()
        loaded = LoadedAgent(actor, reward, critic, behavior, config, payload["world_model"], payload["history"],
                             float(payload["seconds"]), float(payload["return_scale"]))
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001  torch and the modules raise several types for a foreign file
        raise ValueError(f"{path}: not a readable agent file ({first_line(error) or type(error).__name__})") from None
    return loaded


def main(argv: list[str] | None = None) -> int:
    """``python -m rssm.dreamer OUT``: train an agent in a shipped (or your own) world model and save it."""
    parser = argparse.ArgumentParser(prog="python -m rssm.dreamer", description=main.__doc__)
    parser.add_argument("output", help="the agent file to write, e.g. runs/agent.pt")
    parser.add_argument("--checkpoint", default="moving_dot_occluded",
                        help="the world model: a shipped name or a model.pt path (default: moving_dot_occluded)")
    add_fields(parser, "the actor-critic in imagination (rssm.behavior.BehaviorConfig)", BehaviorConfig)
    add_fields(parser, "the agent loop (rssm.dreamer.AgentConfig)", AgentConfig)
    args = parser.parse_args(argv)
    try:
        behavior = BehaviorConfig(**{f.name: getattr(args, f.name) for f in fields(BehaviorConfig)})
        config = AgentConfig(**{f.name: getattr(args, f.name) for f in fields(AgentConfig)})
        world_model = checkpoint_path(args.checkpoint)
        loaded = load_checkpoint(world_model)
    except (ValueError, FileNotFoundError) as error:
        print(f"python -m rssm.dreamer: {error}", file=sys.stderr)
        return 2
    task, start = PlanningTask(), time.perf_counter()

    def report(k: int, agent: DreamerAgent, log: dict[str, float]) -> None:
        watched = f", success {log['success']:.2f} on the monitoring episodes" if "success" in log else ""
        print(f"round {k + 1}/{config.iterations}: final distance of the collected episodes "
              f"{log['collected_final_distance']:.2f} px{watched} ({time.perf_counter() - start:.0f} s)", flush=True)

    agent, history = train_agent(loaded.model, task, loaded.data_config, behavior, config, on_iteration=report)
    path = save_agent(args.output, agent, behavior, config, world_model, history, time.perf_counter() - start)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["MONITOR_EPISODES", "SHIPPED_AGENT", "ActorAgent", "AgentConfig", "DreamerAgent", "GoalRewardHead",
           "LoadedAgent", "Replay", "RewardReading", "collect", "evaluate_actor", "filtered_states", "goal_input",
           "load_agent", "save_agent", "train_agent"]
