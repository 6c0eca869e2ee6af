"""The moving-dot world: a Gaussian dot on an H x W grid, steered by velocity-control actions.

Chapter 1 of the book (``book/01_moving_dot_data.ipynb``) explains this world.

Time convention (the one rule everything else in the package follows)::

    actions[:, t] is chosen after frame t is seen and takes frame t to frame t+1.

So ``states[:, t+1]`` is ``states[:, t]`` moved by ``actions[:, t]``; the last action of a sequence
(``actions[:, T-1]``) moves the dot past the end of the sequence and is never seen to act. The model
uses ``actions[:, t-1]`` to predict frame t (see :mod:`rssm.model`).

Dynamics, for each step t -> t+1 (all in pixels; x is the column, y the row)::

    v[t+1] = clip(v[t] + action_scale * a[t], -max_speed, max_speed)
    p[t+1] = p[t] + v[t+1], reflected off the walls (and v flips sign on a bounce)

Occluders are static gray rectangles drawn *over* the dot: when the dot passes behind one it
disappears, which makes the world partially observable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.data import Dataset


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
    occluder_max_size: int = 10
    occluder_intensity: float = 0.35  # gray level of the occluders (the dot's peak is 1.0)

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"MovingDotConfig.{name}={getattr(self, name)!r}: {why}")

        for name in ("grid_size", "seq_len", "num_occluders", "occluder_min_size", "occluder_max_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(name, "must be an int")
        for name in ("dot_sigma", "max_speed", "action_scale", "occluder_intensity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise bad(name, "must be a number")
        if not isinstance(self.use_occlusion, bool):
            raise bad("use_occlusion", "must be True or False")
        if not 8 <= self.grid_size <= 256:
            raise bad("grid_size", "must be between 8 and 256")
        if self.seq_len < 2:
            raise bad("seq_len", "must be at least 2 (a sequence needs a step)")
        if not 0 < self.dot_sigma <= self.grid_size / 8:
            raise bad("dot_sigma", f"must be in (0, grid_size/8 = {self.grid_size / 8}]")
        if self.max_speed <= 0:
            raise bad("max_speed", "must be positive")
        if self.action_scale < 0:
            raise bad("action_scale", "must be non-negative")
        if self.num_occluders < 0:
            raise bad("num_occluders", "must be non-negative")
        if self.occluder_min_size < 1:
            raise bad("occluder_min_size", "must be at least 1")
        if not self.occluder_min_size <= self.occluder_max_size <= self.grid_size:
            raise bad("occluder_max_size", f"must be in [occluder_min_size, grid_size={self.grid_size}]")
        if not 0 <= self.occluder_intensity < 1:
            raise bad("occluder_intensity", "must be in [0, 1)")

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
    def from_dict(cls, values: dict[str, Any]) -> "MovingDotConfig":
        unknown = set(values) - set(cls.__dataclass_fields__)
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


def simulate_states(initial_state: torch.Tensor, actions: torch.Tensor, config: MovingDotConfig) -> torch.Tensor:
    """Run the dynamics. initial_state: (B, 4) = (x, y, vx, vy) of frame 0; actions: (B, T, 2).

    Returns states (B, T, 4): frame t's state, where ``actions[:, t]`` moved frame t to t+1 (so the
    last action does not show up in the result).
    """
    position, velocity = initial_state[:, :2].float(), initial_state[:, 2:].float()
    B, T = actions.shape[:2]
    states = torch.empty(B, T, 4)
    for t in range(T):
        states[:, t, :2] = position
        states[:, t, 2:] = velocity
        velocity = (velocity + config.action_scale * actions[:, t]).clamp(-config.max_speed, config.max_speed)
        position, velocity = reflect(position + velocity, velocity, config.wall_low, config.wall_high)
    return states


def generate_moving_dot_sequences(config: MovingDotConfig, batch_size: int, seed: int | None = None) -> dict[str, torch.Tensor]:
    """Simulate ``batch_size`` sequences at once (vectorised over the batch; the loop is over time).

    Returns a dict of tensors (T = config.seq_len, H = W = config.grid_size):

    - ``obs``: (B, T, 1, H, W) float32 in [0, 1], the frames the model sees;
    - ``actions``: (B, T, 2) float32 in [-1, 1]; ``actions[:, t]`` takes frame t to frame t+1;
    - ``states``: (B, T, 4) float32, (x, y, vx, vy) in pixels: the dot's centre in frame t (x the
      column, y the row) and the velocity that brought it there;
    - ``visible``: (B, T) bool, False where an occluder hides the dot's centre;
    - ``occluder_mask``: (B, 1, H, W) bool, where the occluders are (all False without occlusion).

    The same ``seed`` gives the identical batch; ``seed=None`` draws a fresh one.
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

    states = simulate_states(torch.cat([position, velocity], -1), actions, config)
    obs = draw_occluders(render_dots(states[..., :2], config), occluder_mask, config)  # (B, T, 1, H, W)
    return {
        "obs": obs,
        "actions": actions,
        "states": states,
        "visible": dot_is_visible(states[..., :2], occluder_mask),
        "occluder_mask": occluder_mask,
    }


class MovingDotDataset(Dataset):
    """A fixed set of ``num_sequences`` moving-dot sequences, generated once from ``seed``.

    Items are dicts with the per-sequence slices of :func:`generate_moving_dot_sequences`
    (``obs`` (T, 1, H, W), ``actions`` (T, 2), ``states`` (T, 4), ``visible`` (T,),
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
