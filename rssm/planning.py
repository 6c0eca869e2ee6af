"""Planning in the learned model: drive the dot to a goal by model-predictive control (as PlaNet).

Chapter 11 (``book/11_planning``) explains this module. At every step of an episode the agent

1. sees one new frame of the true world and updates its belief (for the RSSM: the posterior filter,
   ``prior_step`` with the action it last took, then ``posterior`` on the frame's embedding);
2. plans: the cross-entropy method (CEM) searches action sequences of ``horizon`` steps, scoring each
   by how close a model *imagines* the dot to the goal (:func:`plan_scores`);
3. executes the first action of the best plan, and replans at the next step.

The RSSM agent plans in latent space: candidates are rolled forward with the prior's mode (the mean
path) from the filtered state (h, z), and a small :class:`PositionHead` reads the dot's (x, y) off
each imagined (h, z). It never touches the simulator's state; it only receives frames. Two baselines bracket it:
``"oracle"``, the same CEM with the true simulator and the true state as its model (the upper bound),
and ``"random"``, uniformly random actions.

The task (episode length, success radius, how start states and goals are drawn) is defined once, in
:class:`PlanningTask`; :meth:`PlanningTask.success` is the only definition of success.

Facts about PlaNet's planner (Hafner et al. 2019): CEM with 1000 candidates, horizon 12, the top 100
refit a diagonal Gaussian, 10 iterations, replanning every step, a reward head on (h, z). Those are
:data:`PLANET_PLANNER`; the defaults of :class:`PlannerConfig` take a tenth of the candidates and
elites and 3 iterations: 33 times cheaper, and a few points less successful (``benchmarks/planning.py``).

Time convention (see :mod:`rssm.dataset`): the action chosen after seeing frame t takes frame t to
frame t+1; an episode of ``episode_steps`` actions ends on frame ``episode_steps``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from rssm.config import Bounds, between, check_fields, check_value, field_error, non_negative, positive
from rssm.dataset import (
    MovingDotConfig,
    MovingDotEnv,
    dot_is_visible,
    draw_occluders,
    generate_moving_dot_sequences,
    next_states,
    render_dots,
)
from rssm.model import RSSM, RSSMState, shift_actions

PLANNERS = ("rssm", "random", "oracle")
# An episode's goal is drawn from a generator seeded with seed + this: a stream no start state is drawn from.
# torch's CPU generator keeps only the low 32 bits of a seed, so the offset must differ from 0 modulo 2**32
# (2**40 would replay the start state's stream and put every goal next to its start).
GOAL_SEED_OFFSET = 2**31


# ----- the task ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeSpec:
    """One seeded episode: where the dot starts, where it should go, and the occluders."""

    seed: int  # the seed it was drawn from (PlanningTask.episode)
    start_state: torch.Tensor  # (4,) (x, y, vx, vy) of frame 0, pixels and pixels/frame
    goal: torch.Tensor  # (2,) (x, y) in pixels
    occluder_mask: torch.Tensor  # (1, H, W) bool

    bounds: ClassVar[dict[str, Bounds]] = {"seed": non_negative}

    def __post_init__(self) -> None:
        check_fields(self)  # every field's type (the tensors are tensors), and the bounds above
        for name, shape in (("start_state", (4,)), ("goal", (2,))):
            if tuple(getattr(self, name).shape) != shape:
                raise field_error(self, name, f"must have shape {shape}")
        if self.occluder_mask.dtype != torch.bool or self.occluder_mask.dim() != 3 or len(self.occluder_mask) != 1:
            raise field_error(self, "occluder_mask", "must be a (1, H, W) bool tensor")

    @property
    def goal_hidden(self) -> bool:
        """Whether the goal lies behind an occluder: the dot must stop where it cannot be seen."""
        return not bool(dot_is_visible(self.goal.view(1, 1, 2), self.occluder_mask.unsqueeze(0))[0, 0])


@dataclass(frozen=True)
class PlanningTask:
    """The planning task, defined in one place: episodes, goals and what counts as success.

    An episode starts from the state a :func:`rssm.dataset.generate_moving_dot_sequences` sequence
    starts from (uniform position, uniform velocity, the same random occluders), and draws a goal
    uniformly in the square ``goal_margin`` pixels inside the walls. Episode ``i`` of a task is seeded
    by ``seed + i``, so a task's episodes are a fixed, reproducible set.
    """

    episode_steps: int = 30  # actions per episode; success is judged on the last frame (frame episode_steps)
    success_radius: float = 2.0  # pixels: success if the dot's centre ends this close to the goal
    goal_margin: float = 2.0  # goals are at least this far (pixels) inside the walls the dot bounces off
    seed: int = 0  # episode i is seeded by seed + i

    bounds: ClassVar[dict[str, Bounds]] = {
        "episode_steps": positive, "success_radius": non_negative, "goal_margin": non_negative, "seed": non_negative,
    }

    def __post_init__(self) -> None:
        check_fields(self)  # every field's type, and the bounds above

    def reward(self, position: torch.Tensor, goal: torch.Tensor, world: MovingDotConfig) -> torch.Tensor:
        """The reward the world returns with a frame (chapter 12): minus the dot's distance to the goal, as a
        fraction of the grid's side; 0 on the goal. (..., 2), (..., 2) -> (...)."""
        return -distance(position, goal) / world.grid_size

    def success(self, final_position: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """True where the dot ends within ``success_radius`` pixels of the goal. (..., 2), (..., 2) -> (...) bool."""
        return distance(final_position, goal) <= self.success_radius

    def episode(self, index: int, world: MovingDotConfig) -> EpisodeSpec:
        """The ``index``-th episode of this task in ``world``.

        Start state and occluders are those of ``generate_moving_dot_sequences(world, 1, seed + index)``
        (the world's own draws); the goal comes from a generator seeded with ``seed + index + GOAL_SEED_OFFSET``.
        """
        check_value("PlanningTask.episode", "index", index, int, non_negative)
        seed = self.seed + index
        first = generate_moving_dot_sequences(world, 1, seed=seed)  # its frame 0 is the episode's frame 0
        low, high = world.wall_low + self.goal_margin, world.wall_high - self.goal_margin
        if low > high:
            raise ValueError(f"PlanningTask.goal_margin={self.goal_margin!r}: leaves no room for goals in this world")
        gen = torch.Generator().manual_seed(seed + GOAL_SEED_OFFSET)
        goal = low + torch.rand(2, generator=gen) * (high - low)
        return EpisodeSpec(seed, first["states"][0, 0], goal, first["occluder_mask"][0])


def distance(position: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Euclidean distance in pixels. (..., 2), (..., 2) -> (...)."""
    return (position - goal).norm(dim=-1)


# ----- the reward model: where is the dot in a latent state? --------------------------------------


class PositionHead(nn.Module):
    """An MLP from the RSSM state (h, z) to the dot's (x, y) in pixels: the planner's reward model.

    The output is ``centre + half_size * mlp([h, z])``, so the network works in units of half the frame.
    """

    def __init__(self, deter_dim: int, latent_size: int, grid_size: int, hidden_dim: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(deter_dim + latent_size, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, 2),
        )
        self.register_buffer("centre", torch.tensor((grid_size - 1) / 2))
        self.register_buffer("half_size", torch.tensor(grid_size / 2))

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """h: (..., deter_dim), z: (..., latent_size) -> (..., 2) pixels."""
        return self.centre + self.half_size * self.net(torch.cat([h, z], -1))


@torch.no_grad()
def filter_step(model: RSSM, belief: RSSMState, prev_action: torch.Tensor, frame: torch.Tensor) -> RSSMState:
    """One step of the posterior filter: the belief after ``prev_action`` and then seeing ``frame``.

    belief: (B, deter) and (B, latent); prev_action: (B, 2); frame: (B, 1, H, W). The same step as
    :meth:`rssm.model.RSSM.observe` with ``sample=False``: ``prior_step``, then the posterior's mode
    (a Gaussian's mean, a categorical's most likely classes).
    """
    h, _ = model.prior_step(belief, prev_action)  # (B, deter)
    return RSSMState(h, model.posterior(h, model.encoder(frame)).mode)


@torch.no_grad()
def head_training_data(model: RSSM, world: MovingDotConfig, sequences: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Latents and true positions to train a :class:`PositionHead` on.

    Filters ``sequences`` fresh sequences of ``world`` with :func:`filter_step` (as the agent does),
    and returns (h (N, deter), z (N, latent), positions (N, 2)) with N = sequences * seq_len frames,
    hidden dots included: the head must read a belief, not a sighting.
    """
    device = next(model.parameters()).device
    batch = generate_moving_dot_sequences(world, sequences, seed=seed)
    obs, prev_actions = batch["obs"].to(device), shift_actions(batch["actions"]).to(device)
    belief, hs, zs = model.initial_state(sequences, device), [], []
    for t in range(world.seq_len):
        belief = filter_step(model, belief, prev_actions[:, t], obs[:, t])
        hs.append(belief.h)
        zs.append(belief.z)
    return torch.cat(hs).cpu(), torch.cat(zs).cpu(), batch["states"][..., :2].transpose(0, 1).reshape(-1, 2)


def train_position_head(
    model: RSSM,
    world: MovingDotConfig,
    steps: int = 2000,
    seed: int = 0,
    sequences: int = 256,
    batch_size: int = 256,
    lr: float = 3e-3,
) -> PositionHead:
    """Fit a :class:`PositionHead` to the shipped model's filtered latents by regression (MSE in pixels).

    The RSSM stays frozen. Deterministic given ``seed`` (the data, the initialisation and the batches);
    the global random state is left untouched. A few seconds on one CPU core with the defaults.
    """
    for name, value in (("steps", steps), ("sequences", sequences), ("batch_size", batch_size)):
        check_value("train_position_head", name, value, int, positive)
    h, z, target = head_training_data(model, world, sequences, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = PositionHead(h.shape[-1], z.shape[-1], world.grid_size)
    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(head.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    for _ in range(steps):
        index = torch.randint(len(h), (min(batch_size, len(h)),), generator=gen)
        loss = F.mse_loss(head(h[index], z[index]), target[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    head.eval().to(next(model.parameters()).device)
    return head


# ----- models the planner can imagine with ---------------------------------------------------------


class PlanningModel(Protocol):
    """What CEM needs from a model: a belief updated from frames, and imagined positions for actions."""

    def initial_belief(self) -> Any:
        """The belief before frame 0."""

    def update(self, belief: Any, prev_action: torch.Tensor, frame: torch.Tensor) -> Any:
        """The belief after ``prev_action`` (2,) and then seeing ``frame`` (1, H, W)."""

    def imagine(self, belief: Any, actions: torch.Tensor) -> torch.Tensor:
        """Predicted dot positions after each action: actions (N, H, 2) -> (N, H, 2) pixels."""

    def locate(self, belief: Any) -> torch.Tensor:
        """For records: where the belief puts the dot now, (2,) pixels."""

    def render(self, belief: Any, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For records: the belief's frame (1, H, W) and the frames after each action (H, 1, H, W)."""


class LatentModel:
    """The RSSM and its position head as a planning model. The belief is the filtered (h, z), batch 1.

    The belief is updated by :func:`filter_step` (as :meth:`rssm.model.RSSM.observe` does with
    ``sample=False``), and imagination rolls the prior's mode (a Gaussian's mean) forward (the
    read-out the book found most accurate, ``benchmarks/sampled_futures.py``). It sees frames only.
    """

    def __init__(self, model: RSSM, head: PositionHead) -> None:
        self.model, self.head = model.eval(), head.eval()
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def initial_belief(self) -> RSSMState:
        return self.model.initial_state(1, self.device)

    def update(self, belief: RSSMState, prev_action: torch.Tensor, frame: torch.Tensor) -> RSSMState:
        return filter_step(self.model, belief, prev_action.view(1, -1).to(self.device), frame.unsqueeze(0).to(self.device))

    @torch.no_grad()
    def imagine(self, belief: RSSMState, actions: torch.Tensor) -> torch.Tensor:
        N = actions.shape[0]
        start = RSSMState(belief.h.expand(N, -1), belief.z.expand(N, -1))
        out = self.model.imagine(start, actions.to(self.device), decode=False)  # h (N, H, deter), z (N, H, stoch)
        return self.head(out.h, out.z).cpu()  # (N, H, 2)

    @torch.no_grad()
    def locate(self, belief: RSSMState) -> torch.Tensor:
        return self.head(belief.h, belief.z)[0].cpu()  # (2,)

    @torch.no_grad()
    def render(self, belief: RSSMState, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        now = self.model.decode(belief.h, belief.z)[0].cpu()  # (1, H, W)
        plan = self.model.imagine(belief, actions.unsqueeze(0).to(self.device)).recon[0].cpu()  # (H, 1, H, W)
        return now, plan


class SimulatorModel:
    """The oracle's model: the true simulator, and the true state read from the environment.

    Its belief *is* the environment's state (frames are ignored): the upper bound for any learned model.
    """

    def __init__(self, env: MovingDotEnv) -> None:
        self.env = env

    def initial_belief(self) -> torch.Tensor:
        return self.env.state.clone()

    def update(self, belief: torch.Tensor, prev_action: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return self.env.state.clone()  # (4,)

    def imagine(self, belief: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return next_states(belief.expand(actions.shape[0], 4), actions, self.env.world)[..., :2]

    def locate(self, belief: torch.Tensor) -> torch.Tensor:
        return belief[:2].clone()

    def render(self, belief: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.cat([belief[:2].view(1, 2), self.imagine(belief, actions.unsqueeze(0))[0]])  # (H+1, 2)
        mask = self.env.spec.occluder_mask.unsqueeze(0)
        frames = draw_occluders(render_dots(positions.unsqueeze(0), self.env.world), mask, self.env.world)[0]
        return frames[0], frames[1:]


# ----- the cross-entropy method --------------------------------------------------------------------


@dataclass(frozen=True)
class PlannerConfig:
    """Settings of the CEM planner.

    The defaults imagine 33 times fewer steps than PlaNet's settings (:data:`PLANET_PLANNER`), about
    1.6 CPU-seconds per episode, and still meet the task's targets; the search they skip costs a few
    points of success, on goals behind occluders (``benchmarks/planning.py``).
    """

    candidates: int = 100  # action sequences sampled per CEM iteration (PlaNet: 1000)
    horizon: int = 12  # actions per plan, shortened to the steps left near the episode's end (PlaNet: 12)
    top_k: int = 10  # elites the Gaussian is refit to (PlaNet: 100)
    iterations: int = 3  # CEM iterations per environment step (PlaNet: 10)
    init_std: float = 1.0  # std of the sampling Gaussian at the start of each step (actions live in [-1, 1])
    min_std: float = 0.05  # floor on the refit std, so the search never freezes
    warm_start: bool = True  # start each step's mean from the previous plan shifted by one step

    bounds: ClassVar[dict[str, Bounds]] = {
        "candidates": positive, "horizon": positive, "top_k": positive, "iterations": positive,
        "init_std": between(1e-6, 10), "min_std": between(0, 10),
    }

    def __post_init__(self) -> None:
        check_fields(self)  # every field's type, and the bounds above
        if self.top_k > self.candidates:
            raise field_error(self, "top_k", f"must be at most candidates={self.candidates}")

    @property
    def imagined_steps(self) -> int:
        """Prior steps imagined to choose one action: candidates x horizon x iterations (fewer near the
        episode's end, where plans are shortened to the steps left)."""
        return self.candidates * self.horizon * self.iterations


PLANET_PLANNER = PlannerConfig(candidates=1000, horizon=12, top_k=100, iterations=10)  # Hafner et al. 2019


def plan_scores(positions: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """The reward of each plan: minus the mean distance (pixels) to the goal over the plan's steps.

    positions: (N, H, 2) predicted after each action; goal: (2,). Returns (N,), higher is better.
    Averaging over every step, not only the last, rewards getting there early *and staying*: a dot that
    rushes past the goal keeps paying for it, so the planner learns to brake (the dot has momentum).
    """
    return -distance(positions, goal).mean(-1)


@dataclass
class Plan:
    """What one CEM search returns."""

    actions: torch.Tensor  # (H, 2) the final mean, clipped to [-1, 1]; its first action is executed
    positions: torch.Tensor  # (H, 2) the model's predicted positions after each action of ``actions``
    score: float  # plan_scores of ``actions``: minus the mean predicted distance to the goal (pixels)
    elite_scores: torch.Tensor  # (iterations, top_k) the elites' scores at each CEM iteration, best first


def cem_plan(
    model: PlanningModel,
    belief: Any,
    goal: torch.Tensor,
    config: PlannerConfig,
    generator: torch.Generator,
    horizon: int | None = None,
    init_mean: torch.Tensor | None = None,
) -> Plan:
    """Search action sequences with the cross-entropy method, all candidates imagined in one batch.

    Each iteration samples ``candidates`` sequences (N, H, 2) from a diagonal Gaussian, clips them to
    [-1, 1], scores them with :func:`plan_scores` on ``model.imagine``, and refits the Gaussian to the
    ``top_k`` best. ``init_mean`` (H, 2) warm-starts the search; ``horizon`` defaults to the config's.
    """
    H = config.horizon if horizon is None else horizon
    mean = torch.zeros(H, 2) if init_mean is None else init_mean.clone()
    std = torch.full((H, 2), config.init_std)
    elite_scores = []
    for _ in range(config.iterations):
        noise = torch.randn(config.candidates, H, 2, generator=generator)
        candidates = (mean + std * noise).clamp(-1, 1)  # (N, H, 2)
        scores = plan_scores(model.imagine(belief, candidates), goal)  # (N,)
        best, index = scores.topk(config.top_k)
        elites = candidates[index]  # (k, H, 2)
        mean, std = elites.mean(0), elites.std(0, unbiased=False).clamp(min=config.min_std)
        elite_scores.append(best)
    actions = mean.clamp(-1, 1)
    positions = model.imagine(belief, actions.unsqueeze(0))  # (1, H, 2)
    return Plan(actions, positions[0], float(plan_scores(positions, goal)), torch.stack(elite_scores))


# ----- agents --------------------------------------------------------------------------------------


@dataclass
class AgentView:
    """What an agent's last action was based on, decoded for a reader: its belief and the plan it chose."""

    belief_position: torch.Tensor  # (2,) where the belief puts the dot in the frame just seen (pixels)
    belief_frame: torch.Tensor  # (1, H, W) the belief decoded: the frame the agent thinks it sees
    plan_frames: torch.Tensor  # (h, 1, H, W) the imagined frames of the plan
    plan_positions: torch.Tensor  # (h, 2) the model's predicted positions after each planned action
    plan_actions: torch.Tensor  # (h, 2) the plan whose first action was executed
    elite_scores: torch.Tensor  # (iterations, top_k) the elites' plan_scores per CEM iteration, best first


class Agent(Protocol):
    """Anything that acts in an episode: told the goal once, then handed one frame per step."""

    def reset(self, goal: torch.Tensor, seed: int, steps: int) -> None:
        """Start an episode of ``steps`` actions towards ``goal`` (2,) pixels; ``seed`` seeds its randomness."""

    def act(self, frame: torch.Tensor) -> torch.Tensor:
        """See frame t (1, H, W) and return action t (2,) in [-1, 1]."""

    def view(self) -> AgentView | None:
        """What the last action was based on (for :class:`StepRecord`), or None for an agent with no model."""


class MPCAgent:
    """Model-predictive control: update the belief from the frame, plan with CEM, act, replan next step.

    ``last_plan`` holds the latest :class:`Plan`, and ``last_belief`` the belief it was planned from.
    """

    def __init__(self, model: PlanningModel, config: PlannerConfig) -> None:
        self.model, self.config = model, config

    def reset(self, goal: torch.Tensor, seed: int, steps: int) -> None:
        self.goal, self.steps_left = goal.float(), steps
        self.generator = torch.Generator().manual_seed(seed)
        self.belief = self.model.initial_belief()
        self.prev_action = torch.zeros(2)
        self.last_plan: Plan | None = None
        self.last_belief: Any = None

    def act(self, frame: torch.Tensor) -> torch.Tensor:
        self.belief = self.model.update(self.belief, self.prev_action, frame)
        horizon = min(self.config.horizon, self.steps_left)
        plan = cem_plan(self.model, self.belief, self.goal, self.config, self.generator, horizon, self._warm_start(horizon))
        self.last_plan, self.last_belief = plan, self.belief
        self.prev_action = plan.actions[0].clone()
        self.steps_left -= 1
        return self.prev_action

    def _warm_start(self, horizon: int) -> torch.Tensor | None:
        """The previous plan without its executed first action, padded with zeros to ``horizon``: (horizon, 2)."""
        if not self.config.warm_start or self.last_plan is None:
            return None
        shifted = torch.cat([self.last_plan.actions[1:], torch.zeros(1, 2)])
        return shifted[:horizon] if len(shifted) >= horizon else F.pad(shifted, (0, 0, 0, horizon - len(shifted)))

    def view(self) -> AgentView | None:
        """The belief and the plan of the last step, decoded by the agent's model (None before the first)."""
        plan = self.last_plan
        if plan is None:
            return None
        belief_frame, plan_frames = self.model.render(self.last_belief, plan.actions)
        return AgentView(self.model.locate(self.last_belief), belief_frame, plan_frames, plan.positions, plan.actions,
                         plan.elite_scores)


class RandomAgent:
    """The lower baseline: uniformly random actions in [-1, 1]^2, ignoring frames and goal."""

    def reset(self, goal: torch.Tensor, seed: int, steps: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def act(self, frame: torch.Tensor) -> torch.Tensor:
        return 2 * torch.rand(2, generator=self.generator) - 1

    def view(self) -> None:
        """No model, no plan."""


class TimedAgent:
    """Any agent, with the time it spends choosing actions: ``seconds`` over ``actions`` chosen, so far.

    Only ``act`` is timed (filtering the frame and choosing), not the world's step; chapter 12 and
    ``benchmarks/behavior.py`` compare agents' compute per action with it.
    """

    def __init__(self, agent: Agent) -> None:
        self.agent, self.seconds, self.actions = agent, 0.0, 0

    def reset(self, goal: torch.Tensor, seed: int, steps: int) -> None:
        self.agent.reset(goal, seed, steps)

    def act(self, frame: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        action = self.agent.act(frame)
        self.seconds += time.perf_counter() - start
        self.actions += 1
        return action

    def view(self) -> AgentView | None:
        return self.agent.view()

    @property
    def ms_per_action(self) -> float:
        return 1000 * self.seconds / max(self.actions, 1)


# ----- episodes ------------------------------------------------------------------------------------


@dataclass
class StepRecord:
    """What happened at one step t of an episode (for chapter 11's player). Positions in pixels."""

    t: int
    frame: torch.Tensor  # (1, H, W) true frame t, the only thing the agent saw
    position: torch.Tensor  # (2,) true dot position in frame t
    visible: bool  # whether the dot's centre is outside the occluders in frame t
    action: torch.Tensor  # (2,) action t, chosen after seeing frame t
    belief_position: torch.Tensor | None  # (2,) where the agent's belief puts the dot in frame t (its model's read-out)
    belief_frame: torch.Tensor | None  # (1, H, W) the belief decoded (the frame the agent thinks it sees)
    plan_frames: torch.Tensor | None  # (h, 1, H, W) the imagined frames t+1..t+h of the executed plan
    plan_positions: torch.Tensor | None  # (h, 2) the model's predicted positions after each planned action
    plan_actions: torch.Tensor | None  # (h, 2) the plan whose first action was executed
    elite_scores: torch.Tensor | None  # (iterations, top_k) the elites' plan_scores per CEM iteration, best first


@dataclass
class EpisodeResult:
    """The outcome of one episode."""

    spec: EpisodeSpec
    positions: torch.Tensor  # (T+1, 2) true positions in frames 0..T
    actions: torch.Tensor  # (T, 2)
    final_distance: float  # pixels between the final position and the goal
    success: bool  # PlanningTask.success of the final position
    seconds: float  # wall-clock time of the episode
    cpu_seconds: float  # CPU time of the process during the episode (what a shared machine does not inflate)
    records: list[StepRecord] | None = None  # per step, if asked for


def _record(t: int, env: MovingDotEnv, frame: torch.Tensor, action: torch.Tensor, agent: Agent) -> StepRecord:
    """One :class:`StepRecord`, with what the agent based its action on (:meth:`Agent.view`) when it says."""
    visible = bool(dot_is_visible(env.state[:2].view(1, 1, 2), env.spec.occluder_mask.unsqueeze(0))[0, 0])
    view = agent.view()
    parts = (None,) * 6 if view is None else (
        view.belief_position, view.belief_frame, view.plan_frames, view.plan_positions, view.plan_actions,
        view.elite_scores,
    )
    return StepRecord(t, frame, env.position, visible, action.clone(), *parts)


def run_episode(
    task: PlanningTask, world: MovingDotConfig, spec: EpisodeSpec, agent: Agent, record: bool = False, env: MovingDotEnv | None = None
) -> EpisodeResult:
    """Play one episode: hand the agent each frame, apply its action, judge the final frame.

    The agent receives nothing but frames (and the goal at reset). ``record`` keeps a
    :class:`StepRecord` per step (decoding the plans costs a little time). ``env`` is the episode's
    environment if it was built beforehand (the oracle's model reads it), else a fresh one.
    """
    env = env or MovingDotEnv(world, spec)
    start, start_cpu = time.perf_counter(), time.process_time()
    frame = env.reset()
    agent.reset(spec.goal, spec.seed, task.episode_steps)
    positions, actions, records = [env.position], [], []
    for t in range(task.episode_steps):
        action = agent.act(frame).clamp(-1, 1)
        if record:
            records.append(_record(t, env, frame, action, agent))
        frame = env.step(action)
        positions.append(env.position)
        actions.append(action)
    final = env.position
    return EpisodeResult(
        spec, torch.stack(positions), torch.stack(actions), float(distance(final, spec.goal)),
        bool(task.success(final, spec.goal)), time.perf_counter() - start, time.process_time() - start_cpu,
        records if record else None,
    )


def make_agent(planner: str, env: MovingDotEnv, config: PlannerConfig, latent: LatentModel | None = None) -> Agent:
    """The agent called ``planner`` (one of :data:`PLANNERS`) for the episode played in ``env``.

    Only the oracle is handed ``env`` (to read the true state); the rssm agent gets ``latent``.
    """
    if planner == "rssm":
        if latent is None:
            raise ValueError("make_agent: planner 'rssm' needs a LatentModel (latent=...)")
        return MPCAgent(latent, config)
    if planner == "oracle":
        return MPCAgent(SimulatorModel(env), config)
    if planner == "random":
        return RandomAgent()
    raise ValueError(f"planner={planner!r}: must be one of {', '.join(PLANNERS)}")


@dataclass
class PlannerReport:
    """How one planner did over a task's fixed episodes."""

    planner: str
    occlusion: bool
    results: list[EpisodeResult]

    @property
    def success_rate(self) -> float:
        return sum(r.success for r in self.results) / len(self.results)

    @property
    def mean_final_distance(self) -> float:
        return sum(r.final_distance for r in self.results) / len(self.results)

    @property
    def seconds_per_episode(self) -> float:
        return sum(r.seconds for r in self.results) / len(self.results)

    @property
    def cpu_seconds_per_episode(self) -> float:
        return sum(r.cpu_seconds for r in self.results) / len(self.results)

    def summary(self) -> dict[str, Any]:
        """The benchmark's JSON line: planner, occlusion, success_rate, mean_final_distance, episodes,
        seconds (wall-clock and CPU) per episode, and the success of the episodes whose goal is hidden."""
        hidden = [r.success for r in self.results if r.spec.goal_hidden]
        return {
            "planner": self.planner, "occlusion": self.occlusion, "success_rate": round(self.success_rate, 3),
            "mean_final_distance": round(self.mean_final_distance, 3), "episodes": len(self.results),
            "seconds_per_episode": round(self.seconds_per_episode, 3),
            "cpu_seconds_per_episode": round(self.cpu_seconds_per_episode, 3), "goal_hidden_episodes": len(hidden),
            "success_rate_goal_hidden": round(sum(hidden) / len(hidden), 3) if hidden else None,
        }


def evaluate_planner(
    planner: str,
    task: PlanningTask,
    world: MovingDotConfig,
    episodes: int,
    config: PlannerConfig,
    latent: LatentModel | None = None,
) -> PlannerReport:
    """Play episodes 0..episodes-1 of ``task`` in ``world`` with one planner."""
    check_value("evaluate_planner", "episodes", episodes, int, positive)
    results = []
    for index in range(episodes):
        spec = task.episode(index, world)
        env = MovingDotEnv(world, spec)
        results.append(run_episode(task, world, spec, make_agent(planner, env, config, latent), env=env))
    return PlannerReport(planner, world.use_occlusion, results)


__all__ = [
    "PLANET_PLANNER", "PLANNERS", "Agent", "AgentView", "EpisodeResult", "EpisodeSpec", "LatentModel", "MPCAgent",
    "Plan", "PlannerConfig", "PlannerReport", "PlanningModel", "PlanningTask", "PositionHead", "RandomAgent",
    "SimulatorModel", "StepRecord", "TimedAgent", "cem_plan", "distance", "evaluate_planner", "filter_step", "head_training_data",
    "make_agent", "plan_scores", "run_episode", "train_position_head",
]
