"""Evaluation: the dot reader, the baselines, the named protocols, the error breakdown and the probes."""

import dataclasses

import numpy as np
import pytest
import torch

from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences, render_dots
from rssm.evaluate import (
    BENCHMARK,
    PROTOCOLS,
    QUALITY,
    VALIDATION,
    EvalProtocol,
    background_frames,
    baseline_predictions,
    constant_velocity_states,
    error_breakdown,
    estimate_dot_position,
    evaluate_open_loop,
    fit_mlp_probe,
    linear_probe_r2,
    sample_beliefs,
)
from rssm.train import TrainConfig

WORLD = MovingDotConfig(grid_size=16, seq_len=12, occluder_min_size=3, occluder_max_size=5)


# ----- reading the dot off a frame -------------------------------------------------------------------


def test_the_dot_reader_finds_rendered_dots_to_a_twentieth_of_a_pixel():
    positions = torch.tensor([[[3.3, 7.8], [10.0, 2.5], [12.4, 12.9]]])  # (1, 3, 2)
    frames = render_dots(positions, WORLD)  # (1, 3, 1, 16, 16)
    torch.testing.assert_close(estimate_dot_position(frames), positions, atol=0.05, rtol=0)


def test_the_dot_reader_ignores_the_occluders_when_given_the_background():
    batch = generate_moving_dot_sequences(WORLD, 16, seed=5)
    visible = batch["visible"]
    read = estimate_dot_position(batch["obs"], background_frames(batch["occluder_mask"], WORLD))
    error = (read - batch["states"][..., :2]).norm(dim=-1)
    assert error[visible].max() < 0.6  # a dot half behind an occluder is read a little off its centre


def test_a_blank_frame_reads_as_the_centre_of_the_grid():
    read = estimate_dot_position(torch.zeros(2, 3, 1, 16, 16))
    assert torch.equal(read, torch.full((2, 3, 2), 7.5))


def test_faint_artefacts_do_not_pull_the_reading():
    frame = render_dots(torch.tensor([[[4.0, 4.0]]]), WORLD).clone()
    frame[..., 14, 14] = 0.3  # a stray pixel under half the peak
    torch.testing.assert_close(estimate_dot_position(frame), torch.tensor([[[4.0, 4.0]]]), atol=0.01, rtol=0)


# ----- baselines ------------------------------------------------------------------------------------


def test_constant_velocity_is_exact_when_no_action_changes_the_velocity():
    world = dataclasses.replace(WORLD, use_occlusion=False, action_scale=0.0)
    batch = generate_moving_dot_sequences(world, 8, seed=1)
    K = 4
    extrapolated = constant_velocity_states(batch["states"][:, K - 1], world.seq_len - K, world)
    torch.testing.assert_close(extrapolated, batch["states"][:, K:, :2])


def test_the_baselines_predict_frames_K_to_T_minus_1():
    batch = generate_moving_dot_sequences(WORLD, 3, seed=2)
    K = 5
    predictions = baseline_predictions(batch, K, WORLD)
    for frames in predictions.values():
        assert frames.shape == batch["obs"][:, K:].shape
    assert predictions["blank"].abs().max() == 0
    assert torch.equal(predictions["copy_last"], batch["obs"][:, K - 1 : K].expand_as(predictions["copy_last"]))
    occluders = batch["occluder_mask"].unsqueeze(1).expand_as(predictions["constant_velocity"])
    assert torch.all(predictions["constant_velocity"][occluders] == WORLD.occluder_intensity)  # drawn over the dot


def test_a_perfect_model_scores_zero_mse_and_only_the_readers_error():
    class Oracle(torch.nn.Module):
        """Predicts the true future frames: evaluate_open_loop draws the same sequences it is given."""

        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.batches = iter(())

        def open_loop_rollout(self, obs_context, actions_context, actions_future, K):
            return next(self.batches)["obs"][:, K:]

    oracle = Oracle()
    protocol = EvalProtocol("tiny", K=3, horizon=6, sequences=20, seed=9)
    from rssm.evaluate import held_out_batches

    oracle.batches = held_out_batches(protocol.world(WORLD), protocol.sequences, protocol.seed)
    report = protocol.evaluate(oracle, WORLD)
    assert np.nanmax(report.pos_err_visible["model"]) < 0.1  # the dot reader's own error on true frames
    assert np.nanmax(report.mse_visible["model"]) == 0
    assert report.at(6)["constant_velocity"] > 0.1


# ----- protocols ------------------------------------------------------------------------------------


def test_the_presets_are_named_and_held_out_from_training():
    assert set(PROTOCOLS) == {"validation", "quality", "benchmark"}
    assert len({p.seed for p in PROTOCOLS.values()}) == 3
    assert TrainConfig().seed not in {p.seed for p in PROTOCOLS.values()}
    assert (QUALITY.K, QUALITY.horizon, QUALITY.sequences) == (8, 24, 1024)
    assert VALIDATION.sequences == TrainConfig().val_sequences


def test_a_protocol_scores_exactly_the_sequences_of_its_batch():
    protocol = BENCHMARK.replace(K=3, horizon=6, sequences=70)  # two chunks of the generator
    batch = protocol.batch(WORLD)
    assert batch["obs"].shape[:2] == (70, 9)
    direct = evaluate_open_loop(_tiny_model(), protocol.world(WORLD), K=3, num_sequences=70, seed=protocol.seed)
    via_protocol = protocol.evaluate(_tiny_model(), WORLD)
    np.testing.assert_array_equal(direct.pos_err_visible["model"], via_protocol.pos_err_visible["model"])
    assert int(direct.count_visible[0]) == int(batch["visible"][:, 3].sum())


@pytest.mark.parametrize("field, value", [("K", 0), ("horizon", -1), ("sequences", 1.5)])
def test_a_bad_protocol_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"EvalProtocol.{field}="):
        BENCHMARK.replace(**{field: value})


def test_the_error_breakdown_splits_every_scored_frame_into_exactly_one_group():
    world = MovingDotConfig(grid_size=16, occluder_min_size=3, occluder_max_size=5)
    result = error_breakdown(_tiny_model(), world, QUALITY.replace(sequences=64))
    groups = result["h10_px"]
    parts = [groups[name] for name in ("visible throughout", "hidden during the rollout only", "hidden in the context")]
    assert sum(part["n"] for part in parts) == groups["all"]["n"] > 0
    assert sum(part["share_of_total"] for part in parts) == pytest.approx(1.0, abs=0.02)


def _tiny_model():
    from rssm.model import RSSM, RSSMConfig

    torch.manual_seed(0)
    return RSSM(RSSMConfig(image_size=16, deter_dim=16, stoch_dim=4, hidden_dim=16, embed_dim=16, cnn_depth=4, cnn_layers=2))


# ----- linear probes ---------------------------------------------------------------------------------


def test_a_linear_probe_recovers_a_linear_target_and_not_noise():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(400, 6, generator=g)
    targets = torch.stack([features @ torch.arange(6.0) + 2.0, torch.randn(400, generator=g)], 1)  # (N, 2)
    r2 = linear_probe_r2(features[:300], targets[:300], features[300:], targets[300:])
    assert r2[0] > 0.999
    assert r2[1] < 0.1


def test_an_mlp_probe_reads_a_nonlinear_target_that_a_linear_probe_cannot():
    g = torch.Generator().manual_seed(0)
    features = torch.rand(600, 2, generator=g) * 4 - 2
    targets = (features**2).sum(1, keepdim=True)  # a bowl: no linear trend at all
    read = fit_mlp_probe(features[:500], targets[:500], seed=0)
    error = read(features[500:]) - targets[500:]
    r2 = 1 - (error**2).sum() / ((targets[500:] - targets[500:].mean()) ** 2).sum()
    assert r2 > 0.95
    assert linear_probe_r2(features[:500], targets[:500], features[500:], targets[500:])[0] < 0.1
    assert not read(features[:3]).requires_grad


# ----- sampled beliefs -------------------------------------------------------------------------------


def test_sampled_beliefs_with_one_sample_are_observe_with_the_same_seed():
    model = _tiny_model().eval()
    batch = generate_moving_dot_sequences(WORLD, 3, seed=1)
    mine = sample_beliefs(model, batch["obs"], batch["actions"], 1, seed=3)
    torch.manual_seed(3)
    with torch.no_grad():
        theirs = model.observe(batch["obs"], batch["actions"], sample=True)
    for key in ("h", "z", "prior_mean", "prior_std", "post_mean", "post_std"):
        torch.testing.assert_close(mine[key][0], getattr(theirs, key))


def test_sampled_beliefs_are_s_trajectories_per_sequence_that_differ():
    model = _tiny_model().eval()
    batch = generate_moving_dot_sequences(WORLD, 3, seed=1)
    beliefs = sample_beliefs(model, batch["obs"], batch["actions"], 5)
    assert beliefs["z"].shape == (5, 3, WORLD.seq_len, model.config.stoch_dim)
    assert beliefs["h"].shape == (5, 3, WORLD.seq_len, model.config.deter_dim)
    torch.testing.assert_close(beliefs["h"][:, :, 0], beliefs["h"][:1, :, 0].expand(5, -1, -1))  # h_0: no sample yet
    assert not torch.allclose(beliefs["z"][0], beliefs["z"][1])
    again = sample_beliefs(model, batch["obs"], batch["actions"], 5)
    torch.testing.assert_close(again["z"], beliefs["z"])  # the seed fixes them
