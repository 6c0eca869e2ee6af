"""The model for the browser: ONNX graphs of one RSSM step, and the reference the browser checks them against.

The book's "Play" page (``book/play.md``) runs the shipped model in the reader's browser with ONNX
Runtime Web, with no Python anywhere. This module cuts the model into the three pieces a player needs
for one frame, each a small ``nn.Module`` that calls the model's own methods, with the state (h, z)
passed in and out:

- :class:`PriorStep`: ``(h, z, action, noise) -> (h_next, z_mode, z_sample)``, the GRU step and the
  prior p(z_t | h_t) of :meth:`rssm.model.RSSM.prior_step`: its mode (the Gaussian's mean, the
  categorical's most likely classes) and the sample that the standard-normal ``noise`` draws;
- :class:`PosteriorStep`: ``(h, frame, noise) -> (z_mode, z_sample)``, the encoder and the posterior
  q(z_t | h_t, e_t) of :meth:`rssm.model.RSSM.posterior`, for a frame the model is shown;
- :class:`DecodeStep`: ``(h, z) -> frame``, :meth:`rssm.model.RSSM.decode`.

Watching frame t is ``PriorStep`` (advance h with a_{t-1}) then ``PosteriorStep`` (correct z with the
frame); dreaming is ``PriorStep`` alone. The GRU lives in one graph only, so no weight is shipped twice.
The noise is an input (the browser draws it, ``noise_size`` standard-normal numbers) so that every graph
is deterministic and testable; how it becomes a sample is the latent's business
(:meth:`rssm.distributions.Gaussian.sample`, :meth:`rssm.distributions.Categorical.sample`), so both
kinds of latent export alike.

:func:`export_play_assets` writes the three ``.onnx`` files, a ``manifest.json`` (sizes, K, the world's
settings) and ``reference.bin``: the frames PyTorch predicts on a scripted 40-step sequence
(:func:`scripted_sequence`), watched and dreamed, which the page replays through the graphs to check them.
When the model is the one the shipped Dreamer agent was trained in (chapter 12), the page can also hand
the dot to an agent, and two more graphs are written (:func:`export_agent_assets`):

- :class:`ActorStep`: ``(h, z, goal) -> action``, the actor's action without exploration;
- :class:`ReadingStep`: ``(h, z) -> position``, where the agent's goal reward head reads the dot
  (:class:`rssm.dreamer.RewardReading`), which chapter 11's planner scores plans with;

and ``episodes.json``: the planning task's first episodes (start, goal, occluders) with what the
PyTorch actor did in each, for the page's tests. Every graph takes any batch, so the page's planner
imagines all its candidate plans with one ``prior_step`` call per imagined step.

Command line: ``python -m rssm.export OUT_DIR [--checkpoint NAME_OR_PATH] [--agent auto|none|PATH]``: a
shipped model's name or the path of a ``model.pt`` that ``rssm-train`` wrote. The book's build runs it
(``_ext/play_assets.py``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import logging
import math
import sys
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rssm.behavior import Actor, features
from rssm.checkpoint import PRETRAINED, checkpoint_path, load_checkpoint
from rssm.dataset import MovingDotConfig, ScriptedSequence, play_sequence
from rssm.dreamer import SHIPPED_AGENT, ActorAgent, LoadedAgent, RewardReading, goal_input, load_agent
from rssm.model import RSSM, RSSMState
from rssm.planning import PlannerConfig, PlanningTask, run_episode

MANIFEST_FORMAT = 3  # 2: the step graphs output z's mode and a sample; 3: any batch, and the agent's graphs
OPSET = 18  # the opset torch.onnx's exporter writes natively; ONNX Runtime Web 1.22 runs up to 22
REFERENCE_STEPS = 40  # frames in the scripted reference sequence
GRAPH_FILES = {"prior_step": "prior_step.onnx", "posterior_step": "posterior_step.onnx", "decoder": "decoder.onnx"}
AGENT_GRAPH_FILES = {"actor": "actor.onnx", "reading": "reading.onnx"}
TASK_EPISODES = 100  # the planning task's episodes 0..99 go into episodes.json (benchmarks/behavior.py's set)
MAX_BATCH = 4096  # the largest batch the graphs accept (the page's planner asks for at most 1,000)


# ----- one frame of the model, as three graphs ---------------------------------------------------


class PriorStep(nn.Module):
    """Advance the state by one action with the prior. The page steps one state, or all its planner's
    candidate plans at once.

    h: (B, deter), z: (B, latent), action: (B, action_dim) = a_{t-1}, noise: (B, noise_size).
    Returns h_t (B, deter), and z_t (B, latent) twice: the prior's mode and the sample ``noise`` draws.
    """

    def __init__(self, model: RSSM) -> None:
        super().__init__()
        self.model = model

    def forward(self, h: torch.Tensor, z: torch.Tensor, action: torch.Tensor, noise: torch.Tensor):
        h_next, prior = self.model.prior_step(RSSMState(h, z), action)
        return h_next, prior.mode, prior.sample(noise)


class PosteriorStep(nn.Module):
    """Correct z_t with the frame the model is shown: q(z_t | h_t, encoder(frame_t)).

    h: (B, deter) = h_t from :class:`PriorStep`, frame: (B, C, H, W), noise: (B, noise_size).
    Returns z_t (B, latent) twice: the posterior's mode and the sample ``noise`` draws.
    """

    def __init__(self, model: RSSM) -> None:
        super().__init__()
        self.model = model

    def forward(self, h: torch.Tensor, frame: torch.Tensor, noise: torch.Tensor):
        post = self.model.posterior(h, self.model.encoder(frame))  # encoder: (B, C, H, W) -> (B, embed)
        return post.mode, post.sample(noise)


class DecodeStep(nn.Module):
    """Render the state as a frame: (h (B, deter), z (B, latent)) -> (B, C, H, W), unsquashed."""

    def __init__(self, model: RSSM) -> None:
        super().__init__()
        self.model = model

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(h, z)


class ActorStep(nn.Module):
    """The actor's action without exploration, as the agent takes it when it is judged.

    h: (B, deter), z: (B, latent), goal: (B, 2) in pixels. Returns the action (B, 2) in (-1, 1): tanh of
    the actor's mean (:meth:`rssm.behavior.Actor.mode`) on [h, z, goal / grid side].
    """

    def __init__(self, actor: Actor, world: MovingDotConfig) -> None:
        super().__init__()
        self.actor, self.world = actor, world

    def forward(self, h: torch.Tensor, z: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return self.actor.mode(features(RSSMState(h, z), goal_input(goal, self.world)))


class ReadingStep(nn.Module):
    """Where the agent's goal reward head reads the dot in a state: (h (B, deter), z (B, latent)) -> (B, 2) pixels."""

    def __init__(self, reading: RewardReading) -> None:
        super().__init__()
        self.reading = reading

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.reading(h, z)


def graph_signatures(model: RSSM) -> dict[str, dict[str, dict[str, list[int]]]]:
    """Input and output names and shapes (batch 1) of each graph, as written into the manifest."""
    c = model.config
    h, z, a, noise = [1, c.deter_dim], [1, c.latent_size], [1, c.action_dim], [1, c.noise_size]
    frame = [1, c.image_channels, c.image_size, c.image_size]
    return {
        "prior_step": {
            "inputs": {"h": h, "z": z, "action": a, "noise": noise},
            "outputs": {"h_next": h, "z_mode": z, "z_sample": z},
        },
        "posterior_step": {"inputs": {"h": h, "frame": frame, "noise": noise}, "outputs": {"z_mode": z, "z_sample": z}},
        "decoder": {"inputs": {"h": h, "z": z}, "outputs": {"frame": frame}},
    }


def agent_signatures(model: RSSM) -> dict[str, dict[str, dict[str, list[int]]]]:
    """Input and output names and shapes (batch 1) of the agent's two graphs."""
    c = model.config
    h, z, a = [1, c.deter_dim], [1, c.latent_size], [1, c.action_dim]
    return {
        "actor": {"inputs": {"h": h, "z": z, "goal": [1, 2]}, "outputs": {"action": a}},
        "reading": {"inputs": {"h": h, "z": z}, "outputs": {"position": [1, 2]}},
    }


def step_modules(model: RSSM) -> dict[str, nn.Module]:
    """The three step modules around ``model`` (sharing its weights), keyed like :data:`GRAPH_FILES`."""
    return {"prior_step": PriorStep(model), "posterior_step": PosteriorStep(model), "decoder": DecodeStep(model)}


def export_graph(module: nn.Module, signature: dict[str, dict[str, list[int]]], path: Path) -> Path:
    """Export one step module with ``torch.onnx``: weights inside the file, any batch up to :data:`MAX_BATCH`
    (the first dimension of every input and output; the signature gives the shapes at batch 1)."""
    example = tuple(torch.zeros([2, *shape[1:]]) for shape in signature["inputs"].values())  # batch 2: not 1
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    dynamic = {name: {0: batch} for name in signature["inputs"]}
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # the exporter's notes about its own internals (e.g. no torchvision)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module.eval(),
                example,
                input_names=list(signature["inputs"]),
                output_names=list(signature["outputs"]),
                opset_version=OPSET,
                dynamo=True,
                dynamic_shapes=dynamic,
                external_data=False,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    program.save(str(path), external_data=False)
    return path


# ----- the scripted reference sequence ----------------------------------------------------------


def scripted_sequence(steps: int = REFERENCE_STEPS) -> ScriptedSequence:
    """The reference sequence: a dot that swerves across the grid and passes behind an occluder.

    The actions are smooth waves in [-1, 1] (no randomness), so the sequence is the same everywhere.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r}: must be a positive int")
    t = torch.arange(steps, dtype=torch.float32)
    actions = torch.stack([torch.cos(0.21 * t), torch.sin(0.13 * t + 0.5)], -1)  # (T, 2)
    occluders = ((14, 12, 7, 9), (3, 22, 9, 5))
    return ScriptedSequence(initial_state=(6.0, 9.0, 1.25, 0.5), occluders=occluders, actions=actions)


@torch.no_grad()
def reference_rollouts(model: RSSM, obs: torch.Tensor, actions: torch.Tensor, K: int) -> dict[str, torch.Tensor]:
    """What PyTorch predicts for one sequence, with the model's own sequence methods.

    obs: (T, 1, H, W), actions: (T, 2). Returns frames (T, 1, H, W) for
    ``watch`` (:meth:`RSSM.observe` with the posterior mean on every frame) and ``dream`` (the same for
    frames 0..K-1, then :meth:`RSSM.open_loop_rollout` with the prior's mean for frames K..T-1).
    """
    T = obs.shape[0]
    if not 1 <= K < T:
        raise ValueError(f"K={K!r}: must be in [1, T-1 = {T - 1}]")
    model = model.eval()
    obs, actions = obs[None], actions[None]  # (1, T, ...)
    watch = model.observe(obs, actions, sample=False).recon[0]
    dream = model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)[0]  # (T-K, 1, H, W)
    return {"watch": watch, "dream": torch.cat([watch[:K], dream])}


# ----- the agent ------------------------------------------------------------------------------


def mask_rows(mask: torch.Tensor) -> list[str]:
    """An occluder mask (1, H, W) bool as one hex string per row, the leftmost pixel the highest bit."""
    rows = []
    for row in mask[0].tolist():
        bits = "".join("1" if v else "0" for v in row)
        bits += "0" * (-len(bits) % 4)  # whole hex digits
        rows.append("".join(f"{int(bits[i : i + 4], 2):x}" for i in range(0, len(bits), 4)))
    return rows


def task_episodes(model: RSSM, world: MovingDotConfig, actor: Actor, task: PlanningTask, count: int) -> list[dict]:
    """The task's episodes 0..count-1 as the page loads them, each with what the PyTorch actor did in it:
    its actions (float32 values, written exactly), its final distance to the goal (pixels) and success."""
    episodes = []
    for index in range(count):
        spec = task.episode(index, world)
        result = run_episode(task, world, spec, ActorAgent(model, actor, world))
        episodes.append({
            "index": index,
            "start": [float(v) for v in spec.start_state.tolist()],
            "goal": [float(v) for v in spec.goal.tolist()],
            "occluders": mask_rows(spec.occluder_mask),
            "actor": {"actions": result.actions.tolist(), "final_distance": result.final_distance,
                      "success": result.success},
        })
    return episodes


def export_agent_assets(out: Path, model: RSSM, world: MovingDotConfig, agent: LoadedAgent,
                        source: dict[str, Any], task: PlanningTask | None = None) -> dict[str, Any]:
    """Write the actor's and the reward reading's graphs and ``episodes.json`` into ``out``; returns the
    manifest's ``agent`` entry: the graphs, the task, the planner's defaults and the limits the page allows."""
    task = task or PlanningTask()
    modules = {"actor": ActorStep(agent.actor, world), "reading": ReadingStep(RewardReading(agent.reward, world.grid_size))}
    signatures = agent_signatures(model)
    graphs = {}
    for name, module in modules.items():
        path = export_graph(module.eval(), signatures[name], out / AGENT_GRAPH_FILES[name])
        graphs[name] = {"file": path.name, "bytes": path.stat().st_size, **signatures[name]}
    episodes = task_episodes(model, world, agent.actor, task, TASK_EPISODES)
    (out / "episodes.json").write_text(json.dumps({"task": asdict(task), "episodes": episodes}) + "\n")
    planner = PlannerConfig()
    return {
        **source,
        "graphs": graphs,
        "imagination_horizon": agent.behavior.horizon,  # the steps the actor imagines ahead when it learns
        "task": asdict(task),
        "planner": asdict(planner),
        "planner_limits": {"candidates": [10, 1000], "top_k": [1, 100], "iterations": [1, 10]},
        "episodes": {"file": "episodes.json", "count": TASK_EPISODES},
    }


def matching_agent(agent: str | Path | None, checkpoint_file: Path | None) -> tuple[LoadedAgent | None, dict[str, Any]]:
    """The agent to export beside a model, and where it came from.

    ``agent``: "none", "auto" (the shipped agent, if ``checkpoint_file`` is the world model it was trained
    in) or the path of an agent file written by ``python -m rssm.dreamer``, whose world model must be
    ``checkpoint_file`` (same file name). Raises ValueError when an explicit agent does not match.
    """
    if agent is None or str(agent) == "none" or (str(agent) == "auto" and checkpoint_file is None):
        return None, {}
    path = SHIPPED_AGENT if str(agent) == "auto" else Path(agent)
    loaded = load_agent(path)
    if checkpoint_file is None or loaded.world_model != checkpoint_file.name:
        if str(agent) == "auto":
            return None, {}
        raise ValueError(f"--agent {path}: it was trained in {loaded.world_model}, not in the exported model "
                         f"{checkpoint_file.name if checkpoint_file else '(a model passed in)'}")
    return loaded, {"agent_file": path.name, "sha256": _sha256(path)}


# ----- the assets ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_play_assets(
    out_dir: str | Path,
    model: RSSM | None = None,
    world: MovingDotConfig | None = None,
    K: int = 8,
    checkpoint: str | Path = "moving_dot_occluded",
    agent: str | Path | None = "auto",
) -> Path:
    """Write the graphs, ``reference.bin`` and ``manifest.json`` into ``out_dir``; returns the manifest's path.

    With no ``model``, ``checkpoint`` is loaded, with its own world: a shipped model's name
    (:data:`rssm.checkpoint.PRETRAINED`) or the path of a ``model.pt`` written by ``rssm-train``.
    ``reference.bin`` holds float32 frames, one block per entry of the manifest's ``reference.frames``.
    ``agent`` (see :func:`matching_agent`) adds the agent's graphs; "auto" does so for the shipped
    agent's world model. A model passed in gets no agent.
    """
    if isinstance(K, bool) or not isinstance(K, int) or not 1 <= K < REFERENCE_STEPS:
        raise ValueError(f"K={K!r}: must be an int in [1, {REFERENCE_STEPS - 1}]")
    source: dict[str, Any] = {}
    checkpoint_file = None
    if model is None:
        path = checkpoint_file = checkpoint_path(checkpoint)
        loaded = load_checkpoint(path)
        model, world = loaded.model, world or loaded.data_config
        source = {"checkpoint": path.name, "sha256": _sha256(path)}
    if world is None:
        raise ValueError("world: pass the MovingDotConfig the model was trained on")
    c = model.config
    if world.grid_size != c.image_size or c.image_channels != 1 or c.action_dim != 2:
        raise ValueError(
            f"model and world disagree: the model reads {c.image_channels}x{c.image_size}x{c.image_size} frames and "
            f"{c.action_dim}-d actions, the world draws 1x{world.grid_size}x{world.grid_size} frames and 2-d actions"
        )
    loaded_agent, agent_source = matching_agent(agent, checkpoint_file)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().eval()  # the caller's model keeps its device and mode

    signatures = graph_signatures(model)
    graphs = {}
    for name, module in step_modules(model).items():
        path = export_graph(module, signatures[name], out / GRAPH_FILES[name])
        graphs[name] = {"file": path.name, "bytes": path.stat().st_size, **signatures[name]}

    sequence = scripted_sequence()
    played = play_sequence(sequence, world)
    expected = reference_rollouts(model, played["obs"], sequence.actions, K)
    blocks = {"truth": played["obs"], **expected}
    buffer = io.BytesIO()
    frames_index = {}
    for name, frames in blocks.items():
        data = frames.contiguous().numpy().astype("<f4").tobytes()
        frames_index[name] = {"offset": buffer.tell(), "count": int(frames.shape[0])}
        buffer.write(data)
    (out / "reference.bin").write_bytes(buffer.getvalue())

    manifest = {
        "format": MANIFEST_FORMAT,
        "K": K,
        "model": {**c.to_dict(), "latent_size": c.latent_size, "noise_size": c.noise_size, **source},
        "world": world.to_dict(),
        "graphs": graphs,
        "reference": {
            "file": "reference.bin",
            "steps": REFERENCE_STEPS,
            "frame_shape": [1, world.grid_size, world.grid_size],
            "initial_state": list(sequence.initial_state),
            "occluders": [list(r) for r in sequence.occluders],
            "actions": sequence.actions.tolist(),  # float32 values, written exactly
            "positions": [[float(v) for v in s[:2]] for s in played["states"].tolist()],
            "frames": frames_index,
            "modes": {
                "watch": "the posterior's mode on every frame",
                "dream": f"the posterior's mode for frames 0..{K - 1}, then the prior's mode",
            },
        },
    }
    for stale in [*AGENT_GRAPH_FILES.values(), "episodes.json"]:  # an earlier export's agent, into the same folder
        (out / stale).unlink(missing_ok=True)
    if loaded_agent is not None:
        manifest["agent"] = export_agent_assets(out, model, world, loaded_agent, agent_source)
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def read_reference(manifest_path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load ``manifest.json`` and the frames of ``reference.bin``: {name: (N, 1, H, W) float32}."""
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    ref = manifest["reference"]
    raw = np.frombuffer((manifest_path.parent / ref["file"]).read_bytes(), dtype="<f4")
    per_frame = math.prod(ref["frame_shape"])
    frames = {}
    for name, block in ref["frames"].items():
        start = block["offset"] // 4
        block_frames = raw[start : start + block["count"] * per_frame]
        frames[name] = block_frames.reshape(block["count"], *ref["frame_shape"]).copy()
    return manifest, frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rssm.export",
        description="Export an RSSM to ONNX for the book's Play page: a shipped model, or your own model.pt.",
    )
    parser.add_argument("out_dir", help="folder for the .onnx files, manifest.json and reference.bin")
    parser.add_argument(
        "--checkpoint",
        default="moving_dot_occluded",
        help=f"a shipped model ({', '.join(PRETRAINED)}) or the path of a model.pt that rssm-train wrote "
        "(default: moving_dot_occluded)",
    )
    parser.add_argument("--K", type=int, default=8, help="frames the page watches before it dreams (default 8)")
    parser.add_argument(
        "--agent",
        default="auto",
        help="the agent the page can hand the dot to: auto (the shipped agent, with the model it was trained in), "
        "none, or the path of an agent file that `python -m rssm.dreamer` wrote for this model (default: auto)",
    )
    args = parser.parse_args(argv)
    try:
        manifest = export_play_assets(args.out_dir, K=args.K, checkpoint=args.checkpoint, agent=args.agent)
    except (ValueError, FileNotFoundError) as error:
        print(f"rssm.export: {error}", file=sys.stderr)
        return 2
    files = sorted(p for p in manifest.parent.iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {manifest.parent}: {', '.join(p.name for p in files)} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
