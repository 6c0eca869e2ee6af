"""Planning in the learned model: the task, the step-by-step world, CEM, the agents and the benchmark CLI."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rssm.dataset import MovingDotConfig, MovingDotEnv, generate_moving_dot_sequences
from rssm.planning import (
    EpisodeSpec,
    LatentModel,
    MPCAgent,
    PlannerConfig,
    PlanningTask,
    SimulatorModel,
    cem_plan,
    evaluate_planner,
    filter_step,
    head_training_data,
    make_agent,
    plan_scores,
    run_episode,
    train_position_head,
)

ROOT = Path(__file__).resolve().parents[1]
TINY_PLANNER = PlannerConfig(candidates=64, horizon=6, top_k=8, iterations=3)


@pytest.fixture
def tiny_latent(small_model, small_data_config) -> LatentModel:
    head = train_position_head(small_model, small_data_config, steps=20, seed=0, sequences=4)
    return LatentModel(small_model, head)


def easy_episode(world: MovingDotConfig) -> EpisodeSpec:
    """The dot at rest, the goal 6 px to its right, no occluders."""
    mask = torch.zeros(1, world.grid_size, world.grid_size, dtype=torch.bool)
    return EpisodeSpec(0, torch.tensor([5.0, 8.0, 0.0, 0.0]), torch.tensor([11.0, 8.0]), mask)


# ----- the task --------------------------------------------------------------------------------------


def test_success_means_ending_within_the_task_radius_of_the_goal():
    task = PlanningTask(success_radius=2.0)
    goal = torch.tensor([10.0, 10.0])
    assert task.success(torch.tensor([12.0, 10.0]), goal)
    assert not task.success(torch.tensor([12.1, 10.0]), goal)
    assert task.success(torch.tensor([[10.0, 11.0], [20.0, 20.0]]), goal).tolist() == [True, False]


def test_episode_success_and_report_rates_come_from_the_task_definition(small_data_config):
    world = small_data_config
    strict, loose = PlanningTask(episode_steps=4, success_radius=0.0), PlanningTask(episode_steps=4, success_radius=100.0)
    for task, expected in ((strict, 0.0), (loose, 1.0)):
        report = evaluate_planner("random", task, world, 3, TINY_PLANNER)
        assert report.success_rate == expected
        for result in report.results:
            assert result.success == bool(task.success(result.positions[-1], result.spec.goal))


def test_the_same_seed_gives_the_same_episode_and_another_index_does_not(small_data_config):
    task = PlanningTask(seed=5)
    a, b, c = task.episode(2, small_data_config), task.episode(2, small_data_config), task.episode(3, small_data_config)
    for field in ("start_state", "goal", "occluder_mask"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert a.seed == PlanningTask(seed=7).episode(0, small_data_config).seed == 7
    assert not torch.equal(a.goal, c.goal)


def test_a_goal_behind_an_occluder_is_flagged_hidden(small_data_config):
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[:, 4:8, 10:14] = True  # rows 4..7, columns 10..13
    spec = EpisodeSpec(0, torch.zeros(4), torch.tensor([11.0, 5.0]), mask)  # (x, y): column 11, row 5
    assert spec.goal_hidden
    assert not EpisodeSpec(0, torch.zeros(4), torch.tensor([5.0, 11.0]), mask).goal_hidden


def test_goals_lie_inside_the_walls_by_the_margin(small_data_config):
    task = PlanningTask(goal_margin=2.0)
    goals = torch.stack([task.episode(i, small_data_config).goal for i in range(50)])
    assert goals.min() >= small_data_config.wall_low + 2 and goals.max() <= small_data_config.wall_high - 2


def test_an_episodes_goal_is_drawn_independently_of_where_the_dot_starts():
    """torch keeps only a seed's low 32 bits: an offset of 2**40 replayed the start's stream, goal next to start."""
    world = MovingDotConfig()
    specs = [PlanningTask().episode(i, world) for i in range(100)]
    starts, goals = torch.stack([s.start_state[:2] for s in specs]), torch.stack([s.goal for s in specs])
    assert (goals - starts).norm(dim=-1).mean() > 8.0  # uniform and independent: about 12 px on 32x32
    for axis in (0, 1):
        assert abs(torch.corrcoef(torch.stack([starts[:, axis], goals[:, axis]]))[0, 1]) < 0.3


def test_an_episode_starts_where_the_world_generator_starts_a_sequence():
    world = MovingDotConfig()
    spec = PlanningTask(seed=11).episode(0, world)
    batch = generate_moving_dot_sequences(world, 1, seed=11)
    assert torch.equal(spec.start_state, batch["states"][0, 0])
    assert torch.equal(spec.occluder_mask, batch["occluder_mask"][0])
    assert torch.equal(MovingDotEnv(world, spec).reset(), batch["obs"][0, 0])


# ----- the world, one step at a time -----------------------------------------------------------------


def test_env_steps_follow_the_generated_sequences_dynamics_and_frames_for_scripted_actions():
    world = MovingDotConfig(seq_len=40)
    batch = generate_moving_dot_sequences(world, 3, seed=4)
    for b in range(3):
        spec = EpisodeSpec(0, batch["states"][b, 0], torch.zeros(2), batch["occluder_mask"][b])
        env = MovingDotEnv(world, spec)
        frames = [env.reset()]
        positions = [env.position]
        for t in range(world.seq_len - 1):
            frames.append(env.step(batch["actions"][b, t]))
            positions.append(env.position)
        torch.testing.assert_close(torch.stack(positions), batch["states"][b, :, :2])
        torch.testing.assert_close(torch.stack(frames), batch["obs"][b])


def test_env_clips_actions_to_the_unit_box(small_data_config):
    spec = easy_episode(small_data_config)
    big, unit = MovingDotEnv(small_data_config, spec), MovingDotEnv(small_data_config, spec)
    big.step(torch.tensor([5.0, -3.0]))
    unit.step(torch.tensor([1.0, -1.0]))
    assert torch.equal(big.state, unit.state)


def test_the_oracle_imagines_exactly_what_the_env_does(small_data_config):
    spec = easy_episode(small_data_config)
    env = MovingDotEnv(small_data_config, spec)
    actions = 2 * torch.rand(1, 8, 2) - 1
    imagined = SimulatorModel(env).imagine(env.state.clone(), actions)[0]  # (8, 2)
    stepped = []
    for action in actions[0]:
        env.step(action)
        stepped.append(env.position)
    torch.testing.assert_close(imagined, torch.stack(stepped))


# ----- CEM -------------------------------------------------------------------------------------------


def test_a_plan_that_stops_at_the_goal_scores_higher_than_one_that_overshoots():
    goal = torch.tensor([10.0, 0.0])
    stops = torch.tensor([[[8.0, 0.0], [10.0, 0.0], [10.0, 0.0], [10.0, 0.0]]])
    overshoots = torch.tensor([[[8.0, 0.0], [10.0, 0.0], [12.0, 0.0], [14.0, 0.0]]])
    assert plan_scores(stops, goal) > plan_scores(overshoots, goal)


def test_cem_with_the_oracle_model_reaches_the_goal_in_an_easy_episode(small_data_config):
    task = PlanningTask(episode_steps=15)
    spec = easy_episode(small_data_config)
    env = MovingDotEnv(small_data_config, spec)
    result = run_episode(task, small_data_config, spec, MPCAgent(SimulatorModel(env), TINY_PLANNER), env=env)
    assert result.success and result.final_distance < 0.5


def test_the_oracle_with_default_settings_solves_the_first_episodes_of_the_task():
    """The task is solvable in its episode length: the upper bound succeeds (the benchmark: 100 of 100)."""
    report = evaluate_planner("oracle", PlanningTask(), MovingDotConfig(), 3, PlannerConfig())
    assert report.success_rate == 1.0 and report.mean_final_distance < 0.5


def test_cem_only_tries_and_returns_actions_in_the_unit_box(small_data_config):
    class Spy:  # a model that rewards pushing as hard as possible: x grows with every action
        def __init__(self):
            self.tried = []

        def imagine(self, belief, actions):
            self.tried.append(actions)
            return torch.cumsum(actions * 10, 1)  # (N, H, 2)

    spy = Spy()
    config = PlannerConfig(candidates=32, horizon=5, top_k=4, iterations=3, init_std=5.0)
    plan = cem_plan(spy, None, torch.tensor([1e4, 1e4]), config, torch.Generator().manual_seed(0))
    tried = torch.cat(spy.tried)
    assert tried.abs().max() <= 1 and plan.actions.abs().max() <= 1
    assert plan.actions.shape == (5, 2) and plan.elite_scores.shape == (3, 4)
    assert plan.actions.mean() > 0.5  # and it pushes


def test_elite_scores_improve_over_cem_iterations(small_data_config):
    spec = easy_episode(small_data_config)
    env = MovingDotEnv(small_data_config, spec)
    config = PlannerConfig(candidates=200, horizon=8, top_k=20, iterations=5)
    plan = cem_plan(SimulatorModel(env), env.state.clone(), spec.goal, config, torch.Generator().manual_seed(0))
    means = plan.elite_scores.mean(1)
    assert means[-1] > means[0]
    assert (plan.elite_scores[:, :-1] >= plan.elite_scores[:, 1:]).all()  # best first


# ----- the agents ------------------------------------------------------------------------------------


def test_the_rssm_agent_only_ever_receives_frames(small_data_config, tiny_latent):
    """The agent is handed frames and nothing else, and acts the same when driven by the frames alone."""
    task = PlanningTask(episode_steps=6)
    spec = task.episode(0, small_data_config)

    class Spy(MPCAgent):
        seen = []  # noqa: RUF012  every call to act, in order

        def act(self, *args, **kwargs):
            self.seen.append((args, kwargs))
            return super().act(*args, **kwargs)

    agent = Spy(tiny_latent, TINY_PLANNER)
    result = run_episode(task, small_data_config, spec, agent, record=True)
    assert len(agent.seen) == task.episode_steps
    for (args, kwargs), record in zip(agent.seen, result.records):
        assert kwargs == {} and len(args) == 1 and torch.equal(args[0], record.frame)
    assert not any(isinstance(value, MovingDotEnv) for value in vars(agent).values())
    assert not any(isinstance(value, MovingDotEnv) for value in vars(tiny_latent).values())

    replay = MPCAgent(tiny_latent, TINY_PLANNER)  # no env at all: only the recorded frames
    replay.reset(spec.goal, spec.seed, task.episode_steps)
    actions = torch.stack([replay.act(record.frame) for record in result.records])
    assert torch.equal(actions, result.actions)


def test_the_same_seed_replays_the_same_rssm_episode(small_data_config, tiny_latent):
    task = PlanningTask(episode_steps=5)
    spec = task.episode(1, small_data_config)
    a = run_episode(task, small_data_config, spec, MPCAgent(tiny_latent, TINY_PLANNER))
    b = run_episode(task, small_data_config, spec, MPCAgent(tiny_latent, TINY_PLANNER))
    assert torch.equal(a.actions, b.actions) and torch.equal(a.positions, b.positions)


def test_records_hold_what_the_planning_chapter_shows(small_data_config, tiny_latent):
    task = PlanningTask(episode_steps=8)
    spec = task.episode(0, small_data_config)
    result = run_episode(task, small_data_config, spec, MPCAgent(tiny_latent, TINY_PLANNER), record=True)
    S = small_data_config.grid_size
    assert [r.t for r in result.records] == list(range(8))
    first, last = result.records[0], result.records[-1]
    assert first.frame.shape == first.belief_frame.shape == (1, S, S) and first.belief_position.shape == (2,)
    assert first.plan_frames.shape == (TINY_PLANNER.horizon, 1, S, S)
    assert first.plan_positions.shape == first.plan_actions.shape == (TINY_PLANNER.horizon, 2)
    assert first.elite_scores.shape == (TINY_PLANNER.iterations, TINY_PLANNER.top_k)
    assert last.plan_actions.shape == (1, 2)  # the horizon shrinks to the steps left
    assert torch.equal(first.action, result.actions[0]) and torch.equal(first.position, result.positions[0])
    assert result.positions.shape == (9, 2)


def test_random_agent_acts_uniformly_in_the_unit_box(small_data_config):
    agent = make_agent("random", MovingDotEnv(small_data_config, easy_episode(small_data_config)), TINY_PLANNER)
    agent.reset(torch.zeros(2), seed=0, steps=500)
    actions = torch.stack([agent.act(torch.zeros(1, 16, 16)) for _ in range(500)])
    assert actions.abs().max() <= 1 and actions.min() < -0.9 and actions.max() > 0.9


def test_filter_step_by_step_is_the_models_posterior_filter(small_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    with torch.no_grad():
        whole = small_model.observe(obs, actions, sample=False)
    belief = small_model.initial_state(obs.shape[0])
    prev_actions = torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], 1)
    for t in range(obs.shape[1]):
        belief = filter_step(small_model, belief, prev_actions[:, t], obs[:, t])
        torch.testing.assert_close(belief.h, whole.h[:, t])
        torch.testing.assert_close(belief.z, whole.z[:, t])


def test_head_training_data_pairs_each_latent_with_its_true_position(small_model, small_data_config):
    h, z, positions = head_training_data(small_model, small_data_config, sequences=3, seed=1)
    batch = generate_moving_dot_sequences(small_data_config, 3, seed=1)
    with torch.no_grad():
        whole = small_model.observe(batch["obs"], batch["actions"], sample=False)
    t, b = 5, 2  # rows are time-major: row t * sequences + b
    torch.testing.assert_close(h[t * 3 + b], whole.h[b, t])
    torch.testing.assert_close(z[t * 3 + b], whole.z[b, t])
    assert torch.equal(positions[t * 3 + b], batch["states"][b, t, :2])


def test_train_position_head_is_deterministic_given_its_seed(small_model, small_data_config):
    a = train_position_head(small_model, small_data_config, steps=10, seed=3, sequences=2)
    b = train_position_head(small_model, small_data_config, steps=10, seed=3, sequences=2)
    c = train_position_head(small_model, small_data_config, steps=10, seed=4, sequences=2)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


# ----- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: PlannerConfig(candidates=0), "candidates"),
        (lambda: PlannerConfig(candidates=10, top_k=20), "top_k"),
        (lambda: PlannerConfig(horizon=1.5), "horizon"),
        (lambda: PlannerConfig(iterations=True), "iterations"),
        (lambda: PlannerConfig(init_std=0), "init_std"),
        (lambda: PlannerConfig(min_std=-1), "min_std"),
        (lambda: PlannerConfig(warm_start="yes"), "warm_start"),
        (lambda: PlanningTask(episode_steps=0), "episode_steps"),
        (lambda: PlanningTask(success_radius=-1), "success_radius"),
        (lambda: PlanningTask(goal_margin=float("nan")), "goal_margin"),
        (lambda: PlanningTask(seed=-1), "seed"),
    ],
)
def test_bad_settings_raise_value_error_naming_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_make_agent_rejects_an_unknown_planner_and_an_rssm_planner_without_a_model(small_data_config):
    env = MovingDotEnv(small_data_config, easy_episode(small_data_config))
    with pytest.raises(ValueError, match="planner"):
        make_agent("greedy", env, TINY_PLANNER)
    with pytest.raises(ValueError, match="LatentModel"):
        make_agent("rssm", env, TINY_PLANNER)


def load_benchmark():
    """benchmarks/planning.py as a module, to call its main() in this process."""
    spec = importlib.util.spec_from_file_location("planning_benchmark", ROOT / "benchmarks" / "planning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "flags, named",
    [(["--candidates", "0"], "candidates"), (["--episodes", "0"], "episodes"), (["--top_k", "x"], "top_k"),
     (["--candidates", "10", "--top_k", "20"], "top_k"), (["--warm_start", "maybe"], "warm_start")],
)
def test_the_benchmark_rejects_a_bad_flag_with_one_line_naming_it(capsys, flags, named):
    with pytest.raises(SystemExit) as exit_:
        load_benchmark().main(flags)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and named in err, err


def test_the_benchmark_runs_from_any_directory(tmp_path):
    script = ROOT / "benchmarks" / "planning.py"
    done = subprocess.run([sys.executable, str(script), "--nonsense"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == ""  # argparse got as far as the flags: the imports resolved
    assert done.stderr.strip().splitlines() == ["planning.py: error: unrecognized arguments: --nonsense"]


def test_a_planner_counts_the_steps_it_imagines_per_action():
    from rssm.planning import PLANET_PLANNER, PlannerConfig

    assert PlannerConfig().imagined_steps == 100 * 12 * 3 == 3_600  # chapter 11's figure
    assert PLANET_PLANNER.imagined_steps == 120_000  # PlaNet's, 33 times more
