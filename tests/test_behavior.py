"""Dreamer's actor-critic in imagination (rssm.behavior): the targets against hand-computed cases, and
the promise that nothing of it reaches the world model."""

import copy

import pytest
import torch

from rssm.behavior import (
    Actor,
    BehaviorConfig,
    Critic,
    ReturnNormalizer,
    RewardHead,
    actor_loss,
    critic_loss,
    features,
    imagine,
    lambda_return,
    update_slow,
)
from rssm.model import RSSM, RSSMConfig

# ----- the lambda-return -----------------------------------------------------------------------------
# Three imagined steps: rewards r_1, r_2, r_3 read off s_1, s_2, s_3; values V(s_0) ... V(s_3).
REWARDS = torch.tensor([1.0, 2.0, 3.0])
VALUES = torch.tensor([10.0, 20.0, 30.0, 40.0])


def test_the_lambda_return_matches_a_hand_computed_example():
    # gamma = lambda = 0.5, never ending:
    # R_3 = V(s_3) = 40
    # R_2 = r_3 + 0.5 * (0.5 * V(s_3) + 0.5 * R_3) = 3 + 0.5 * (20 + 20)     = 23
    # R_1 = r_2 + 0.5 * (0.5 * V(s_2) + 0.5 * R_2) = 2 + 0.5 * (15 + 11.5)   = 15.25
    # R_0 = r_1 + 0.5 * (0.5 * V(s_1) + 0.5 * R_1) = 1 + 0.5 * (10 + 7.625)  = 9.8125
    returns = lambda_return(REWARDS, VALUES, torch.ones(3), discount=0.5, return_lambda=0.5)
    torch.testing.assert_close(returns, torch.tensor([9.8125, 15.25, 23.0]))


def test_an_episode_that_ends_bootstraps_nothing_past_its_end():
    # arriving in s_2 ends the episode: c_2 = c_3 = 0
    # R_2 = r_3 = 3;  R_1 = r_2 = 2;  R_0 = 1 + 0.5 * (0.5 * 20 + 0.5 * 2) = 6.5
    returns = lambda_return(REWARDS, VALUES, torch.tensor([1.0, 0.0, 0.0]), discount=0.5, return_lambda=0.5)
    torch.testing.assert_close(returns, torch.tensor([6.5, 2.0, 3.0]))


def test_lambda_zero_is_the_one_step_target_and_lambda_one_the_full_sum():
    one_step = lambda_return(REWARDS, VALUES, torch.ones(3), discount=1.0, return_lambda=0.0)
    torch.testing.assert_close(one_step, REWARDS + VALUES[1:])  # r_{t+1} + V(s_{t+1})
    full = lambda_return(REWARDS, VALUES, torch.ones(3), discount=1.0, return_lambda=1.0)
    torch.testing.assert_close(full, torch.tensor([46.0, 45.0, 43.0]))  # rewards to go + V(s_3)


def test_the_start_states_value_never_enters_its_own_return():
    """The classic off-by-one: R_t must not use V(s_t), only the values of the states after it."""
    other = VALUES.clone()
    other[0] = -1e6
    torch.testing.assert_close(lambda_return(REWARDS, other, torch.ones(3), 0.9, 0.95),
                               lambda_return(REWARDS, VALUES, torch.ones(3), 0.9, 0.95))


def test_the_lambda_return_refuses_misaligned_inputs():
    with pytest.raises(ValueError, match=r"values \(H \+ 1, \.\.\.\)"):
        lambda_return(REWARDS, VALUES[:3], torch.ones(3), 0.9, 0.95)
    with pytest.raises(ValueError, match="lambda_return.return_lambda=1.5"):
        lambda_return(REWARDS, VALUES, torch.ones(3), 0.9, 1.5)


# ----- return normalisation and the slow critic --------------------------------------------------------


def test_the_return_scale_is_an_ema_of_the_5th_to_95th_percentile_range():
    normalizer = ReturnNormalizer(decay=0.99)
    returns = torch.linspace(0, 100, 101)  # P5 = 5, P95 = 95: a range of 90
    assert normalizer.update(returns) == 1.0  # S = 0.01 * 90 = 0.9: divided by max(1, S) = 1
    torch.testing.assert_close(normalizer.scale, torch.tensor(0.9))
    torch.testing.assert_close(normalizer.update(returns), torch.tensor(0.99 * 0.9 + 0.9))  # 1.791


def test_the_slow_critic_moves_a_fixed_fraction_towards_the_critic():
    fast, slow = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    for p in fast.parameters():
        torch.nn.init.constant_(p, 1.0)
    for p in slow.parameters():
        torch.nn.init.constant_(p, 0.0)
    update_slow(slow, fast, rate=0.02)
    torch.testing.assert_close(slow.weight, torch.full((1, 1), 0.02))
    update_slow(slow, fast, rate=0.02)
    torch.testing.assert_close(slow.weight, torch.full((1, 1), 0.02 + 0.02 * 0.98))  # 0.0396


def test_the_critic_starts_at_zero_and_learns_the_returns_and_its_slow_copy():
    config = BehaviorConfig(hidden_dim=16)
    critic = Critic(5, config)
    slow = copy.deepcopy(critic)
    feats, returns = torch.randn(4, 3, 5), torch.randn(4, 3)
    assert torch.equal(critic(feats), torch.zeros(4, 3))
    torch.testing.assert_close(critic_loss(critic, slow, feats, returns, config), 0.5 * (returns**2).mean())


# ----- imagination and the actor's two gradients ---------------------------------------------------------


@pytest.fixture
def agent_parts():
    torch.manual_seed(0)
    model = RSSM(RSSMConfig(image_size=16, deter_dim=16, stoch_dim=4, hidden_dim=16, embed_dim=16, cnn_depth=4,
                            cnn_layers=2))
    config = BehaviorConfig(horizon=5, hidden_dim=16)
    feature_dim = 16 + 4 + 2
    start = model.initial_state(6)
    start = start._replace(h=torch.randn(6, 16))
    return model, config, Actor(feature_dim, 2, config), Critic(feature_dim, config), RewardHead(feature_dim, 16), start


def test_an_imagined_rollout_has_the_documented_shapes(agent_parts):
    model, config, actor, _, _, start = agent_parts
    goal = torch.rand(6, 2)
    rollout = imagine(model, actor, start, goal, horizon=5, gradient="reinforce")
    assert rollout.states.h.shape == (6, 6, 16) and rollout.states.z.shape == (6, 6, 4)  # s_0 ... s_5
    assert rollout.actions.shape == (5, 6, 2) and rollout.log_probs.shape == (5, 6)
    assert rollout.features.shape == (6, 6, 22)
    torch.testing.assert_close(rollout.features[0], features(start, goal))


@pytest.mark.parametrize("gradient", ["reinforce", "dynamics"])
def test_no_actor_critic_gradient_reaches_the_world_model(agent_parts, gradient):
    model, config, actor, critic, reward, start = agent_parts
    config = BehaviorConfig(horizon=5, hidden_dim=16, actor_gradient=gradient)
    loss, _, logs = actor_loss(model, actor, critic, reward, start, torch.rand(6, 2), ReturnNormalizer(), config)
    loss.backward()
    for net in (model, critic, reward):
        assert all(p.grad is None for p in net.parameters()), type(net).__name__
        assert all(p.requires_grad for p in net.parameters()), "the frozen parameters must be thawed again"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in actor.parameters())
    assert logs["returns"].shape == logs["values"].shape == logs["advantages"].shape == (5, 6)


def test_the_dynamics_gradient_flows_through_the_model_and_reinforce_does_not_need_it(agent_parts):
    """Backpropagation through the dynamics: the return changes with the actions, through the frozen model."""
    model, config, actor, critic, reward, start = agent_parts
    torch.nn.init.normal_(reward.net[-1].weight)  # a reward that depends on the state
    goal = torch.rand(6, 2)
    rollout = imagine(model, actor, start, goal, horizon=3, gradient="dynamics")
    assert rollout.features.requires_grad  # the states carry the actions' gradient
    last_layer = actor.net[-1].weight  # what the actions are made of
    (grad,) = torch.autograd.grad(reward(rollout.features[-1]).sum(), last_layer)
    assert grad.abs().sum() > 0  # the reward of the last state reaches the actor through the model
    detached = imagine(model, actor, start, goal, horizon=3, gradient="reinforce")
    assert not detached.features.requires_grad


@pytest.mark.parametrize(
    ("field", "value"),
    [("horizon", 0), ("discount", 0.0), ("return_lambda", 1.5), ("actor_gradient", "backprop"), ("entropy", -1.0),
     ("min_action_std", 0.0), ("hidden_dim", True)],
)
def test_a_bad_behavior_setting_is_refused_in_one_line(field, value):
    with pytest.raises(ValueError, match=f"BehaviorConfig.{field}=") as error:
        BehaviorConfig(**{field: value})
    assert "\n" not in str(error.value)


def test_the_action_std_range_must_be_a_range():
    with pytest.raises(ValueError, match="min_action_std=0.5: must be at most max_action_std=0.2"):
        BehaviorConfig(min_action_std=0.5, max_action_std=0.2)
