"""The Dreamer agent loop (rssm.dreamer): what the world returns, what the agent sees, and a tiny loop end to end."""

import pytest
import torch

from rssm.behavior import BehaviorConfig
from rssm.dataset import MovingDotEnv
from rssm.dreamer import ActorAgent, AgentConfig, DreamerAgent, collect, filtered_states, goal_input, train_agent
from rssm.planning import PlanningTask, distance, run_episode

TASK = PlanningTask(episode_steps=6)
TINY_BEHAVIOR = BehaviorConfig(horizon=3, hidden_dim=8)
TINY_LOOP = AgentConfig(prefill_episodes=2, iterations=2, episodes_per_iteration=2, reward_updates=2, behavior_updates=2, start_states=8,
                        reward_batch=2)


def test_the_reward_is_minus_the_distance_to_the_goal_in_grid_sides(small_data_config):
    goal = torch.tensor([4.0, 4.0])
    reward = TASK.reward(torch.tensor([[4.0, 4.0], [4.0, 12.0]]), goal, small_data_config)  # a 16 px grid
    torch.testing.assert_close(reward, torch.tensor([0.0, -0.5]))


def test_collected_episodes_hold_every_frame_action_and_reward(small_model, small_data_config):
    agent = DreamerAgent.create(small_model, TINY_BEHAVIOR, TINY_LOOP)
    specs = [TASK.episode(i, small_data_config) for i in range(3)]
    replay = collect(TASK, small_data_config, specs, ActorAgent(small_model, agent.actor, small_data_config))
    T = TASK.episode_steps
    assert replay.obs.shape == (3, T + 1, 1, 16, 16) and replay.actions.shape == (3, T + 1, 2)
    assert replay.rewards.shape == (3, T + 1) and torch.equal(replay.actions[:, -1], torch.zeros(3, 2))
    env = MovingDotEnv(small_data_config, specs[0])  # replay the first episode's actions in the world
    assert torch.equal(env.reset(), replay.obs[0, 0])
    for t in range(T):
        assert torch.equal(env.step(replay.actions[0, t]), replay.obs[0, t + 1])
    expected = -distance(env.position, specs[0].goal) / small_data_config.grid_size
    torch.testing.assert_close(replay.rewards[0, -1], expected)
    states = filtered_states(small_model, replay)
    assert states.h.shape == (3, T + 1, small_model.config.deter_dim)


def test_the_actor_agent_acts_from_frames_and_the_goal_alone(small_model, small_data_config):
    """Two runs of an episode agree, and the agent's actions depend on the goal it is given."""
    agent = DreamerAgent.create(small_model, TINY_BEHAVIOR, TINY_LOOP)
    torch.nn.init.normal_(agent.actor.net[-1].weight)  # an actor whose output depends on its input
    spec = TASK.episode(0, small_data_config)
    actor = ActorAgent(small_model, agent.actor, small_data_config)
    first = run_episode(TASK, small_data_config, spec, actor)
    again = run_episode(TASK, small_data_config, spec, actor)
    assert torch.equal(first.actions, again.actions)
    moved = type(spec)(spec.seed, spec.start_state, spec.goal.flip(0) + 1, spec.occluder_mask)
    assert not torch.equal(run_episode(TASK, small_data_config, moved, actor).actions, first.actions)
    torch.testing.assert_close(goal_input(torch.tensor([8.0, 4.0]), small_data_config), torch.tensor([0.5, 0.25]))


@pytest.mark.parametrize("gradient", ["reinforce", "dynamics"])
def test_a_tiny_agent_loop_runs_and_leaves_the_world_model_untouched(small_model, small_data_config, gradient):
    before = {k: v.clone() for k, v in small_model.state_dict().items()}
    behavior = BehaviorConfig(horizon=3, hidden_dim=8, actor_gradient=gradient)
    seen = []
    agent, history = train_agent(small_model, TASK, small_data_config, behavior, TINY_LOOP,
                                 on_iteration=lambda k, agent, log: seen.append(k))
    assert seen == [0, 1] and [log["episodes"] for log in history] == [4, 6]  # 2 random ones first
    assert "success" not in history[0]  # no monitoring episodes asked for
    assert all(torch.equal(before[k], v) for k, v in small_model.state_dict().items())
    assert all(p.requires_grad for p in small_model.parameters())


@pytest.mark.parametrize(("field", "value"), [("iterations", 0), ("reward_lr", -1.0), ("start_states", 1.5)])
def test_a_bad_agent_setting_is_refused_in_one_line(field, value):
    with pytest.raises(ValueError, match=f"AgentConfig.{field}="):
        AgentConfig(**{field: value})


def test_the_goal_reward_head_is_minus_the_distance_from_its_reading_to_the_goal():
    from rssm.dreamer import GoalRewardHead

    head = GoalRewardHead(state_dim=3, hidden_dim=4)
    feats = torch.cat([torch.randn(5, 3), torch.rand(5, 2)], -1)  # [h, z] and the goal in grid sides
    place = head.position(feats)
    torch.testing.assert_close(head(feats), -(place - feats[:, 3:]).norm(dim=-1))
    on_goal = torch.cat([feats[:, :3], place.detach()], -1)  # the goal where the head reads the dot
    torch.testing.assert_close(head(on_goal), torch.zeros(5))


def test_an_agent_file_round_trips_and_a_foreign_file_is_refused_in_one_line(tmp_path, small_model, small_data_config):
    from rssm.checkpoint import save_checkpoint
    from rssm.dreamer import load_agent, save_agent

    agent = DreamerAgent.create(small_model, TINY_BEHAVIOR, TINY_LOOP)
    world_model = save_checkpoint(tmp_path / "model.pt", small_model, small_data_config, {}, {})
    agent.normalizer.scale.fill_(2.5)
    path = save_agent(tmp_path / "agent.pt", agent, TINY_BEHAVIOR, TINY_LOOP, world_model, [{"round": 1.0}], 1.5)
    loaded = load_agent(path)
    assert loaded.return_scale == 2.5 and loaded.seconds == 1.5 and loaded.history == [{"round": 1.0}]
    feats = torch.randn(3, small_model.config.deter_dim + small_model.config.latent_size + 2)
    torch.testing.assert_close(loaded.actor.mode(feats), agent.actor.mode(feats))
    torch.testing.assert_close(loaded.reward(feats), agent.reward(feats))
    assert loaded.behavior == TINY_BEHAVIOR and loaded.config == TINY_LOOP and loaded.world_model == "model.pt"
    with pytest.raises(ValueError, match="not a readable agent file") as error:
        load_agent(world_model)  # a world model is no agent
    assert "\n" not in str(error.value)


def test_the_shipped_agent_was_trained_in_the_shipped_world_model_and_stays_small():
    from rssm.dreamer import SHIPPED_AGENT, load_agent

    loaded = load_agent()
    assert loaded.world_model == "moving_dot_occluded.pt" and loaded.behavior.actor_gradient == "dynamics"
    assert SHIPPED_AGENT.stat().st_size < 1_000_000
    assert len(loaded.history) == loaded.config.iterations
    assert all(0.0 <= log["success"] <= 1.0 for log in loaded.history)  # recorded on the monitoring episodes
    assert loaded.return_scale > 0


def test_monitoring_plays_the_actors_mean_action_on_episodes_apart_from_training_and_evaluation(
        small_model, small_data_config):
    from dataclasses import replace

    from rssm.dreamer import MONITOR_EPISODES, TRAINING_EPISODES, evaluate_actor

    config = replace(TINY_LOOP, iterations=1, monitor_episodes=3)
    agent, history = train_agent(small_model, TASK, small_data_config, TINY_BEHAVIOR, config)
    watched = evaluate_actor(small_model, agent.actor, TASK, small_data_config, [MONITOR_EPISODES + i for i in range(3)])
    assert history[0]["success"] == sum(r.success for r in watched) / 3
    assert history[0]["final_distance"] == pytest.approx(sum(r.final_distance for r in watched) / 3)
    assert 1_000 < MONITOR_EPISODES < TRAINING_EPISODES  # past any evaluation, below every training episode


def test_the_reward_reading_is_the_goal_reward_heads_position_in_pixels(small_data_config):
    from rssm.dreamer import GoalRewardHead, RewardReading

    head = GoalRewardHead(state_dim=5, hidden_dim=4)
    h, z = torch.randn(7, 3), torch.randn(7, 2)
    reading = RewardReading(head, small_data_config.grid_size)(h, z)
    torch.testing.assert_close(reading, small_data_config.grid_size * head.position(torch.cat([h, z], -1)))


def test_a_timed_agent_acts_as_its_agent_and_counts_its_actions(small_data_config):
    from rssm.planning import RandomAgent, TimedAgent

    spec = TASK.episode(0, small_data_config)
    plain, timed = RandomAgent(), TimedAgent(RandomAgent())
    first = run_episode(TASK, small_data_config, spec, plain)
    second = run_episode(TASK, small_data_config, spec, timed)
    assert torch.equal(first.actions, second.actions)
    assert timed.actions == TASK.episode_steps and timed.seconds > 0 and timed.view() is None
    assert timed.ms_per_action == 1000 * timed.seconds / timed.actions
