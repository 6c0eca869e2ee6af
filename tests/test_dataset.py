"""The moving-dot world: shapes, dynamics, the action convention, occlusion, kicks, determinism."""

import dataclasses
import hashlib

import pytest
import torch
from torch.utils.data import DataLoader

from rssm.dataset import (
    KICK_DIRECTIONS,
    MovingDotConfig,
    MovingDotDataset,
    MovingDotEnv,
    collate_moving_dot,
    draw_kicks,
    draw_occluders,
    generate_moving_dot_sequences,
    hidden_stretches,
    redraw_futures,
    render_dots,
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


# ----- kicks: the fork world (chapters 7 and 10) -------------------------------------------------------

FORK = MovingDotConfig(grid_size=16, seq_len=20, dot_sigma=1.0, use_occlusion=False, kick_probability=0.1)
# The first 16 hex digits of the SHA-256 of actions, states, visible and occluder_mask of 3 sequences,
# computed with the package before kicks existed: a world without kicks must still give exactly these.
BEFORE_KICKS = [
    (MovingDotConfig(), 0, "ac0b1ac1677a984a"),
    (MovingDotConfig(), 12345, "e5709d985ab9a328"),
    (MovingDotConfig(grid_size=16, seq_len=24, dot_sigma=1.0, max_speed=1.0, occluder_min_size=3, occluder_max_size=5),
     7, "6eb492643a8d3bb7"),
]


def digest(data):
    sha = hashlib.sha256()
    for key in ("actions", "states", "visible", "occluder_mask"):
        sha.update(data[key].contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


def test_kicks_are_off_by_default():
    config = MovingDotConfig()
    assert config.kick_probability == 0.0
    data = generate_moving_dot_sequences(config, 8, seed=0)
    assert data["kicks"].shape == (8, 64, 2) and not data["kicks"].any()


@pytest.mark.parametrize("config, seed, expected", BEFORE_KICKS)
def test_a_world_without_kicks_gives_the_sequences_it_gave_before_kicks_existed(config, seed, expected):
    data = generate_moving_dot_sequences(config, 3, seed=seed)
    assert digest(data) == expected
    assert torch.equal(data["obs"], draw_occluders(render_dots(data["states"][..., :2], config),
                                                   data["occluder_mask"], config))


def test_kicks_happen_at_the_configured_rate_in_four_equally_likely_directions():
    data = generate_moving_dot_sequences(FORK, 500, seed=1)  # 10,000 steps
    kicked = data["kicks"].abs().sum(-1) > 0  # (B, T)
    rate, n = kicked.float().mean().item(), kicked.numel()
    assert abs(rate - 0.1) < 4 * (0.1 * 0.9 / n) ** 0.5  # within 4 standard errors
    directions = data["kicks"][kicked] / FORK.kick_speed  # (kicks, 2)
    counts = (directions[:, None] == KICK_DIRECTIONS).all(-1).sum(0)  # (4,) right, left, down, up
    assert counts.sum() == kicked.sum()  # every kick is one of the four
    assert (counts - counts.float().mean()).abs().max() < 4 * (kicked.sum() * 0.25 * 0.75) ** 0.5


def test_a_kick_changes_the_velocity_by_kick_speed():
    config = dataclasses.replace(FORK, kick_speed=0.75, max_speed=2.0)
    start = torch.tensor([[8.0, 8.0, 0.5, 0.0]])  # the middle of the grid, moving right
    actions = torch.zeros(1, 3, 2)
    kicks = torch.zeros(1, 3, 2)
    kicks[0, 0] = config.kick_speed * KICK_DIRECTIONS[3]  # up (y is the row)
    states = simulate_states(start, actions, config, kicks)
    torch.testing.assert_close(states[0, 1, 2:], torch.tensor([0.5, -0.75]))
    torch.testing.assert_close(states[0, 2, 2:], torch.tensor([0.5, -0.75]))  # and it stays
    torch.testing.assert_close(states[0, 1, :2], torch.tensor([8.5, 7.25]))


def test_the_fork_world_runs_its_kicks_and_the_same_seed_gives_the_same_kicks():
    a, b = generate_moving_dot_sequences(FORK, 16, seed=3), generate_moving_dot_sequences(FORK, 16, seed=3)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert a["kicks"].any()
    assert not torch.equal(a["kicks"], generate_moving_dot_sequences(FORK, 16, seed=4)["kicks"])
    # the states are the kicks' and the actions' doing; without the kicks the dot goes elsewhere
    torch.testing.assert_close(simulate_states(a["states"][:, 0], a["actions"], FORK, a["kicks"]), a["states"])
    assert not torch.allclose(simulate_states(a["states"][:, 0], a["actions"], FORK), a["states"])
    # kicks are drawn last: everything drawn before them is the world without kicks
    calm = generate_moving_dot_sequences(dataclasses.replace(FORK, kick_probability=0.0), 16, seed=3)
    assert torch.equal(a["actions"], calm["actions"]) and torch.equal(a["states"][:, 0], calm["states"][:, 0])


def test_redraw_futures_rerun_the_world_from_frame_k_minus_1_with_fresh_kicks():
    data = generate_moving_dot_sequences(FORK, 6, seed=5)
    futures = redraw_futures(data, FORK, K=4, samples=50, seed=0)  # (50, 6, 16, 4)
    assert futures.shape == (50, 6, FORK.seq_len - 4, 4)
    assert torch.equal(futures, redraw_futures(data, FORK, K=4, samples=50, seed=0))
    # one frame after K-1 the re-runs are at most one kick apart from the most common one
    assert (futures[:, :, 0, :2] - futures[:, :, 0, :2].median(0).values).norm(dim=-1).max() <= 2 * FORK.kick_speed
    assert futures[:, :, -1, :2].std(0).mean() > 1.0  # the futures fork
    calm = dataclasses.replace(FORK, kick_probability=0.0)
    data = generate_moving_dot_sequences(calm, 6, seed=5)
    torch.testing.assert_close(redraw_futures(data, calm, 4, 3), data["states"][None, :, 4:].expand(3, -1, -1, -1))


def test_draw_kicks_draws_nothing_when_kicks_are_off():
    gen = torch.Generator().manual_seed(0)
    assert not draw_kicks(MovingDotConfig(), 4, 10, gen).any()
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(0).get_state())


def test_the_step_by_step_world_refuses_a_fork_world():
    spec = dataclasses.make_dataclass("Spec", ["start_state", "occluder_mask"])(
        torch.tensor([8.0, 8.0, 0.0, 0.0]), torch.zeros(1, 16, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="kick_probability=0.1"):
        MovingDotEnv(FORK, spec)


def test_the_kick_fields_round_trip_through_a_dict_and_old_dicts_load():
    assert MovingDotConfig.from_dict(FORK.to_dict()) == FORK
    old = {key: value for key, value in MovingDotConfig().to_dict().items() if not key.startswith("kick")}
    assert MovingDotConfig.from_dict(old) == MovingDotConfig()


@pytest.mark.parametrize(
    "field, value",
    [("grid_size", 4), ("seq_len", 1), ("dot_sigma", -1.0), ("max_speed", 0.0), ("num_occluders", -1),
     ("occluder_max_size", 100), ("use_occlusion", "yes"), ("grid_size", 32.0),
     ("kick_probability", -0.1), ("kick_probability", 1.5), ("kick_probability", float("nan")),
     ("kick_probability", "often"), ("kick_speed", 0.0), ("kick_speed", -1.0)],
)
def test_bad_config_values_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"MovingDotConfig.{field}={value!r}"):
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
