"""The RSSM: shapes, checks at the door, and the open-loop time alignment."""

import pytest
import torch
from torch import nn

from rssm.distributions import stack
from rssm.model import LATENTS, RSSM, RSSMConfig, RSSMState, shift_actions


def test_forward_returns_every_part_with_its_shape(small_model, small_batch):
    out = small_model(small_batch["obs"], small_batch["actions"])
    B, T = small_batch["obs"].shape[:2]
    c = small_model.config
    assert out.recon.shape == (B, T, 1, 16, 16)
    for name in ("prior_mean", "prior_std", "post_mean", "post_std", "z"):
        assert getattr(out, name).shape == (B, T, c.stoch_dim), name
    assert out.h.shape == (B, T, c.deter_dim)
    assert (out.prior_std >= c.min_std).all() and (out.post_std >= c.min_std).all()


def test_without_the_posterior_the_frames_are_never_looked_at(small_model, small_batch):
    other_frames = torch.rand_like(small_batch["obs"])
    torch.manual_seed(1)
    a = small_model(small_batch["obs"], small_batch["actions"], use_posterior=False)
    torch.manual_seed(1)
    b = small_model(other_frames, small_batch["actions"], use_posterior=False)
    torch.testing.assert_close(a.recon, b.recon)


def test_frame_t_depends_on_actions_before_t_only(small_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    t = 5
    changed = actions.clone()
    changed[:, t] += 1.0
    with torch.no_grad():
        a = small_model.observe(obs, actions, sample=False)
        b = small_model.observe(obs, changed, sample=False)
    torch.testing.assert_close(a.h[:, : t + 1], b.h[:, : t + 1])
    assert not torch.allclose(a.h[:, t + 1], b.h[:, t + 1])


def test_shift_actions_puts_the_previous_action_at_each_step():
    actions = torch.arange(6.0).view(1, 3, 2)
    shifted = shift_actions(actions)
    assert torch.equal(shifted[0, 0], torch.zeros(2))
    assert torch.equal(shifted[0, 1:], actions[0, :2])


def test_open_loop_rollout_predicts_frames_K_to_T_minus_1(small_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    K, T = 4, obs.shape[1]
    pred = small_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)
    assert pred.shape == (obs.shape[0], T - K, 1, 16, 16)
    samples = small_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K, num_samples=5)
    assert samples.shape == (5, obs.shape[0], T - K, 1, 16, 16)
    assert not torch.allclose(samples[0], samples[1])


def test_a_rollout_cannot_see_the_frames_it_predicts(small_model, small_batch):
    """Changing frame K or later (or the last, unused, future action) leaves every prediction alone."""
    obs, actions = small_batch["obs"], small_batch["actions"]
    K = 4
    pred = small_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)
    future_changed = actions[:, K:].clone()
    future_changed[:, -1] += 3.0
    again = small_model.open_loop_rollout(obs[:, :K], actions[:, :K], future_changed, K)
    torch.testing.assert_close(pred, again)


def test_rollout_prediction_i_uses_actions_up_to_K_plus_i_minus_1(small_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    K, i = 4, 3
    future = actions[:, K:].clone()
    future[:, i] += 2.0  # action K+i moves frame K+i to K+i+1: pred[:, i] must not change, pred[:, i+1] must
    a = small_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)
    b = small_model.open_loop_rollout(obs[:, :K], actions[:, :K], future, K)
    torch.testing.assert_close(a[:, : i + 1], b[:, : i + 1])
    assert not torch.allclose(a[:, i + 1], b[:, i + 1])


def test_rollout_context_matches_a_full_forward_pass_up_to_K(small_model, small_batch):
    """The first prediction uses the same h as filtering would at frame K (same actions, same past)."""
    obs, actions = small_batch["obs"], small_batch["actions"]
    K = 4
    with torch.no_grad():
        full = small_model.observe(obs, actions, sample=False)
        context = small_model.observe(obs[:, :K], actions[:, :K], sample=False)
    torch.testing.assert_close(full.h[:, :K], context.h)


@pytest.mark.parametrize(
    "obs_shape, act_shape, match",
    [
        ((3, 12, 16, 16), (3, 12, 2), "obs: expected shape"),
        ((3, 12, 1, 32, 32), (3, 12, 2), "obs: expected shape"),
        ((3, 12, 1, 16, 16), (3, 12, 3), "actions: expected shape"),
        ((3, 12, 1, 16, 16), (3, 11, 2), "must match"),
    ],
)
def test_bad_shapes_raise_value_errors_that_say_what_was_expected(small_model, obs_shape, act_shape, match):
    with pytest.raises(ValueError, match=match):
        small_model(torch.zeros(obs_shape), torch.zeros(act_shape))


def test_rollout_rejects_a_K_that_does_not_match_the_context(small_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    with pytest.raises(ValueError, match="K=5"):
        small_model.open_loop_rollout(obs[:, :4], actions[:, :4], actions[:, 4:], K=5)
    with pytest.raises(ValueError, match="actions_future"):
        small_model.open_loop_rollout(obs[:, :4], actions[:, :4], actions[:2, 4:], K=4)


@pytest.mark.parametrize("field, value", [("deter_dim", 0), ("stoch_dim", -3), ("min_std", 0.0), ("image_size", 30), ("cnn_layers", 2.5)])
def test_bad_model_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        RSSMConfig(**{field: value})


def test_plain_gru_option_builds_and_runs(small_model_config, small_batch):
    from dataclasses import replace

    model = RSSM(replace(small_model_config, gru_layer_norm=False))
    assert isinstance(model.gru, torch.nn.GRUCell)
    assert model(small_batch["obs"], small_batch["actions"]).recon.shape == small_batch["obs"].shape


def test_the_same_batch_gives_the_same_states_whatever_came_before(small_model, small_batch, small_data_config):
    """Sequences are independent: no state is carried from one call to the next."""
    from rssm.dataset import generate_moving_dot_sequences

    other = generate_moving_dot_sequences(small_data_config, 3, seed=99)
    with torch.no_grad():
        first = small_model.observe(small_batch["obs"], small_batch["actions"], sample=False)
        small_model.observe(other["obs"], other["actions"], sample=False)
        again = small_model.observe(small_batch["obs"], small_batch["actions"], sample=False)
    torch.testing.assert_close(first.h, again.h)


# ----- the categorical latent (chapter 10) ---------------------------------------------------------


@pytest.fixture
def categorical_model(small_model_config):
    from dataclasses import replace

    return RSSM(replace(small_model_config, latent="categorical", classes=5))


def test_an_unknown_latent_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="latent='bernoulli'"):
        RSSMConfig(latent="bernoulli")


@pytest.mark.parametrize("field, value", [("classes", 1), ("classes", 0), ("unimix", 1.0), ("unimix", -0.1)])
def test_bad_categorical_settings_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        RSSMConfig(latent="categorical", **{field: value})


def test_the_latent_size_is_stoch_dim_or_variables_times_classes():
    assert RSSMConfig(stoch_dim=16).latent_size == 16
    assert RSSMConfig(stoch_dim=16, latent="categorical", classes=32).latent_size == 512


def test_a_categorical_forward_returns_every_part_with_its_shape(categorical_model, small_batch):
    from rssm.distributions import Categorical

    out = categorical_model(small_batch["obs"], small_batch["actions"])
    B, T = small_batch["obs"].shape[:2]
    c = categorical_model.config
    assert out.recon.shape == (B, T, 1, 16, 16)
    assert out.h.shape == (B, T, c.deter_dim)
    assert out.z.shape == (B, T, c.stoch_dim * c.classes)
    for dist in (out.prior, out.posterior):
        assert isinstance(dist, Categorical) and dist.logits.shape == (B, T, c.stoch_dim, c.classes)
    assert torch.equal(out.z.unflatten(-1, (c.stoch_dim, c.classes)).sum(-1), torch.ones(B, T, c.stoch_dim))
    with pytest.raises(AttributeError, match="use out.prior"):
        out.prior_mean  # noqa: B018


def test_the_categorical_mean_path_uses_the_most_likely_class(categorical_model, small_batch):
    c = categorical_model.config
    with torch.no_grad():
        out = categorical_model.observe(small_batch["obs"], small_batch["actions"], sample=False)
        dream = categorical_model.imagine(categorical_model.initial_state(3), small_batch["actions"])
    for z, dist in ((out.z, out.posterior), (dream.z, dream.prior)):
        chosen = z.unflatten(-1, (c.stoch_dim, c.classes)).argmax(-1)
        assert torch.equal(chosen, dist.logits.argmax(-1))


def test_straight_through_gradients_reach_the_encoder(categorical_model, small_batch):
    """The encoder reaches the frames only through the sampled one-hot z: the reconstruction's
    gradient gets there through the straight-through estimator, or not at all."""
    out = categorical_model(small_batch["obs"], small_batch["actions"])
    ((out.recon - small_batch["obs"]) ** 2).sum().backward()
    grads = [p.grad for p in categorical_model.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_categorical_rollouts_give_the_mean_path_or_sampled_futures(categorical_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    K, T = 4, obs.shape[1]
    with torch.no_grad():
        mean_path = categorical_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)
        again = categorical_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)
        one = categorical_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K, sample=True)
        futures = categorical_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K, num_samples=5)
    assert mean_path.shape == one.shape == (obs.shape[0], T - K, 1, 16, 16)
    torch.testing.assert_close(mean_path, again)
    assert futures.shape == (5, obs.shape[0], T - K, 1, 16, 16)
    assert not torch.allclose(futures[0], futures[1])


def test_a_categorical_rollout_cannot_see_the_frames_it_predicts(categorical_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    K, i = 4, 3
    future = actions[:, K:].clone()
    future[:, i] += 2.0  # first reaches pred[:, i + 1]
    with torch.no_grad():
        a = categorical_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)
        b = categorical_model.open_loop_rollout(obs[:, :K], actions[:, :K], future, K)
    torch.testing.assert_close(a[:, : i + 1], b[:, : i + 1])


@pytest.mark.parametrize(
    "obs_shape, act_shape, match",
    [((3, 12, 16, 16), (3, 12, 2), "obs: expected shape"), ((3, 12, 1, 16, 16), (3, 11, 2), "must match")],
)
def test_a_categorical_model_refuses_bad_shapes_as_the_gaussian_does(categorical_model, obs_shape, act_shape, match):
    with pytest.raises(ValueError, match=match):
        categorical_model(torch.zeros(obs_shape), torch.zeros(act_shape))


def test_the_gaussian_path_is_unchanged(small_model, small_batch):
    """The Gaussian model keeps its layer sizes, its output fields and the reparameterised sampling."""
    c = small_model.config
    assert c.latent == "gaussian"
    assert small_model.gru_input[0].in_features == c.stoch_dim + c.action_dim
    assert small_model.prior_net[-1].out_features == small_model.posterior_net[-1].out_features == 2 * c.stoch_dim
    assert small_model.decoder.proj.in_features == c.deter_dim + c.stoch_dim
    torch.manual_seed(2)
    out = small_model(small_batch["obs"], small_batch["actions"])
    assert torch.equal(out.prior_mean, out.prior.mean) and torch.equal(out.post_std, out.posterior.std)
    torch.manual_seed(2)  # by hand: the posterior's mean + std * noise at every step
    embeds, state = small_model.encode(small_batch["obs"]), small_model.initial_state(3)
    prev = shift_actions(small_batch["actions"])
    for t in range(small_batch["obs"].shape[1]):
        h, _ = small_model.prior_step(state, prev[:, t])
        post = small_model.posterior(h, embeds[:, t])
        state = RSSMState(h, post.mean + post.std * torch.randn_like(post.std))
        torch.testing.assert_close(state.z, out.z[:, t])


def test_a_config_saved_before_the_latent_choice_loads_as_the_gaussian():
    old = {k: v for k, v in RSSMConfig().to_dict().items() if k not in ("latent", "classes", "unimix")}
    assert RSSMConfig.from_dict(old) == RSSMConfig()


class DeepPosterior(RSSM):
    """An RSSM whose posterior MLP has two hidden layers instead of one."""

    def __init__(self, config: RSSMConfig) -> None:
        super().__init__(config)
        c = config
        self.posterior_net = nn.Sequential(
            nn.Linear(c.deter_dim + c.embed_dim, c.hidden_dim), nn.SiLU(),
            nn.Linear(c.hidden_dim, c.hidden_dim), nn.SiLU(),
            nn.Linear(c.hidden_dim, self.prior_net[-1].out_features),
        )


@pytest.mark.parametrize("model_class", [RSSM, DeepPosterior])
@pytest.mark.parametrize("latent", LATENTS)
@pytest.mark.parametrize("sample", [True, False])
def test_observe_is_prior_step_then_posterior_frame_by_frame(model_class, latent: str, sample: bool):
    """observe() computes the input layers' frame and action halves for all frames first and the prior
    after its loop; the result is prior_step then posterior, frame by frame, with the same random
    draws, for a posterior MLP of any depth."""
    from rssm.model import shift_actions

    torch.manual_seed(0)
    model = model_class(RSSMConfig(latent=latent, deter_dim=32, stoch_dim=8, hidden_dim=24, classes=4))
    obs, actions = torch.rand(3, 7, 1, 32, 32), torch.randn(3, 7, 2)
    torch.manual_seed(1)
    out = model.observe(obs, actions, sample=sample)
    torch.manual_seed(1)
    embeds, prev_actions = model.encode(obs), shift_actions(actions)
    state, zs, priors, posts = model.initial_state(3), [], [], []
    for t in range(7):
        h, prior = model.prior_step(state, prev_actions[:, t])
        post = model.posterior(h, embeds[:, t])
        state = RSSMState(h, post.sample() if sample else post.mode)
        zs.append(state.z)
        priors.append(prior)
        posts.append(post)
    torch.testing.assert_close(out.z, torch.stack(zs, 1), atol=1e-5, rtol=1e-5)
    assert out.prior.kl(stack(priors)).abs().max() < 1e-5
    assert out.posterior.kl(stack(posts)).abs().max() < 1e-5


def test_a_subclass_changes_every_path_by_overriding_one_piece_of_the_step():
    """A model never told the actions (chapter 7) overrides action_features alone: observe, imagine and
    prior_step all go blind."""

    class Blind(RSSM):
        def action_features(self, prev_actions):
            return super().action_features(torch.zeros_like(prev_actions))

    torch.manual_seed(0)
    model = Blind(RSSMConfig(deter_dim=32, stoch_dim=8, hidden_dim=24))
    obs, actions = torch.rand(2, 5, 1, 32, 32), torch.randn(2, 5, 2)
    with torch.no_grad():
        seen = model.observe(obs, actions, sample=False)
        assert torch.equal(seen.h, model.observe(obs, -actions, sample=False).h)
        start = RSSMState(seen.h[:, -1], seen.z[:, -1])
        assert torch.equal(model.imagine(start, actions).h, model.imagine(start, -actions).h)
        assert torch.equal(model.prior_step(start, actions[:, 0])[0], model.prior_step(start, -actions[:, 0])[0])
