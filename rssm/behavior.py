"""Learning to act inside the world model: Dreamer's actor-critic, trained on imagined rollouts.

A planner (:mod:`rssm.planning`, chapter 11) searches imagined futures at every step. Dreamer instead
trains a policy, the *actor*, once and for all on futures the model imagines, and then acts with one
network call per step. This module holds the pieces, written after DreamerV3 (Hafner et al. 2023) with
the facts listed in the book's references; the package's own code throughout:

- :func:`imagine`: from start states (the posterior of replayed frames), roll the prior forward
  ``horizon`` steps with actions the actor draws, never looking at a frame;
- :func:`lambda_return`: the targets the critic learns and the actor maximises;
- :class:`ReturnNormalizer`: DreamerV3's scale for the advantages, the EMA of the 5th-95th percentile
  range of the returns, divided out only where it exceeds 1;
- :class:`Actor` (a tanh-squashed Gaussian policy over actions in (-1, 1)), :class:`Critic` (a value per
  state) with :func:`update_slow` for its slow (EMA) copy, and :class:`RewardHead` (a plain MLP; the
  planning task's agent uses :class:`rssm.dreamer.GoalRewardHead`, which has the task's form);
- :func:`actor_loss` with both gradients the chapter compares: REINFORCE (DreamerV3, for every kind
  of action) and backpropagation of the return through the learned dynamics (DreamerV1).

Time indexing (the question users ask most about the reference code). An imagined rollout has states
s_0 ... s_H, s_0 the start state. The actor picks a_t from s_t, and the prior turns (s_t, a_t) into
s_{t+1}. The reward r_{t+1} and the continue flag c_{t+1} are read off the state they arrive in,
s_{t+1}; the value V(s_t) of every state. So ``rewards[t]`` holds r_{t+1}, ``continues[t]`` holds
c_{t+1} (both H long) and ``values[t]`` holds V(s_t) (H + 1 long), and the lambda-return is

    R_H = V(s_H),   R_t = r_{t+1} + gamma * c_{t+1} * ((1 - lambda) * V(s_{t+1}) + lambda * R_{t+1}),

for t = H-1 ... 0: R_t is what the policy expects to collect from s_t on.

No actor-critic gradient reaches the world model: imagined states are detached for REINFORCE, and
for backpropagation through the dynamics the model's parameters are frozen while the actor learns,
so the return's gradient flows *through* the model to the actions without changing the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

import torch
from torch import nn

from rssm.config import Bounds, between, check_fields, check_value, non_negative, positive
from rssm.model import RSSM, RSSMState

ActorGradient = Literal["reinforce", "dynamics"]


@dataclass(frozen=True)
class BehaviorConfig:
    """Settings of the actor-critic in imagination (DreamerV3's values where they fit a 2-core CPU)."""

    horizon: int = 15  # imagined steps per rollout (DreamerV3: 15)
    discount: float = 0.97  # gamma per step (DreamerV3: 0.997, for episodes of thousands of steps)
    return_lambda: float = 0.95  # lambda of the lambda-return (DreamerV3: 0.95)
    actor_gradient: ActorGradient = "reinforce"  # REINFORCE (DreamerV3) or backprop through the dynamics (V1)
    entropy: float = 3e-4  # weight of the actor's entropy bonus (DreamerV3: 3e-4)
    return_decay: float = 0.99  # EMA decay of the returns' 5th-95th percentile range (DreamerV3: 0.99)
    slow_critic_rate: float = 0.02  # the slow critic moves this far towards the critic per update
    slow_critic_weight: float = 1.0  # weight of the pull of the critic towards its slow copy
    hidden_dim: int = 128  # width of the actor's and critic's MLPs
    min_action_std: float = 0.1  # the actor's standard deviation lies in [min, max]
    max_action_std: float = 1.0
    actor_lr: float = 3e-4  # Adam's learning rate for the actor
    critic_lr: float = 3e-4  # and for the critic
    grad_clip: float = 100.0  # clip each network's gradient norm at this value

    bounds: ClassVar[dict[str, Bounds]] = {
        "horizon": positive, "discount": between(0, 1, "(]"), "return_lambda": between(0, 1),
        "entropy": non_negative, "return_decay": between(0, 1, "[)"), "slow_critic_rate": between(0, 1, "(]"),
        "slow_critic_weight": non_negative, "hidden_dim": positive, "min_action_std": between(0, 10, "(]"),
        "max_action_std": between(0, 10, "(]"), "actor_lr": positive, "critic_lr": positive, "grad_clip": positive,
    }

    def __post_init__(self) -> None:
        check_fields(self)  # every field's type, and the bounds above
        if self.min_action_std > self.max_action_std:
            raise ValueError(
                f"BehaviorConfig.min_action_std={self.min_action_std!r}: must be at most "
                f"max_action_std={self.max_action_std!r}"
            )


# ----- the targets ---------------------------------------------------------------------------------


def lambda_return(
    rewards: torch.Tensor, values: torch.Tensor, continues: torch.Tensor, discount: float, return_lambda: float
) -> torch.Tensor:
    """The lambda-returns R_0 ... R_{H-1} of an imagined rollout (see the module's time indexing).

    rewards: (H, ...) with ``rewards[t]`` = r_{t+1}, read off s_{t+1}; values: (H + 1, ...) with
    ``values[t]`` = V(s_t); continues: (H, ...) with ``continues[t]`` = c_{t+1} (1 while the episode
    goes on, 0 once it has ended). Returns (H, ...). lambda = 0 gives the one-step target
    r_{t+1} + gamma c_{t+1} V(s_{t+1}); lambda = 1 the discounted sum of rewards bootstrapped with V(s_H).
    """
    H = rewards.shape[0]
    if values.shape[0] != H + 1 or continues.shape != rewards.shape or values.shape[1:] != rewards.shape[1:]:
        raise ValueError(
            f"lambda_return: expected rewards (H, ...), values (H + 1, ...) and continues (H, ...) alike, got "
            f"{tuple(rewards.shape)}, {tuple(values.shape)} and {tuple(continues.shape)}"
        )
    check_value("lambda_return", "discount", discount, float, between(0, 1))
    check_value("lambda_return", "return_lambda", return_lambda, float, between(0, 1))
    returns = []
    last = values[H]  # R_H = V(s_H)
    for t in reversed(range(H)):
        last = rewards[t] + discount * continues[t] * ((1 - return_lambda) * values[t + 1] + return_lambda * last)
        returns.append(last)
    return torch.stack(returns[::-1])


class ReturnNormalizer(nn.Module):
    """DreamerV3's return scale S: an EMA of the range between the returns' 5th and 95th percentiles.

    Advantages are divided by max(1, S): large returns are scaled down to a range of about 1, so one
    entropy weight suits every task, while small, noisy returns are not blown up. S starts at 0.
    """

    def __init__(self, decay: float = 0.99, low: float = 0.05, high: float = 0.95) -> None:
        super().__init__()
        check_value("ReturnNormalizer", "decay", decay, float, between(0, 1, "[)"))
        self.decay, self.low, self.high = decay, low, high
        self.register_buffer("scale", torch.zeros(()))

    @torch.no_grad()
    def update(self, returns: torch.Tensor) -> torch.Tensor:
        """Move S towards the percentile range of ``returns`` (any shape); returns the new max(1, S)."""
        flat = returns.detach().flatten().float()
        spread = torch.quantile(flat, self.high) - torch.quantile(flat, self.low)
        self.scale.mul_(self.decay).add_((1 - self.decay) * spread)
        return self.divisor()

    def divisor(self) -> torch.Tensor:
        """max(1, S): what the advantages are divided by."""
        return self.scale.clamp(min=1.0)


# ----- the networks --------------------------------------------------------------------------------


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """Two hidden layers with LayerNorm and SiLU, as Dreamer's heads."""
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.LayerNorm(hidden), nn.SiLU(),
        nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.SiLU(),
        nn.Linear(hidden, outputs),
    )


def features(state: RSSMState, goal: torch.Tensor) -> torch.Tensor:
    """What the actor, the critic and the reward head read: [h, z, goal]. (N, deter + latent + 2)."""
    return torch.cat([state.h, state.z, goal], -1)


class ActionSample(NamedTuple):
    """Actions drawn from the actor, with what its losses need."""

    action: torch.Tensor  # (N, A) in (-1, 1): tanh of a Gaussian sample
    log_prob: torch.Tensor  # (N,) log pi(action | s), summed over the action's dimensions
    entropy: torch.Tensor  # (N,) the entropy of the Gaussian before the tanh, summed likewise


class Actor(nn.Module):
    """A policy over actions in (-1, 1)^A: a = tanh(u) with u ~ N(m(s), std(s)), std in [min_std, max_std].

    The tanh keeps every action inside the range the world model was trained on without clipping, so
    the gradient of a reparameterised sample never vanishes at the edge (backpropagation through the
    dynamics needs it). :meth:`mode` is tanh(m(s)), the action the agent takes when it does not explore.
    """

    def __init__(self, feature_dim: int, action_dim: int, config: BehaviorConfig) -> None:
        super().__init__()
        self.net = mlp(feature_dim, config.hidden_dim, 2 * action_dim)
        self.min_std, self.max_std = config.min_action_std, config.max_action_std

    def forward(self, feats: torch.Tensor) -> torch.distributions.Normal:
        """feats (N, F) -> the Gaussian over u (before the tanh), batch shape (N, A)."""
        mean, raw_std = self.net(feats).chunk(2, -1)
        std = self.min_std + (self.max_std - self.min_std) * torch.sigmoid(raw_std + 2.0)
        return torch.distributions.Normal(mean, std)

    def mode(self, feats: torch.Tensor) -> torch.Tensor:
        """The action without exploration: tanh of the Gaussian's mean. (N, F) -> (N, A).

        Read off the network directly (no distribution object), so that the graph exports to ONNX.
        """
        return torch.tanh(self.net(feats).chunk(2, -1)[0])

    def sample(self, feats: torch.Tensor, reparameterize: bool, noise: torch.Tensor | None = None) -> ActionSample:
        """Draw a = tanh(u): reparameterised (gradients flow to the actor through a) or not (REINFORCE).

        noise: standard normal (N, A), drawn here when None. log pi(a) = log N(u) - sum log(1 - tanh(u)^2).
        """
        gaussian = self(feats)
        if noise is None:
            noise = torch.randn_like(gaussian.mean)
        u = gaussian.mean + gaussian.stddev * noise
        if not reparameterize:
            u = u.detach()
        action = torch.tanh(u)
        log_prob = (gaussian.log_prob(u) - torch.log1p(-action.pow(2) + 1e-6)).sum(-1)
        return ActionSample(action, log_prob, gaussian.entropy().sum(-1))


class RewardHead(nn.Module):
    """r(s): the reward read off a state [h, z, goal], trained on the rewards the world returned. (..., F) -> (...)."""

    def __init__(self, feature_dim: int, hidden_dim: int = 128) -> None:
        super().__init__()
        self.net = mlp(feature_dim, hidden_dim, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats).squeeze(-1)


class Critic(nn.Module):
    """V(s): the lambda-return the actor is expected to collect from a state. (N, F) -> (N,)."""

    def __init__(self, feature_dim: int, config: BehaviorConfig) -> None:
        super().__init__()
        self.net = mlp(feature_dim, config.hidden_dim, 1)
        nn.init.zeros_(self.net[-1].weight)  # a zero value everywhere at the start (DreamerV3)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats).squeeze(-1)


@torch.no_grad()
def update_slow(slow: nn.Module, fast: nn.Module, rate: float) -> None:
    """Move every parameter of ``slow`` a fraction ``rate`` of the way to ``fast``'s: slow += rate (fast - slow)."""
    for s, f in zip(slow.parameters(), fast.parameters(), strict=True):
        s.lerp_(f, rate)


# ----- imagination ---------------------------------------------------------------------------------


class Imagined(NamedTuple):
    """An imagined rollout of H steps from N start states, time first."""

    states: RSSMState  # h (H + 1, N, deter), z (H + 1, N, latent): s_0 ... s_H
    actions: torch.Tensor  # (H, N, A): a_t drawn from the actor at s_t, in (-1, 1)
    log_probs: torch.Tensor  # (H, N): log pi(a_t | s_t), summed over the action's dimensions
    entropies: torch.Tensor  # (H, N): the entropy of pi(. | s_t), summed likewise
    features: torch.Tensor  # (H + 1, N, F): [h, z, goal] of every state


def imagine(
    model: RSSM, actor: Actor, start: RSSMState, goal: torch.Tensor, horizon: int, gradient: ActorGradient
) -> Imagined:
    """Roll the prior forward ``horizon`` steps from ``start`` (N states) with actions drawn from ``actor``.

    goal: (N, 2). The prior samples z at every step, as Dreamer imagines. For ``gradient="reinforce"``
    the states carry no gradient at all; for ``"dynamics"`` they carry the gradient of the actions
    (reparameterised samples) through the model, whose parameters must be frozen by the caller
    (:func:`actor_loss` does it), so that nothing of this reaches the world model's weights.
    """
    check_value("imagine", "horizon", horizon, int, positive)
    state = RSSMState(start.h.detach(), start.z.detach())
    hs, zs, actions, log_probs, entropies = [state.h], [state.z], [], [], []
    for _ in range(horizon):
        feats = features(state, goal)
        drawn = actor.sample(feats, reparameterize=gradient == "dynamics")
        action = drawn.action
        log_probs.append(drawn.log_prob)
        entropies.append(drawn.entropy)
        h, prior = model.prior_step(state, action)
        state = RSSMState(h, prior.sample())
        if gradient == "reinforce":
            state = RSSMState(state.h.detach(), state.z.detach())
        hs.append(state.h)
        zs.append(state.z)
        actions.append(action)
    states = RSSMState(torch.stack(hs), torch.stack(zs))
    feats = features(states, goal.expand(horizon + 1, *goal.shape))  # (H + 1, N, F)
    return Imagined(states, torch.stack(actions), torch.stack(log_probs), torch.stack(entropies), feats)


def actor_loss(
    model: RSSM,
    actor: Actor,
    critic: Critic,
    reward: nn.Module,
    start: RSSMState,
    goal: torch.Tensor,
    normalizer: ReturnNormalizer,
    config: BehaviorConfig,
) -> tuple[torch.Tensor, Imagined, dict[str, torch.Tensor]]:
    """The actor's loss on one batch of imagined rollouts, with the rollout and its lambda-returns.

    REINFORCE: -mean(log pi(a_t | s_t) * sg((R_t - V(s_t)) / max(1, S))) - entropy * mean(H[pi]).
    Dynamics: -mean(R_t / max(1, S)) - entropy * mean(H[pi]), the return differentiated through the
    model, the reward head and the critic, whose parameters are frozen meanwhile: the gradient reaches
    the actor alone. Returns (loss, rollout, {"returns", "values", "advantages", "rewards"}, each (H, N),
    detached).
    """
    frozen = [p for net in (model, reward, critic) for p in net.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        rollout = imagine(model, actor, start, goal, config.horizon, config.actor_gradient)
        rewards = reward(rollout.features[1:])  # (H, N): r_{t+1} off s_{t+1}
        values = critic(rollout.features)  # (H + 1, N): V(s_0) ... V(s_H)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    continues = torch.ones_like(rewards)  # the task's episodes do not end early
    returns = lambda_return(rewards, values, continues, config.discount, config.return_lambda)
    divisor = normalizer.update(returns)
    advantages = (returns - values[:-1]).detach() / divisor
    if config.actor_gradient == "reinforce":
        objective = rollout.log_probs * advantages
    else:
        objective = returns / divisor
    loss = -objective.mean() - config.entropy * rollout.entropies.mean()
    logs = {"returns": returns.detach(), "values": values[:-1].detach(), "advantages": advantages,
            "rewards": rewards.detach()}
    return loss, rollout, logs


def critic_loss(critic: Critic, slow_critic: Critic, feats: torch.Tensor, returns: torch.Tensor,
                config: BehaviorConfig) -> torch.Tensor:
    """Regress V(s_t) on the lambda-returns, and towards the slow copy's values (a regulariser).

    feats: (H, N, F) of s_0 ... s_{H-1}, detached; returns (H, N). 0.5 (V - sg(R))^2 + w 0.5 (V - sg(V_slow))^2.
    """
    value = critic(feats.detach())
    with torch.no_grad():
        slow = slow_critic(feats)
    return 0.5 * ((value - returns.detach()) ** 2).mean() + config.slow_critic_weight * 0.5 * ((value - slow) ** 2).mean()


__all__ = [
    "ActionSample", "Actor", "ActorGradient", "BehaviorConfig", "Critic", "Imagined", "ReturnNormalizer", "RewardHead", "actor_loss",
    "critic_loss",
    "features", "imagine", "lambda_return", "mlp", "update_slow",
]
