"""Training: the loss goes down, budgets stop cleanly, NaNs stop with the last good weights, the CLI."""

import math
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

import rssm.train as train_module
from rssm.checkpoint import load_checkpoint
from rssm.dataset import MovingDotConfig, MovingDotDataset, collate_moving_dot, generate_moving_dot_sequences
from rssm.model import RSSM, RSSMConfig
from rssm.train import NonFiniteLossError, TrainConfig, compute_loss, dot_weight_at, learning_rate_at, main, random_windows, train

TINY_MODEL = dict(image_size=16, deter_dim=32, stoch_dim=8, hidden_dim=32, embed_dim=32, cnn_depth=8, cnn_layers=2)
TINY_DATA = dict(grid_size=16, seq_len=12, occluder_min_size=3, occluder_max_size=5)


def tiny_train_config(**overrides) -> TrainConfig:
    values = dict(batch_size=8, epochs=1, train_sequences=32, chunk_len=None, val_sequences=8, K=4, warmup_steps=0,
                  dot_weight=10.0, lr=3e-3)
    values.update(overrides)
    return TrainConfig(**values)


def test_a_short_training_run_lowers_the_loss():
    _, history = train(MovingDotConfig(**TINY_DATA), RSSMConfig(**TINY_MODEL), tiny_train_config(epochs=15), progress=False)
    first, last = sum(history["loss"][:5]) / 5, sum(history["loss"][-5:]) / 5
    assert last < 0.7 * first, (first, last)
    assert len(history["epoch"]) == 15 and len(history["loss"]) == 15 * 4
    assert all(t2 >= t1 for t1, t2 in zip(history["time_s"], history["time_s"][1:]))


def test_max_steps_stops_exactly():
    _, history = train(MovingDotConfig(**TINY_DATA), RSSMConfig(**TINY_MODEL), tiny_train_config(epochs=5, max_steps=6), progress=False)
    assert len(history["loss"]) == 6


def test_the_same_seed_trains_the_same_model():
    runs = [train(MovingDotConfig(**TINY_DATA), RSSMConfig(**TINY_MODEL), tiny_train_config(max_steps=3), progress=False) for _ in range(2)]
    assert runs[0][1]["loss"] == runs[1][1]["loss"]


def test_random_windows_crop_each_sequence_to_an_aligned_window():
    obs = torch.arange(4 * 10, dtype=torch.float32).view(4, 10, 1, 1, 1).expand(4, 10, 1, 2, 2)
    actions = torch.arange(4 * 10, dtype=torch.float32).view(4, 10, 1).expand(4, 10, 2)
    o, a = random_windows({"obs": obs, "actions": actions}, 3, torch.Generator().manual_seed(0))
    assert o.shape == (4, 3, 1, 2, 2) and a.shape == (4, 3, 2)
    assert torch.equal(o[:, :, 0, 0, 0], a[:, :, 0])  # frames and actions stay paired
    assert torch.equal(o[:, 1:, 0, 0, 0] - o[:, :-1, 0, 0, 0], torch.ones(4, 2))  # consecutive frames


def test_a_nan_loss_stops_training_and_keeps_the_last_finite_weights(monkeypatch):
    import rssm.train as train_module

    calls = {"n": 0}
    real = train_module.compute_loss

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, parts = real(*args, **kwargs)
        if calls["n"] == 3:
            parts = {**parts, "loss": float("nan")}
        return loss, parts

    monkeypatch.setattr(train_module, "compute_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="nan at step 2"):
        train(MovingDotConfig(**TINY_DATA), RSSMConfig(**TINY_MODEL), tiny_train_config(), progress=False)


def test_the_dot_weight_holds_then_decays_geometrically_to_its_final_value():
    config = TrainConfig(dot_weight=30.0, dot_weight_final=1.0, dot_weight_decay_start=200, dot_weight_decay_end=800)
    assert dot_weight_at(0, config) == dot_weight_at(200, config) == 30.0
    assert dot_weight_at(500, config) == pytest.approx(30.0 ** 0.5)  # halfway in log space
    assert dot_weight_at(800, config) == dot_weight_at(10_000, config) == 1.0
    weights = [dot_weight_at(step, config) for step in range(0, 1000, 10)]
    assert all(b <= a for a, b in zip(weights, weights[1:]))
    constant = TrainConfig(dot_weight=5.0, dot_weight_final=5.0)
    assert {dot_weight_at(step, constant) for step in (0, 500, 5000)} == {5.0}
    to_zero = TrainConfig(dot_weight=10.0, dot_weight_final=0.0, dot_weight_decay_start=0, dot_weight_decay_end=10)
    assert dot_weight_at(5, to_zero) == pytest.approx(5.0)  # linear when either end is 0


def test_the_learning_rate_warms_up_then_follows_a_cosine_to_its_final_fraction():
    config = TrainConfig(lr=1e-3, warmup_steps=100, lr_final=0.1)
    assert learning_rate_at(0, 0.0, config) == pytest.approx(1e-5)
    assert learning_rate_at(99, 0.0, config) == pytest.approx(1e-3)
    assert learning_rate_at(500, 0.5, config) == pytest.approx(0.55e-3)
    assert learning_rate_at(900, 1.0, config) == learning_rate_at(900, 1.7, config) == pytest.approx(1e-4)
    assert learning_rate_at(900, 0.9, TrainConfig(lr=1e-3, lr_final=1.0)) == pytest.approx(1e-3)


def test_a_step_budget_spreads_the_cosine_over_the_steps_of_the_run():
    config = tiny_train_config(epochs=5, max_steps=10, lr=1e-3, lr_final=0.25)
    _, history = train(MovingDotConfig(**TINY_DATA), RSSMConfig(**TINY_MODEL), config, progress=False)
    assert history["lr"][0] == pytest.approx(1e-3)
    assert history["lr"][-1] == pytest.approx(1e-3 * (0.25 + 0.75 * 0.5 * (1 + math.cos(math.pi * 0.9))))
    assert all(b <= a for a, b in zip(history["lr"], history["lr"][1:]))


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("lr", -1.0), ("kl_balance", 2.0), ("chunk_len", 1),
                                          ("free_bits_mode", "sum"), ("max_minutes", 0), ("epochs", 1.5),
                                          ("lr_final", 1.5), ("dot_weight_final", -1.0), ("dot_weight_decay_end", 10),
                                          ("overshoot", -0.5), ("overshoot", float("nan")),
                                          ("overshoot_mode", "frames")])
def test_bad_train_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def run_cli_in_process(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch_size", "0"], "batch_size"),
        (["--grid_size", "30"], "image_size=30"),
        (["--lr", "abc"], "invalid float value"),
        (["--K", "64"], "--K 64 must be smaller than --seq_len 64"),
        (["--device", "tpu"], "invalid choice"),
        (["--use_occlusion", "--no_occlusion"], "not allowed with"),
        (["--seq_len", "1"], "seq_len"),
        (["--max_minutes", "-5"], "max_minutes"),
        (["--viz_interval", "0"], "viz_interval"),
        (["--overshoot", "-1"], "overshoot"),
        (["--overshoot_mode", "frames"], "invalid choice"),
    ],
)
def test_bad_cli_flags_exit_2_with_a_reason(args, message, capsys):
    code, err = run_cli_in_process(args, capsys)
    assert code == 2
    assert message in err


def test_a_bad_flag_from_the_shell_prints_one_line_reason_and_no_traceback():
    result = subprocess.run([sys.executable, "-m", "rssm.train", "--batch_size", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("rssm-train: error: TrainConfig.batch_size=0")


def test_resume_without_a_checkpoint_says_so(tmp_path, capsys):
    code, err = run_cli_in_process(["--resume", "--output_dir", str(tmp_path / "empty")], capsys)
    assert code == 2
    assert "cannot resume" in err and "model.pt" in err


def test_cli_writes_the_checkpoint_and_figures_and_resumes(tmp_path):
    common = ["--grid_size", "16", "--seq_len", "24", "--batch_size", "8", "--train_sequences", "16", "--K", "4",
              "--viz_interval", "1", "--output_dir", str(tmp_path), "--device", "cpu", "--chunk_len", "0"]
    result = main(["--epochs", "1", *common])
    assert result == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"model.pt", "recon_epoch001.png", "rollout_epoch001.png", "loss_curves.png", "eval_rollout.png"} <= names
    checkpoint = load_checkpoint(tmp_path / "model.pt")
    assert checkpoint.history["epoch"] == [1.0] and checkpoint.data_config.grid_size == 16
    assert main(["--epochs", "2", "--resume", *common]) == 0
    resumed = load_checkpoint(tmp_path / "model.pt")
    assert resumed.history["epoch"] == [1.0, 2.0]
    assert len(resumed.history["loss"]) == 2 * len(checkpoint.history["loss"])


def tiny_batch(seq_len: int = 12) -> tuple[RSSM, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    batch = generate_moving_dot_sequences(MovingDotConfig(**{**TINY_DATA, "seq_len": seq_len}), 4, seed=3)
    return RSSM(RSSMConfig(**TINY_MODEL)), batch["obs"], batch["actions"]


@pytest.mark.parametrize("mode", ["latent", "pixels"])
def test_overshoot_adds_its_weighted_open_loop_term_to_the_loss(mode):
    model, obs, actions = tiny_batch()
    results = {}
    for weight in (0.0, 2.0):
        torch.manual_seed(1)  # the same posterior samples in both calls
        loss, parts = compute_loss(model, obs, actions, tiny_train_config(overshoot=weight, overshoot_mode=mode))
        results[weight] = (loss.item(), parts)
    assert "overshoot" not in results[0.0][1]
    overshoot = results[2.0][1]["overshoot"]
    assert overshoot > 0
    assert results[2.0][0] == pytest.approx(results[0.0][0] + 2.0 * overshoot, rel=1e-5)


def test_overshoot_rolls_the_prior_from_frame_k_minus_1_with_the_actions_that_drive_each_frame(monkeypatch):
    """The open-loop term must start from the filtered state after frame K-1 and feed actions[:, K-1+i]
    into the step that predicts frame K+i: one frame later and the model would be told the answer."""
    model, obs, actions = tiny_batch()
    config = tiny_train_config(overshoot=1.0)
    calls = []
    real_imagine = model.imagine

    def spy(state, prev_actions, sample=False, decode=True):
        calls.append((state, prev_actions, sample))
        return real_imagine(state, prev_actions, sample, decode)

    monkeypatch.setattr(model, "imagine", spy)
    torch.manual_seed(1)
    compute_loss(model, obs, actions, config)
    (state, prev_actions, sample), = calls
    torch.manual_seed(1)
    filtered = model(obs, actions)
    K = config.K
    assert torch.equal(state.h, filtered.h[:, K - 1]) and torch.equal(state.z, filtered.z[:, K - 1])
    assert torch.equal(prev_actions, actions[:, K - 1 : -1]) and prev_actions.shape[1] == obs.shape[1] - K
    assert sample is False  # the prior's mean, as in RSSM.open_loop_rollout


def test_overshoot_cannot_see_the_frames_it_predicts():
    """Changing frames K.. changes the overshoot term only through its targets, never through its inputs."""
    model, obs, actions = tiny_batch()
    config = tiny_train_config(overshoot=1.0)
    K = config.K
    captured = []
    real_imagine = model.imagine

    def spy(state, prev_actions, sample=False, decode=True):
        captured.append(real_imagine(state, prev_actions, sample, decode=True))  # render them to compare
        return captured[-1]

    model.imagine = spy
    changed = obs.clone()
    changed[:, K:] = torch.rand_like(changed[:, K:])
    for frames in (obs, changed):
        torch.manual_seed(1)
        compute_loss(model, frames, actions, config)
    assert torch.equal(captured[0].recon, captured[1].recon)
    assert torch.equal(captured[0].prior_mean, captured[1].prior_mean)


def test_overshoot_skips_windows_no_longer_than_the_context():
    model, obs, actions = tiny_batch(seq_len=4)
    _, parts = compute_loss(model, obs, actions, tiny_train_config(overshoot=1.0, K=4))
    assert "overshoot" not in parts


def test_latent_overshoot_trains_the_dynamics_and_never_the_decoder():
    """KL(sg(q) || p_open-loop) adds gradient to the GRU and the prior (and, through the start state, to
    the filter), none to the decoder: its gradients are the same with and without the term."""
    model, obs, actions = tiny_batch()
    grads = {}
    for weight in (0.0, 1.0):
        model.zero_grad()
        torch.manual_seed(1)
        loss, _ = compute_loss(model, obs, actions, tiny_train_config(overshoot=weight, overshoot_mode="latent"))
        loss.backward()
        grads[weight] = {name: p.grad.clone() for name, p in model.named_parameters()}
    changed = {name for name in grads[0.0] if not torch.allclose(grads[0.0][name], grads[1.0][name], atol=1e-7, rtol=0)}
    assert {"prior_net.0.weight", "gru_input.0.weight"} <= changed
    assert not {name for name in changed if name.startswith("decoder")}


def test_model_size_flags_reach_the_checkpoint_and_a_clashing_resume_is_refused(tmp_path, capsys):
    common = ["--grid_size", "16", "--seq_len", "24", "--batch_size", "8", "--train_sequences", "16", "--K", "4",
              "--viz_interval", "1", "--output_dir", str(tmp_path), "--device", "cpu", "--chunk_len", "0"]
    assert main(["--epochs", "1", "--deter_dim", "24", "--stoch_dim", "5", "--hidden_dim", "20", "--embed_dim", "12",
                 "--cnn_depth", "3", *common]) == 0
    config = load_checkpoint(tmp_path / "model.pt").model.config
    assert (config.deter_dim, config.stoch_dim, config.hidden_dim, config.embed_dim, config.cnn_depth) == (24, 5, 20, 12, 3)
    capsys.readouterr()
    code, err = run_cli_in_process(["--epochs", "2", "--resume", "--deter_dim", "32", *common], capsys)
    assert code == 2
    assert "cannot resume" in err and "--deter_dim 32 (it has 24)" in err
    assert main(["--epochs", "2", "--resume", "--deter_dim", "24", *common]) == 0  # the same size resumes


def test_a_bad_model_size_flag_is_a_one_line_error(capsys):
    code, err = run_cli_in_process(["--deter_dim", "0"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == "rssm-train: error: RSSMConfig.deter_dim=0: must be a positive int"


def test_training_batches_are_the_item_dataloaders_batches_in_the_same_order(monkeypatch):
    """train() gathers batches from the training set on the model's device; they must be exactly the
    batches, in the order, that DataLoader(MovingDotDataset, collate_moving_dot) gives with its generator."""
    data = MovingDotConfig(**{**TINY_DATA, "seq_len": 12})
    config = tiny_train_config(chunk_len=None, batch_size=4, train_sequences=12, epochs=2)
    seen = []
    real_compute_loss = train_module.compute_loss

    def spy(model, obs, actions, config, dot_weight=None):
        seen.append((obs.clone(), actions.clone()))
        return real_compute_loss(model, obs, actions, config, dot_weight)

    monkeypatch.setattr(train_module, "compute_loss", spy)
    train(data, RSSMConfig(**TINY_MODEL), config, progress=False)
    dataset = MovingDotDataset(data, config.train_sequences, seed=config.seed)
    loader = DataLoader(dataset, config.batch_size, shuffle=True, drop_last=True, collate_fn=collate_moving_dot,
                        generator=torch.Generator().manual_seed(config.seed))
    expected = [(batch["obs"], batch["actions"]) for _ in range(config.epochs) for batch in loader]
    assert len(seen) == len(expected) == 6
    for (obs, actions), (want_obs, want_actions) in zip(seen, expected):
        assert torch.equal(obs, want_obs) and torch.equal(actions, want_actions)
