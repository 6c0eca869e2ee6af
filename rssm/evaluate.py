"""Open-loop evaluation: dot-position error and MSE against the horizon, baselines, probes, sampled beliefs.

Chapter 5 (``book/05_open_loop_rollouts``) uses these to judge rollouts; chapter 6 uses the probes and
builds :func:`sample_beliefs`, which chapter 7 uses.

Horizon h means the h-th predicted frame after the K context frames: frame K + h - 1.

How a model is judged is one named thing, an :class:`EvalProtocol`, with three presets used by
training, tests, benchmarks and chapters alike: :data:`VALIDATION` (during training),
:data:`QUALITY` (the shipped checkpoint's figure) and :data:`BENCHMARK` (learning curves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from rssm.config import Bounds, check_fields, positive
from rssm.dataset import MovingDotConfig, draw_occluders, generate_moving_dot_sequences, reflect, render_dots
from rssm.model import RSSM, RSSMState, shift_actions

BASELINES = ("blank", "copy_last", "constant_velocity")


def background_frames(occluder_mask: torch.Tensor, config: MovingDotConfig) -> torch.Tensor:
    """The frame with the occluders and no dot: (B, 1, H, W) float32."""
    return occluder_mask.float() * config.occluder_intensity


def estimate_dot_position(frames: torch.Tensor, background: torch.Tensor | None = None, floor: float = 0.1) -> torch.Tensor:
    """Read the dot's (x, y) in pixels off frames, as the centroid of the brightness above the background.

    frames: (B, N, 1, H, W); background: (B, 1, H, W) or None. Only the brighter half of the blob
    counts: pixels above background + max(floor, half the frame's peak), weighted by how much brighter,
    so faint artefacts elsewhere in a predicted frame do not pull the estimate. A frame with no such pixel (a blank prediction) reads as the
    grid's centre: a blank guess is charged the error of guessing the middle. Returns (B, N, 2).
    """
    size = frames.shape[-1]
    if background is not None:
        frames = frames - background.unsqueeze(1)
    evidence = frames[:, :, 0]  # (B, N, H, W)
    peak = evidence.flatten(2).amax(-1)[..., None, None]  # (B, N, 1, 1)
    weight = (evidence - torch.clamp(0.5 * peak, min=floor)).clamp(min=0)  # the brighter half of the blob
    total = weight.sum((-1, -2))  # (B, N)
    coords = torch.arange(size, dtype=frames.dtype, device=frames.device)
    x = (weight.sum(-2) * coords).sum(-1) / total.clamp(min=1e-8)
    y = (weight.sum(-1) * coords).sum(-1) / total.clamp(min=1e-8)
    centre = torch.full_like(x, (size - 1) / 2)
    empty = total < 1e-3
    return torch.stack([torch.where(empty, centre, x), torch.where(empty, centre, y)], -1)


def constant_velocity_states(last_state: torch.Tensor, steps: int, config: MovingDotConfig) -> torch.Tensor:
    """Extrapolate (x, y, vx, vy) (B, 4) for ``steps`` frames at constant velocity, bouncing off walls.

    The baseline is given the true state of the last context frame (even if the dot is hidden
    there), so it is a strong baseline: it lacks only the future actions. Returns (B, steps, 2).
    """
    position, velocity = last_state[:, :2].clone(), last_state[:, 2:].clone()
    out = []
    for _ in range(steps):
        position, velocity = reflect(position + velocity, velocity, config.wall_low, config.wall_high)
        out.append(position)
    return torch.stack(out, 1)


def baseline_predictions(batch: dict[str, torch.Tensor], K: int, config: MovingDotConfig) -> dict[str, torch.Tensor]:
    """Frames (B, T-K, 1, H, W) from each baseline in :data:`BASELINES`, for frames K..T-1."""
    obs = batch["obs"]
    B, T = obs.shape[:2]
    cv_positions = constant_velocity_states(batch["states"][:, K - 1], T - K, config)
    cv_frames = draw_occluders(render_dots(cv_positions, config), batch["occluder_mask"], config)
    return {
        "blank": torch.zeros_like(obs[:, K:]),
        "copy_last": obs[:, K - 1 : K].expand(B, T - K, *obs.shape[2:]),
        "constant_velocity": cv_frames,
    }


@dataclass
class OpenLoopReport:
    """Open-loop errors against the horizon for the model and each baseline.

    Each dict maps a predictor's name ("model" and the :data:`BASELINES`) to an array over horizons
    1..N. ``pos_err_visible`` is the mean distance (pixels) between the dot read off the predicted
    frame and the true dot, over frames where the dot is visible; ``mse_*`` is the per-pixel squared
    error, averaged over visible or occluded frames. ``count_*`` is how many frames each horizon
    averages over.
    """

    K: int
    horizons: np.ndarray
    pos_err_visible: dict[str, np.ndarray] = field(default_factory=dict)
    mse_visible: dict[str, np.ndarray] = field(default_factory=dict)
    mse_occluded: dict[str, np.ndarray] = field(default_factory=dict)
    count_visible: np.ndarray | None = None
    count_occluded: np.ndarray | None = None

    def at(self, horizon: int, metric: str = "pos_err_visible") -> dict[str, float]:
        """All predictors' values of ``metric`` at one horizon (1-based)."""
        if not 1 <= horizon <= len(self.horizons):
            raise ValueError(f"horizon={horizon}: must be in [1, {len(self.horizons)}]")
        return {name: float(values[horizon - 1]) for name, values in getattr(self, metric).items()}

    def table(self, horizons: tuple[int, ...] = (1, 5, 10, 20), metric: str = "pos_err_visible", digits: int = 2) -> str:
        """A plain-text table of ``metric`` at the given horizons, one row per predictor."""
        horizons = tuple(h for h in horizons if h <= len(self.horizons))
        names = list(getattr(self, metric))
        width = max(len(n) for n in names) + 2
        lines = [f"{metric} (K={self.K})".ljust(width) + "".join(f"h={h}".rjust(9) for h in horizons)]
        for name in names:
            lines.append(name.ljust(width) + "".join(f"{self.at(h, metric)[name]:9.{digits}f}" for h in horizons))
        return "\n".join(lines)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the batch of (B, N) values where mask is True, per horizon; NaN where none."""
    count = mask.sum(0).double()
    total = (values.double() * mask).sum(0)
    return (total / count.clamp(min=1)).where(count > 0, torch.nan).numpy(), count.numpy()


def held_out_batches(
    data_config: MovingDotConfig, num_sequences: int, seed: int, batch_size: int = 64
) -> Iterator[dict[str, torch.Tensor]]:
    """The fresh sequences that :func:`evaluate_open_loop` scores, in the chunks it draws them in.

    Chunk i holds sequences i * batch_size onwards, generated from ``seed + i * batch_size``, so a
    script that needs per-sequence numbers can score exactly the sequences behind a report.
    """
    for start in range(0, num_sequences, batch_size):
        yield generate_moving_dot_sequences(data_config, min(batch_size, num_sequences - start), seed=seed + start)


@dataclass(frozen=True)
class EvalProtocol:
    """One named way to judge open-loop prediction.

    Filter ``K`` context frames with the posterior, then predict ``horizon`` frames with the prior's
    mean alone, on ``sequences`` fresh sequences of the model's own world drawn from ``seed`` (never
    a training seed); score the dot's position on frames where it is visible (see
    :func:`evaluate_open_loop`). Use a preset (:data:`PROTOCOLS`), or ``replace`` one field of it.
    """

    name: str  # what reports call it: "validation", "quality", "benchmark" (PROTOCOLS)
    K: int = 8  # context frames
    horizon: int = 24  # predicted frames: horizons 1..horizon
    sequences: int = 256  # held-out sequences
    seed: int = 987_654  # where the held-out sequences come from

    bounds: ClassVar[dict[str, Bounds]] = {"K": positive, "horizon": positive, "sequences": positive}

    def __post_init__(self) -> None:
        check_fields(self)  # every field's type, and the bounds above

    def replace(self, **changes: Any) -> EvalProtocol:
        """A copy with some fields changed, e.g. ``QUALITY.replace(sequences=192)``."""
        return dataclasses.replace(self, **changes)

    def world(self, data_config: MovingDotConfig) -> MovingDotConfig:
        """The model's world with sequences of K context frames and ``horizon`` frames to predict."""
        return dataclasses.replace(data_config, seq_len=self.K + self.horizon)

    def batch(self, data_config: MovingDotConfig) -> dict[str, torch.Tensor]:
        """All the held-out sequences as one batch (the very sequences :meth:`evaluate` scores)."""
        chunks = list(held_out_batches(self.world(data_config), self.sequences, self.seed))
        return {key: torch.cat([chunk[key] for chunk in chunks]) for key in chunks[0]}

    def evaluate(self, model: RSSM, data_config: MovingDotConfig) -> OpenLoopReport:
        """Score ``model`` against the baselines on this protocol's sequences."""
        return evaluate_open_loop(model, self.world(data_config), K=self.K, num_sequences=self.sequences, seed=self.seed)


VALIDATION = EvalProtocol("validation", sequences=64, seed=1_000_003)
"""Checked after every training epoch; ``TrainConfig.K`` and ``val_sequences`` replace K and sequences."""
QUALITY = EvalProtocol("quality", sequences=1024, seed=20_261_125)
"""The shipped checkpoint's figure (``benchmarks/check_pretrained.py``, ``tests/test_pretrained.py``)."""
BENCHMARK = EvalProtocol("benchmark", sequences=256, seed=987_654)
"""Learning curves and recipes (``benchmarks/learning_curve.py``, the report ``rssm-train`` prints)."""
PROTOCOLS = {protocol.name: protocol for protocol in (VALIDATION, QUALITY, BENCHMARK)}


@torch.no_grad()
def evaluate_open_loop(
    model: RSSM,
    data_config: MovingDotConfig,
    K: int = 8,
    num_sequences: int = BENCHMARK.sequences,
    seed: int = BENCHMARK.seed,
    batch_size: int = 64,
) -> OpenLoopReport:
    """Condition on K frames, roll the prior mean forward, and compare with the truth and the baselines.

    Sequences are freshly generated from ``seed`` (held out from training, which uses other seeds).
    The horizon runs to the end of each sequence: T - K frames. :meth:`EvalProtocol.evaluate` calls
    this with a named protocol's settings; the defaults are :data:`BENCHMARK`'s.
    """
    if not 1 <= K < data_config.seq_len:
        raise ValueError(f"K={K}: must be in [1, seq_len-1={data_config.seq_len - 1}]")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    pos_errs, sq_errs, visibles = {}, {}, []
    for batch in held_out_batches(data_config, num_sequences, seed, batch_size):
        obs, actions = batch["obs"], batch["actions"]
        pred = model.open_loop_rollout(
            obs[:, :K].to(device), actions[:, :K].to(device), actions[:, K:].to(device), K
        ).cpu()
        predictions = {"model": pred, **baseline_predictions(batch, K, data_config)}
        background = background_frames(batch["occluder_mask"], data_config)
        true_pos = batch["states"][:, K:, :2]
        truth = obs[:, K:]
        visibles.append(batch["visible"][:, K:])
        for name, frames in predictions.items():
            err = (estimate_dot_position(frames, background) - true_pos).norm(dim=-1)  # (n, T-K) pixels
            pos_errs.setdefault(name, []).append(err)
            sq_errs.setdefault(name, []).append(((frames - truth) ** 2).flatten(2).mean(-1))  # (n, T-K)
    visible = torch.cat(visibles)
    report = OpenLoopReport(K=K, horizons=np.arange(1, data_config.seq_len - K + 1))
    for name, errors in pos_errs.items():
        pos, sq = torch.cat(errors), torch.cat(sq_errs[name])
        report.pos_err_visible[name], report.count_visible = _masked_mean(pos, visible)
        report.mse_visible[name], _ = _masked_mean(sq, visible)
        report.mse_occluded[name], report.count_occluded = _masked_mean(sq, ~visible)
    model.train(was_training)
    return report


def dot_at(frames: torch.Tensor, background: torch.Tensor, horizon: int) -> torch.Tensor:
    """The dot's (x, y) read off the predicted frame at ``horizon``: frames (B, N, 1, S, S) -> (B, 2)."""
    return estimate_dot_position(frames[:, horizon - 1 : horizon], background)[:, 0]


@torch.no_grad()
def error_breakdown(
    model: RSSM, data_config: MovingDotConfig, protocol: EvalProtocol = QUALITY, horizon: int = 10
) -> dict[str, Any]:
    """Where the open-loop error at ``horizon`` comes from: split by where the dot was hidden.

    On the protocol's sequences (frames where the dot is visible at ``horizon``), three groups that
    partition the scored frames: the dot was visible in every context frame and every frame up to
    ``horizon``; visible in the context but hidden somewhere in the rollout; hidden in at least one
    context frame (the rollout starts from a belief, not a sighting). Also counts predictions with
    no clear dot (peak less than 0.45 above the background). Returns
    ``{"h10_px": {group: {"n", "mean", "share_of_total"}}, "h20_px": float, "no_clear_dot": {...}}``
    (the keys name horizons 10 and 20 for the default ``horizon``).
    """
    batch = protocol.batch(data_config)
    K, visible = protocol.K, batch["visible"]
    obs, actions = batch["obs"], batch["actions"]
    device = next(model.parameters()).device
    pred = model.open_loop_rollout(obs[:, :K].to(device), actions[:, :K].to(device), actions[:, K:].to(device), K).cpu()
    background = background_frames(batch["occluder_mask"], protocol.world(data_config))  # (B, 1, S, S)

    def error_at(h: int) -> torch.Tensor:  # (B,) pixels
        return (dot_at(pred, background, h) - batch["states"][:, K + h - 1, :2]).norm(dim=-1)

    error = error_at(horizon)
    scored = visible[:, K + horizon - 1]
    seen_context = visible[:, :K].all(1)
    seen_rollout = visible[:, K : K + horizon].all(1)
    groups = {
        "all": scored,
        "visible throughout": scored & seen_context & seen_rollout,
        "hidden during the rollout only": scored & seen_context & ~seen_rollout,
        "hidden in the context": scored & ~seen_context,
    }
    peak = (pred[:, horizon - 1, 0] - background[:, 0]).flatten(1).amax(-1)  # (B,)
    no_clear_dot = scored & (peak < 0.45)
    later = 2 * horizon
    return {
        f"h{horizon}_px": {name: {"n": int(mask.sum()), "mean": round(error[mask].mean().item(), 2),
                                  "share_of_total": round((error[mask].sum() / error[scored].sum()).item(), 2)}
                           for name, mask in groups.items()},
        f"h{later}_px": round(error_at(later)[visible[:, K + later - 1]].mean().item(), 2) if later <= protocol.horizon else None,
        "no_clear_dot": {"n": int(no_clear_dot.sum()), "mean_px": round(error[no_clear_dot].mean().item(), 2)},
    }


@torch.no_grad()
def collect_latents(model: RSSM, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter sequences with the posterior mean and return (h (B, T, deter), z (B, T, stoch))."""
    device = next(model.parameters()).device
    out = model.observe(obs.to(device), actions.to(device), sample=False)
    return out.h.cpu(), out.z.cpu()


def fit_linear_probe(features: torch.Tensor, targets: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """Ridge regression from features (N, F) to targets (N, D). Returns weights (F + 1, D), bias last."""
    X = torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64)], 1)
    A = X.T @ X + ridge * len(X) * torch.eye(X.shape[1], dtype=torch.float64)
    return torch.linalg.solve(A, X.T @ targets.double())


def probe_r2(weights: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """R^2 of a linear probe on held-out (features, targets), one value per target dimension."""
    X = torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64)], 1)
    residual = ((targets.double() - X @ weights) ** 2).sum(0)
    total = ((targets.double() - targets.double().mean(0)) ** 2).sum(0)
    return (1 - residual / total).numpy()


def linear_probe_r2(
    train_features: torch.Tensor, train_targets: torch.Tensor, test_features: torch.Tensor, test_targets: torch.Tensor
) -> np.ndarray:
    """Fit a probe on the train split and report R^2 per target on the test split.

    Use it with features = concat(h, z) and targets = states (x, y, vx, vy): an R^2 near 1 says the
    model's state holds that quantity linearly.
    """
    return probe_r2(fit_linear_probe(train_features, train_targets), test_features, test_targets)


def fit_mlp_probe(
    features: torch.Tensor, targets: torch.Tensor, hidden: int = 64, steps: int = 300, lr: float = 3e-3, seed: int = 0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A nonlinear probe: an MLP (two hidden layers of ``hidden`` SiLU units) fitted to standardised targets.

    features (N, F), targets (N, D); full-batch Adam for ``steps`` steps on the mean squared error, from
    weights drawn after ``torch.manual_seed(seed)``. Returns ``read(features (..., F)) -> (..., D)`` in the
    targets' units, without gradients. Chapter 6 reads the dot's position off states with it (in pixels)
    where a linear probe is too blunt: near the walls the state codes the position nonlinearly.
    """
    torch.manual_seed(seed)
    centre, scale = targets.mean(0), targets.std(0)
    mlp = nn.Sequential(nn.Linear(features.shape[-1], hidden), nn.SiLU(),
                        nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, targets.shape[-1]))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = ((mlp(features) - (targets - centre) / scale) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def read(x: torch.Tensor) -> torch.Tensor:
        return mlp(x.float()) * scale + centre

    return read


@torch.no_grad()
def sample_beliefs(
    model: RSSM, obs: torch.Tensor, actions: torch.Tensor, num_samples: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Filter each sequence ``num_samples`` times, drawing z_t from the posterior at every step.

    obs (B, T, C, H, W), actions (B, T, action_dim), a model with a Gaussian latent. Returns (S, B, T, D)
    tensors: ``h``, ``z``, and the prior's and the posterior's ``prior_mean``, ``prior_std``,
    ``post_mean``, ``post_std``; sample s of sequence b is one trajectory of states the model finds
    plausible. Seeds torch's global generator with ``seed``; with one sample it is
    ``model.observe(obs, actions, sample=True)`` after ``torch.manual_seed(seed)``. Chapter 6 writes
    this loop out (predict with ``prior_step``, correct with ``posterior``); chapter 7 uses it.
    """
    torch.manual_seed(seed)
    S, (B, T) = num_samples, obs.shape[:2]
    embeds = model.encode(obs).repeat(S, 1, 1)  # (S*B, T, E)
    prev_actions = shift_actions(actions).repeat(S, 1, 1)  # a_{t-1} at t
    state, steps = model.initial_state(S * B), []
    for t in range(T):
        h, prior = model.prior_step(state, prev_actions[:, t])  # predict
        post = model.posterior(h, embeds[:, t])  # correct: q(z_t | h_t, e_t)
        state = RSSMState(h, post.sample())
        steps.append(dict(h=h, z=state.z, prior_mean=prior.mean, prior_std=prior.std,
                          post_mean=post.mean, post_std=post.std))
    return {key: torch.stack([step[key] for step in steps], 1).view(S, B, T, -1) for key in steps[0]}
