"""The moving-dot world: a Gaussian dot on an H x W grid, steered by velocity-control actions.

Chapter 1 of the book (``book/01_moving_dot_data.ipynb``) explains this world.

Time convention (the one rule everything else in the package follows)::

    actions[:, t] is chosen after frame t is seen and takes frame t to frame t+1.

So ``states[:, t+1]`` is ``states[:, t]`` moved by ``actions[:, t]``; the last action of a sequence
(``actions[:, T-1]``) moves the dot past the end of the sequence and is never seen to act. The model
uses ``actions[:, t-1]`` to predict frame t (see :mod:`rssm.model`).

Dynamics, for each step t -> t+1 (all in pixels; x is the column, y the row)::

    v[t+1] = clip(v[t] + action_scale * a[t] + k[t], -max_speed, max_speed)
    p[t+1] = p[t] + v[t+1], reflected off the walls (and v flips sign on a bounce)

k[t] is a **kick**, zero unless the world is a fork world (``kick_probability > 0``): then, with
that chance at every step, the dot is kicked up, down, left or right (one of the four, equally
likely) by ``kick_speed`` px/frame. Given the actions, the default world's future is fixed; a fork
world's future splits into distinct modes (no kick, or one of four kicks, at any step). Chapters 7
and 10 use it to compare models on futures that genuinely fork.

Occluders are static gray rectangles drawn *over* the dot: when the dot passes behind one it
disappears, which makes the world partially observable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol

import torch
from torch.utils.data import Dataset

from rssm.config import Bounds, at_least, between, check_fields, field_error, non_negative, positive


@dataclass(frozen=True)
class MovingDotConfig:
    """Everything that defines the moving-dot world. Units are pixels and frames."""

    grid_size: int = 32  # frames are grid_size x grid_size pixels
    seq_len: int = 64  # frames per sequence (T)
    use_occlusion: bool = True  # draw occluder rectangles over the dot
    dot_sigma: float = 1.2  # the dot is a Gaussian blob with this std (pixels); peak intensity 1
    max_speed: float = 2.0  # each velocity component is clipped to [-max_speed, max_speed] px/frame
    action_scale: float = 0.5  # velocity change (px/frame) caused by an action component of 1
    num_occluders: int = 2  # occluder rectangles per sequence (when use_occlusion)
    occluder_min_size: int = 5  # occluder side lengths are drawn uniformly from [min, max] pixels
    occluder_max_size: int = 10  # the largest occluder side, in pixels (at most grid_size)
    occluder_intensity: float = 0.35  # gray level of the occluders (the dot's peak is 1.0)
    kick_probability: float = 0.0  # chance per step of a kick up, down, left or right (0: no kicks, the future is fixed)
    kick_speed: float = 1.0  # a kick's velocity change, px/frame, before the max_speed clip (used when kicks happen)

    bounds: ClassVar[dict[str, Bounds]] = {  # each field's type is checked too (rssm.config)
        "grid_size": between(8, 256), "seq_len": at_least(2, "a sequence needs a step"), "dot_sigma": positive,
        "max_speed": positive, "action_scale": non_negative, "num_occluders": non_negative,
        "occluder_min_size": positive, "occluder_intensity": between(0, 1, "[)"),
        "kick_probability": between(0, 1), "kick_speed": positive,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if self.dot_sigma > self.grid_size / 8:
            raise field_error(self, "dot_sigma", f"must be in (0, grid_size/8 = {self.grid_size / 8}]")
        if not self.occluder_min_size <= self.occluder_max_size <= self.grid_size:
            raise field_error(self, "occluder_max_size",
                              f"must be in [occluder_min_size={self.occluder_min_size}, grid_size={self.grid_size}]")

    @property
    def wall_low(self) -> float:
        """Smallest coordinate the dot's centre reaches: it bounces one sigma inside the frame."""
        return float(self.dot_sigma)

    @property
    def wall_high(self) -> float:
        """Largest coordinate the dot's centre reaches."""
        return float(self.grid_size - 1 - self.dot_sigma)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MovingDotConfig:
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"MovingDotConfig: unknown fields {sorted(unknown)}")
        return cls(**values)


def reflect(position: torch.Tensor, velocity: torch.Tensor, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror positions that crossed a wall back inside [low, high] and flip their velocity.

    One reflection per step is enough because a step (<= max_speed) is shorter than the arena.
    """
    below = position < low
    above = position > high
    position = torch.where(below, 2 * low - position, position)
    position = torch.where(above, 2 * high - position, position)
    velocity = torch.where(below | above, -velocity, velocity)
    return position, velocity


def render_dots(positions: torch.Tensor, config: MovingDotConfig) -> torch.Tensor:
    """Draw one Gaussian dot per position.

    positions: (..., 2) as (x, y) in pixels. Returns (..., 1, H, W) float32 in [0, 1].
    """
    size = config.grid_size
    coords = torch.arange(size, dtype=torch.float32)
    x = positions[..., 0, None, None].float()  # (..., 1, 1)
    y = positions[..., 1, None, None].float()
    dist2 = (coords.view(1, size) - x) ** 2 + (coords.view(size, 1) - y) ** 2  # (..., H, W)
    return torch.exp(-dist2 / (2 * config.dot_sigma**2)).unsqueeze(-3)


def draw_occluders(frames: torch.Tensor, occluder_mask: torch.Tensor, config: MovingDotConfig) -> torch.Tensor:
    """Paint the occluders over frames. frames: (B, T, 1, H, W); occluder_mask: (B, 1, H, W) bool."""
    mask = occluder_mask.unsqueeze(1)  # (B, 1, 1, H, W)
    return torch.where(mask, torch.full_like(frames, config.occluder_intensity), frames)


def dot_is_visible(positions: torch.Tensor, occluder_mask: torch.Tensor) -> torch.Tensor:
    """True where the pixel holding the dot's centre is not covered by an occluder.

    positions: (B, T, 2) (x, y) in pixels; occluder_mask: (B, 1, H, W) bool. Returns (B, T) bool.
    """
    B, T, _ = positions.shape
    size = occluder_mask.shape[-1]
    col = positions[..., 0].round().long().clamp(0, size - 1)  # (B, T)
    row = positions[..., 1].round().long().clamp(0, size - 1)
    batch = torch.arange(B).view(B, 1).expand(B, T)
    return ~occluder_mask[batch, 0, row, col]


def hidden_stretches(
    visible: torch.Tensor, before: int = 0, after: int = 0, min_length: int = 1
) -> list[tuple[int, int, int]]:
    """Every run of consecutive hidden frames: (sequence, first hidden frame, next visible frame).

    visible: (B, T) bool, a batch's ``visible``. Keeps the runs of at least ``min_length`` frames that
    have ``before`` visible frames just before them and ``after`` visible frames just after them (a run
    that starts at frame 0, or reaches the last frame, is kept only when ``before``, or ``after``, is 0).
    In order of sequence, then frame. Chapter 6 counts them; chapter 7 lines sampled beliefs up on them.
    """
    stretches = []
    for b, row in enumerate(visible.tolist()):
        t = 0
        while t < len(row):
            if row[t]:
                t += 1
                continue
            end = t
            while end < len(row) and not row[end]:
                end += 1
            if (end - t >= min_length and t >= before and all(row[t - before : t])
                    and end + after <= len(row) and all(row[end : end + after])):
                stretches.append((b, t, end))
            t = end
    return stretches


def _random_occluders(config: MovingDotConfig, batch_size: int, gen: torch.Generator) -> torch.Tensor:
    """(B, 1, H, W) bool: the union of num_occluders random axis-aligned rectangles per sequence."""
    size = config.grid_size
    mask = torch.zeros(batch_size, 1, size, size, dtype=torch.bool)
    if not config.use_occlusion or config.num_occluders == 0:
        return mask
    idx = torch.arange(size)
    span = config.occluder_max_size - config.occluder_min_size + 1
    for _ in range(config.num_occluders):
        w = config.occluder_min_size + torch.randint(span, (batch_size,), generator=gen)
        h = config.occluder_min_size + torch.randint(span, (batch_size,), generator=gen)
        x0 = (torch.rand(batch_size, generator=gen) * (size - w + 1)).long()
        y0 = (torch.rand(batch_size, generator=gen) * (size - h + 1)).long()
        cols = (idx >= x0[:, None]) & (idx < (x0 + w)[:, None])  # (B, W)
        rows = (idx >= y0[:, None]) & (idx < (y0 + h)[:, None])  # (B, H)
        mask |= (rows[:, :, None] & cols[:, None, :]).unsqueeze(1)
    return mask


KICK_DIRECTIONS = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # right, left, down, up (y is the row)


def draw_kicks(config: MovingDotConfig, batch_size: int, steps: int, gen: torch.Generator) -> torch.Tensor:
    """The kicks of ``batch_size`` sequences of ``steps`` steps: (B, steps, 2) velocity changes in px/frame.

    Each step, with chance ``config.kick_probability``, one of the four :data:`KICK_DIRECTIONS` (equally
    likely) times ``config.kick_speed``; else zero. Draws from ``gen`` (``torch.rand`` for whether, then
    ``torch.randint`` for where), and draws nothing when kicks are off: an old seed gives old data.
    """
    kicks = torch.zeros(batch_size, steps, 2)
    if config.kick_probability == 0:
        return kicks
    happens = torch.rand(batch_size, steps, generator=gen) < config.kick_probability  # (B, steps)
    direction = KICK_DIRECTIONS[torch.randint(4, (batch_size, steps), generator=gen)]  # (B, steps, 2)
    return torch.where(happens[..., None], config.kick_speed * direction, kicks)


def simulate_states(
    initial_state: torch.Tensor, actions: torch.Tensor, config: MovingDotConfig, kicks: torch.Tensor | None = None
) -> torch.Tensor:
    """Run the dynamics. initial_state: (B, 4) = (x, y, vx, vy) of frame 0; actions: (B, T, 2).

    ``kicks`` (B, T, 2), from :func:`draw_kicks`, act with the actions: ``kicks[:, t]`` is added to the
    velocity as ``actions[:, t]`` moves frame t to t+1 (None: no kicks). Returns states (B, T, 4): frame
    t's state, where ``actions[:, t]`` moved frame t to t+1 (so the last action does not show up in the
    result).
    """
    position, velocity = initial_state[:, :2].float(), initial_state[:, 2:].float()
    B, T = actions.shape[:2]
    states = torch.empty(B, T, 4)
    for t in range(T):
        states[:, t, :2] = position
        states[:, t, 2:] = velocity
        change = config.action_scale * actions[:, t]
        if kicks is not None:
            change = change + kicks[:, t]
        velocity = (velocity + change).clamp(-config.max_speed, config.max_speed)
        position, velocity = reflect(position + velocity, velocity, config.wall_low, config.wall_high)
    return states


def generate_moving_dot_sequences(config: MovingDotConfig, batch_size: int, seed: int | None = None) -> dict[str, torch.Tensor]:
    """Simulate ``batch_size`` sequences at once (vectorised over the batch; the loop is over time).

    Returns a dict of tensors (T = config.seq_len, H = W = config.grid_size):

    - ``obs``: (B, T, 1, H, W) float32 in [0, 1], the frames the model sees;
    - ``actions``: (B, T, 2) float32 in [-1, 1]; ``actions[:, t]`` takes frame t to frame t+1;
    - ``kicks``: (B, T, 2) float32, px/frame, the kicks that acted with ``actions[:, t]`` (all zero
      unless ``config.kick_probability > 0``; :func:`draw_kicks`);
    - ``states``: (B, T, 4) float32, (x, y, vx, vy) in pixels: the dot's centre in frame t (x the
      column, y the row) and the velocity that brought it there;
    - ``visible``: (B, T) bool, False where an occluder hides the dot's centre;
    - ``occluder_mask``: (B, 1, H, W) bool, where the occluders are (all False without occlusion).

    The same ``seed`` gives the identical batch; ``seed=None`` draws a fresh one. The kicks are drawn
    last, and only in a fork world, so a world without kicks gives the batch it gave before kicks existed.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: must be a positive int")
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    B, T = batch_size, config.seq_len
    low, high = config.wall_low, config.wall_high

    position = low + torch.rand(B, 2, generator=gen) * (high - low)
    velocity = (2 * torch.rand(B, 2, generator=gen) - 1) * config.max_speed
    actions = 2 * torch.rand(B, T, 2, generator=gen) - 1
    occluder_mask = _random_occluders(config, B, gen)
    kicks = draw_kicks(config, B, T, gen)  # (B, T, 2), zeros without kicks (and nothing drawn)

    fork = kicks if config.kick_probability > 0 else None  # without kicks, the very same arithmetic as before
    states = simulate_states(torch.cat([position, velocity], -1), actions, config, fork)
    obs = draw_occluders(render_dots(states[..., :2], config), occluder_mask, config)  # (B, T, 1, H, W)
    return {
        "obs": obs,
        "actions": actions,
        "kicks": kicks,
        "states": states,
        "visible": dot_is_visible(states[..., :2], occluder_mask),
        "occluder_mask": occluder_mask,
    }


def redraw_futures(batch: dict[str, torch.Tensor], config: MovingDotConfig, K: int, samples: int,
                   seed: int = 0) -> torch.Tensor:
    """The world's own futures after frame K-1: ``samples`` re-runs with the batch's actions and fresh kicks.

    batch: a :func:`generate_moving_dot_sequences` batch of ``config``'s world. Each re-run starts from
    the true state of frame K-1 and applies ``actions[:, K-1:]`` with kicks drawn anew (seeded by
    ``seed``). Returns states (samples, B, T-K, 4) of frames K..T-1: the distribution a model's sampled
    futures from a context of K frames should match. Without kicks, every re-run is the batch's own.
    Chapters 7 and 10 score sampled futures against it.
    """
    if not 1 <= K < batch["actions"].shape[1]:
        raise ValueError(f"K={K!r}: must be in [1, T-1] for sequences of T={batch['actions'].shape[1]} frames")
    gen = torch.Generator().manual_seed(int(seed))
    B, T = batch["actions"].shape[:2]
    actions = batch["actions"][:, K - 1 :].repeat(samples, 1, 1)  # a_{K-1} .. a_{T-1}, (samples * B, T-K+1, 2)
    kicks = draw_kicks(config, samples * B, T - K + 1, gen)
    start = batch["states"][:, K - 1].repeat(samples, 1)  # (samples * B, 4)
    states = simulate_states(start, actions, config, kicks)[:, 1:]  # frames K..T-1
    return states.view(samples, B, T - K, 4)


class MovingDotDataset(Dataset):
    """A fixed set of ``num_sequences`` moving-dot sequences, generated once from ``seed``.

    Items are dicts with the per-sequence slices of :func:`generate_moving_dot_sequences`
    (``obs`` (T, 1, H, W), ``actions`` (T, 2), ``kicks`` (T, 2), ``states`` (T, 4), ``visible`` (T,),
    ``occluder_mask`` (1, H, W)); :func:`collate_moving_dot` stacks them back into a batch.
    """

    def __init__(self, config: MovingDotConfig, num_sequences: int, seed: int = 0) -> None:
        if isinstance(num_sequences, bool) or not isinstance(num_sequences, int) or num_sequences < 1:
            raise ValueError(f"num_sequences={num_sequences!r}: must be a positive int")
        self.config = config
        self.data = generate_moving_dot_sequences(config, num_sequences, seed)

    def __len__(self) -> int:
        return self.data["obs"].shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[index] for key, value in self.data.items()}


def collate_moving_dot(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack dataset items into a batch with the same keys and a leading batch dimension."""
    if not items:
        raise ValueError("collate_moving_dot: got an empty list of items")
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


# ----- the world one step at a time, and worlds fixed in advance -----------------------------------
# A planner acts one frame at a time (chapter 11); the Play page and its tests replay a world whose
# start, occluders and actions are written down (``rssm.export``). Both use the dynamics and the
# renderer above, so there is one definition of the world.



def _refuse_kicks(world: MovingDotConfig, who: str) -> None:
    """Raise where a fork world would otherwise be run without its kicks."""
    if world.kick_probability > 0:
        raise ValueError(f"{who} does not simulate kicks: MovingDotConfig.kick_probability="
                         f"{world.kick_probability!r} must be 0 here")


class EpisodeStart(Protocol):
    """Where an episode starts: what :class:`MovingDotEnv` needs (``rssm.planning.EpisodeSpec`` is one)."""

    start_state: torch.Tensor  # (4,) (x, y, vx, vy) of frame 0, pixels and pixels/frame
    occluder_mask: torch.Tensor  # (1, H, W) bool


class MovingDotEnv:
    """A step-by-step moving-dot world, built from this module's own dynamics and renderer.

    ``reset()`` returns frame 0; ``step(action)`` applies one action in [-1, 1]^2 (clipped there) and
    returns the next frame. Frames are (1, H, W) float32, as one time step of a generated batch. The
    world starts where ``spec`` says (any :class:`EpisodeStart`). It has no kicks: a fork world raises.
    """

    def __init__(self, world: MovingDotConfig, spec: EpisodeStart) -> None:
        _refuse_kicks(world, "MovingDotEnv")
        self.world = world
        self.spec = spec
        self.reset()

    def reset(self) -> torch.Tensor:
        """Back to the start state; returns frame 0 (1, H, W)."""
        self.state = self.spec.start_state.clone().float()  # (4,) x, y, vx, vy
        self.t = 0
        return self.render()

    @property
    def position(self) -> torch.Tensor:
        """The dot's centre (x, y) in pixels, (2,)."""
        return self.state[:2].clone()

    def render(self) -> torch.Tensor:
        """The current frame: the dot, then the occluders over it. (1, H, W)."""
        dot = render_dots(self.state[:2].view(1, 1, 2), self.world)  # (1, 1, 1, H, W)
        return draw_occluders(dot, self.spec.occluder_mask.unsqueeze(0), self.world)[0, 0]

    def step(self, action: torch.Tensor) -> torch.Tensor:
        """Apply ``action`` (2,) (clipped to [-1, 1]) for one frame; returns the new frame (1, H, W)."""
        self.state = next_states(self.state.unsqueeze(0), action.reshape(1, 1, 2), self.world)[0, 0]
        self.t += 1
        return self.render()


def next_states(states: torch.Tensor, actions: torch.Tensor, world: MovingDotConfig) -> torch.Tensor:
    """The states after each action, by :func:`simulate_states` (the world's own physics).

    states: (N, 4) now; actions: (N, H, 2), clipped to [-1, 1]. Returns (N, H, 4): the state after
    actions 0..k at index k (``simulate_states`` returns the state *before* each action, so one idle
    action is appended and the first state dropped).
    """
    actions = actions.clamp(-1, 1)
    padded = torch.cat([actions, torch.zeros_like(actions[:, :1])], 1)  # (N, H+1, 2)
    return simulate_states(states, padded, world)[:, 1:]


@dataclass(frozen=True)
class ScriptedSequence:
    """A world fixed in advance: where the dot starts, where the occluders are, and every action.

    initial_state: (x, y, vx, vy) of frame 0 in pixels; occluders: (x0, y0, width, height) rectangles
    (x the column, y the row); actions: (T, 2) in [-1, 1], ``actions[t]`` takes frame t to frame t+1.
    """

    initial_state: tuple[float, float, float, float]
    occluders: tuple[tuple[int, int, int, int], ...]
    actions: torch.Tensor  # (T, 2)


def occluder_mask(occluders: tuple[tuple[int, int, int, int], ...], config: MovingDotConfig) -> torch.Tensor:
    """(1, H, W) bool: the union of (x0, y0, width, height) rectangles, clipped to the grid."""
    size = config.grid_size
    mask = torch.zeros(1, size, size, dtype=torch.bool)
    for rect in occluders:
        if len(rect) != 4 or any(isinstance(v, bool) or not isinstance(v, int) for v in rect):
            raise ValueError(f"occluder {rect!r}: must be four ints (x0, y0, width, height)")
        x0, y0, w, h = rect
        if w < 1 or h < 1:
            raise ValueError(f"occluder {rect!r}: width and height must be at least 1")
        mask[0, max(y0, 0) : max(y0 + h, 0), max(x0, 0) : max(x0 + w, 0)] = True
    return mask


def play_sequence(sequence: ScriptedSequence, config: MovingDotConfig) -> dict[str, torch.Tensor]:
    """Run the package's world on a scripted sequence: states (T, 4) and frames (T, 1, H, W).

    A scripted sequence fixes every action and has no kicks, so a fork world raises.
    """
    _refuse_kicks(config, "play_sequence")
    initial = torch.tensor([sequence.initial_state], dtype=torch.float32)  # (1, 4)
    states = simulate_states(initial, sequence.actions[None].float(), config)  # (1, T, 4)
    mask = occluder_mask(sequence.occluders, config)[None]  # (1, 1, H, W)
    frames = render_dots(states[..., :2], config)  # (1, T, 1, H, W)
    if config.use_occlusion:
        frames = draw_occluders(frames, mask, config)
    return {"states": states[0], "obs": frames[0]}
