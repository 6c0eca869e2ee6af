"""The moving-dot world: shapes, dynamics, the action convention, occlusion, determinism."""

import pytest
import torch
from torch.utils.data import DataLoader

from rssm.dataset import (
    MovingDotConfig,
    MovingDotDataset,
    collate_moving_dot,
    generate_moving_dot_sequences,
    hidden_stretches,
    simulate_states,
)
from rssm.evaluate import estimate_dot_position


def test_batch_has_the_documented_shapes_and_types():
    config = MovingDotConfig()
    data = generate_moving_dot_sequences(config, 5, seed=1)
    assert data["obs"].shape == (5, 64, 1, 32, 32) and data["obs"].dtype == torch.float32
    assert data["actions"].shape == (5, 64, 2)
    assert data["states"].shape == (5, 64, 4)
    assert data["visible"].shape == (5, 64) and data["visible"].dtype == torch.bool
    assert data["obs"].min() >= 0 and data["obs"].max() <= 1


def test_same_seed_gives_the_identical_batch_and_another_seed_does_not():
    config = MovingDotConfig()
    a, b = generate_moving_dot_sequences(config, 4, seed=7), generate_moving_dot_sequences(config, 4, seed=7)
    c = generate_moving_dot_sequences(config, 4, seed=8)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["obs"], c["obs"])


def test_the_dot_is_drawn_where_the_states_say():
    config = MovingDotConfig(use_occlusion=False)
    data = generate_moving_dot_sequences(config, 8, seed=2)
    estimate = estimate_dot_position(data["obs"])  # (B, T, 2)
    assert (estimate - data["states"][..., :2]).norm(dim=-1).max() < 0.25
    # x is the column: the brightest pixel sits in column round(x), row round(y)
    frame, state = data["obs"][0, 0, 0], data["states"][0, 0]
    row, col = divmod(int(frame.argmax()), config.grid_size)
    assert (col, row) == (int(state[0].round()), int(state[1].round()))


def test_action_t_takes_frame_t_to_frame_t_plus_1():
    config = MovingDotConfig(use_occlusion=False)
    data = generate_moving_dot_sequences(config, 16, seed=3)
    states, actions = data["states"], data["actions"]
    low, high = config.wall_low, config.wall_high
    expected_v = (states[:, :-1, 2:] + config.action_scale * actions[:, :-1]).clamp(-config.max_speed, config.max_speed)
    moved = states[:, :-1, :2] + expected_v
    no_bounce = (moved > low).all(-1) & (moved < high).all(-1)  # (B, T-1)
    assert no_bounce.float().mean() > 0.5
    assert torch.allclose(states[:, 1:, :2][no_bounce], moved[no_bounce], atol=1e-5)
    assert torch.allclose(states[:, 1:, 2:][no_bounce], expected_v[no_bounce], atol=1e-5)


def test_changing_action_t_changes_frames_after_t_and_none_before():
    config = MovingDotConfig(use_occlusion=False)
    data = generate_moving_dot_sequences(config, 4, seed=4)
    actions = data["actions"].clone()
    t = 10
    actions[:, t] = -actions[:, t]
    states = simulate_states(data["states"][:, 0], actions, config)
    assert torch.equal(states, simulate_states(data["states"][:, 0], data["actions"], config)) is False
    assert torch.allclose(states[:, : t + 1], data["states"][:, : t + 1])
    assert (states[:, t + 1] - data["states"][:, t + 1]).abs().amax(-1).min() > 1e-3


def test_simulate_states_reproduces_the_generator():
    config = MovingDotConfig()
    data = generate_moving_dot_sequences(config, 4, seed=9)
    assert torch.allclose(simulate_states(data["states"][:, 0], data["actions"], config), data["states"])


def test_the_dot_bounces_off_the_walls_and_stays_inside():
    config = MovingDotConfig(use_occlusion=False, max_speed=2.0)
    data = generate_moving_dot_sequences(config, 64, seed=5)
    xy, v = data["states"][..., :2], data["states"][..., 2:]
    assert xy.min() >= config.wall_low - 1e-5 and xy.max() <= config.wall_high + 1e-5
    flips = (torch.sign(v[:, 1:]) == -torch.sign(v[:, :-1])) & (v[:, :-1].abs() > config.action_scale)
    assert flips.any(), "no bounce happened in 64 sequences of 64 frames"


def test_the_dot_bounces_off_the_right_wall():
    config = MovingDotConfig(use_occlusion=False)
    from rssm.dataset import reflect

    position, velocity = reflect(torch.tensor([[config.wall_high + 0.5, 5.0]]), torch.tensor([[1.5, 0.0]]), config.wall_low, config.wall_high)
    assert position[0, 0] == pytest.approx(config.wall_high - 0.5)
    assert velocity[0, 0] == pytest.approx(-1.5)


def test_occluders_hide_the_dot_and_visible_says_so():
    config = MovingDotConfig(use_occlusion=True, num_occluders=3, occluder_min_size=8, occluder_max_size=12)
    data = generate_moving_dot_sequences(config, 32, seed=6)
    hidden = ~data["visible"]
    assert hidden.any() and data["visible"].any()
    b, t = hidden.nonzero()[0].tolist()
    x, y = data["states"][b, t, :2].round().long().tolist()
    assert data["obs"][b, t, 0, y, x] == pytest.approx(config.occluder_intensity)
    b, t = data["visible"].nonzero()[0].tolist()
    x, y = data["states"][b, t, :2].round().long().tolist()
    assert data["obs"][b, t, 0, y, x] > 0.5


def test_without_occlusion_the_dot_is_always_visible():
    data = generate_moving_dot_sequences(MovingDotConfig(use_occlusion=False), 8, seed=0)
    assert data["visible"].all()
    assert not data["occluder_mask"].any()


def test_hidden_stretches_finds_each_run_of_hidden_frames_with_its_visible_margins():
    visible = torch.tensor([[1, 1, 0, 0, 1, 1, 0],
                            [0, 1, 1, 1, 0, 0, 0]], dtype=torch.bool)  # (B, T)
    # (sequence, first hidden frame, next visible frame); a run to the end stops at T
    assert hidden_stretches(visible) == [(0, 2, 4), (0, 6, 7), (1, 0, 1), (1, 4, 7)]
    assert hidden_stretches(visible, before=2) == [(0, 2, 4), (0, 6, 7), (1, 4, 7)]
    assert hidden_stretches(visible, after=1) == [(0, 2, 4), (1, 0, 1)]
    assert hidden_stretches(visible, before=2, after=2) == [(0, 2, 4)]
    assert hidden_stretches(visible, min_length=3) == [(1, 4, 7)]
    assert hidden_stretches(torch.ones(2, 5, dtype=torch.bool)) == []


@pytest.mark.parametrize(
    "field, value",
    [("grid_size", 4), ("seq_len", 1), ("dot_sigma", -1.0), ("max_speed", 0.0), ("num_occluders", -1),
     ("occluder_max_size", 100), ("use_occlusion", "yes"), ("grid_size", 32.0)],
)
def test_bad_config_values_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        MovingDotConfig(**{field: value})


def test_bad_batch_size_raises():
    with pytest.raises(ValueError, match="batch_size=0"):
        generate_moving_dot_sequences(MovingDotConfig(), 0)


def test_dataset_and_collate_work_with_a_dataloader():
    config = MovingDotConfig(seq_len=8)
    dataset = MovingDotDataset(config, 10, seed=0)
    assert len(dataset) == 10
    batch = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_moving_dot)))
    assert batch["obs"].shape == (4, 8, 1, 32, 32)
    assert torch.equal(batch["states"][1], dataset[1]["states"])
