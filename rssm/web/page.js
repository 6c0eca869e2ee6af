/**
 * The Play page's entry point: load ONNX Runtime Web and the exported graphs, then mount the player
 * in `<div id="rssm-play">`. Everything it loads sits beside this file on the same site:
 *
 *     ort/ort.wasm.min.mjs, ort/ort-wasm-simd-threaded.{mjs,wasm}    the runtime (from npm, see package.json)
 *     model/manifest.json, model/*.onnx, model/reference.bin         written by `python -m rssm.export`
 *
 * Page address options: `?selftest` checks the graphs against PyTorch on load (and starts paused),
 * `?paused` starts paused, `?seed=N` makes the worlds and samples repeatable.
 *
 * The player is `window.rssmPlay` (see player.js), with `rssmPlay.selfCheck()` added here. Tests (and
 * the curious, in the browser's console) can drive a whole episode with it, no clicks needed:
 *
 *     await rssmPlay.reset(7)             // a new world, seeded
 *     await rssmPlay.setDriver("actor")   // "you" | "actor" | "planner"
 *     await rssmPlay.setGoal(20, 12)      // grid pixels: x the column, y the row
 *     for (let i = 0; i < 30; i++) await rssmPlay.step()   // the driver's action, one frame each
 *     rssmPlay.state()   // {frame, driver, goal, true_position, distance, success, episode_step, verdict, ...}
 *
 * `rssmPlay.episode(i)` loads episode i of the planning task (`rssm.planning.PlanningTask.episode`),
 * the episodes `benchmarks/behavior.py` scores, and `rssmPlay.setPlanner({candidates, top_k, iterations})`
 * changes the planner's search.
 *
 * @module page
 */

import { ActorDriver, PlannerDriver, loadEpisodes, worldFromEpisode } from "./agents.js";
import { OrtGraphs, OrtModel } from "./ort_backend.js";
import { Player } from "./player.js";
import { MovingDotWorld } from "./world.js";

const HERE = new URL(".", import.meta.url);
const RUNTIME_URL = new URL("ort/ort.wasm.min.mjs", HERE).href;
const MODEL_URL = new URL("model/", HERE).href;
const TOLERANCE = 1e-4; // per pixel, and pixels for positions

/** Whether this browser can run WebAssembly (some switch it off, e.g. in a locked-down mode). */
export function hasWebAssembly() {
  return typeof WebAssembly === "object" && typeof WebAssembly.instantiate === "function";
}

/** Largest absolute difference between two arrays of numbers. */
function maxDifference(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/**
 * Replay the scripted reference sequence of the export and compare with what PyTorch computed:
 * the world (positions, in pixels, and frames, per pixel) and the model's frames, watching every frame
 * and dreaming after K frames (per pixel). The model is fed PyTorch's true frames, so its check does
 * not depend on the world's. With the agent's graphs, also the actor's actions ({@link actorCheck}).
 * @param {OrtGraphs} graphs
 * @returns {Promise<{frames: number, positions: number, world: number, watch: number, dream: number, actor?: number, ok: boolean}>}
 */
export async function selfCheck(graphs) {
  const { reference, world: config, K } = graphs.manifest;
  const response = await fetch(new URL(reference.file, MODEL_URL));
  if (!response.ok) throw new Error(`${reference.file}: HTTP ${response.status}`);
  const raw = new Float32Array(await response.arrayBuffer());
  const pixels = reference.frame_shape.reduce((a, b) => a * b, 1);
  const block = (name, t) => {
    const start = reference.frames[name].offset / 4 + t * pixels;
    return raw.subarray(start, start + pixels);
  };
  const [x, y, vx, vy] = reference.initial_state;
  const world = new MovingDotWorld(config, { x, y, vx, vy }, reference.occluders);
  const result = { frames: reference.steps, positions: 0, world: 0, watch: 0, dream: 0 };
  for (let t = 0; t < reference.steps; t++) {
    const [px, py] = reference.positions[t];
    result.positions = Math.max(result.positions, Math.abs(world.state.x - px), Math.abs(world.state.y - py));
    result.world = Math.max(result.world, maxDifference(world.frame(), block("truth", t)));
    world.step(reference.actions[t]);
  }
  for (const mode of ["watch", "dream"]) {
    const model = new OrtModel(graphs);
    await model.reset();
    for (let t = 0; t < reference.steps; t++) {
      const previous = t === 0 ? [0, 0] : reference.actions[t - 1];
      const watched = mode === "watch" || t < K;
      const frame = await model.step(previous, watched ? block("truth", t) : null, null);
      result[mode] = Math.max(result[mode], maxDifference(frame, block(mode, t)));
    }
  }
  const checked = ["positions", "world", "watch", "dream"];
  if (graphs.hasAgent) {
    result.actor = await actorCheck(graphs);
    checked.push("actor");
  }
  result.ok = checked.every((key) => result[key] <= TOLERANCE);
  return result;
}

/**
 * Play the planning task's episode 0 with the actor as the page does (the page's world, the graphs'
 * filter, the actor graph) and return the largest difference from the actions PyTorch took in it.
 */
async function actorCheck(graphs) {
  const { episodes } = await loadEpisodes(new URL(graphs.manifest.agent.episodes.file, MODEL_URL));
  const spec = episodes[0];
  const world = worldFromEpisode(spec, graphs.manifest.world);
  const model = new OrtModel(graphs);
  const actor = new ActorDriver(graphs, 0); // no imagined rollout: only the action
  await model.reset();
  let previous = [0, 0];
  let worst = 0;
  for (const expected of spec.actor.actions) {
    await model.step(previous, world.frame(), null);
    const { action } = await actor.act(model.h, model.z, spec.goal);
    worst = Math.max(worst, maxDifference(action, expected));
    world.step(action);
    previous = action;
  }
  return worst;
}

/** A line under the player with a button that runs {@link selfCheck} and says what it found. */
function checkRow(graphs, root) {
  const output = document.createElement("span");
  output.dataset.readout = "selfcheck";
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.control = "selfcheck";
  button.textContent = "check against PyTorch";
  const row = document.createElement("p");
  row.className = "rssm-play__check";
  row.append(button, " ", output);
  const run = async () => {
    button.disabled = true;
    output.textContent = "replaying 40 frames...";
    try {
      const r = await selfCheck(graphs);
      root.dataset.selfcheck = JSON.stringify(r);
      output.textContent = `${r.ok ? "same numbers" : "DIFFERENT numbers"}: the largest difference from ` +
        `PyTorch per pixel over ${r.frames} frames is ${r.watch.toExponential(1)} watching and ` +
        `${r.dream.toExponential(1)} dreaming ` +
        `(the world: ${r.world.toExponential(1)} per pixel, ${r.positions.toExponential(1)} px)` +
        (r.actor === undefined ? "" : `; the actor's actions over the task's episode 0 differ by at most ${r.actor.toExponential(1)}`);
      return r;
    } catch (error) {
      output.textContent = `the check failed: ${error.message}`;
      throw error;
    } finally {
      button.disabled = false;
    }
  };
  button.addEventListener("click", () => run().catch(() => {}));
  return { row, run };
}

/** The actor and the planner, when the export holds the agent's graphs (else null: you drive alone). */
function makeAgents(graphs, seed) {
  const agent = graphs.manifest.agent;
  if (!agent) return null;
  let episodes = null;
  return {
    drivers: {
      actor: new ActorDriver(graphs, agent.imagination_horizon),
      planner: new PlannerDriver(graphs, agent.planner, seed ?? 0),
    },
    task: agent.task,
    limits: agent.planner_limits,
    episodes: () => (episodes ??= loadEpisodes(new URL(agent.episodes.file, MODEL_URL))),
    worldFromEpisode,
  };
}

function say(root, text, kind) {
  const message = document.createElement("p");
  message.className = "rssm-play__status";
  message.dataset.kind = kind;
  message.textContent = text;
  root.replaceChildren(message);
}

async function main() {
  const root = document.getElementById("rssm-play");
  if (!root) return;
  // From a file (file://) the runtime and the graphs cannot be fetched: keep the line play.md's classic
  // script wrote there, saying to run `make serve`, in a browser that runs this module at all.
  if (window.location.protocol === "file:") return;
  if (!hasWebAssembly()) {
    root.dataset.status = "no-webassembly";
    say(root, "This player runs the model with WebAssembly, which this browser does not offer or has switched off. " +
      "Try a recent Firefox, Chrome, Edge or Safari (outside a locked-down mode), or run chapter 5's notebook, " +
      "where the same player runs the model in Python.", "error");
    return;
  }
  say(root, "Loading the model (about 15 MB, once)...", "info");
  const params = new URLSearchParams(window.location.search);
  const seed = params.has("seed") ? Number(params.get("seed")) : undefined;
  const selftest = params.has("selftest");
  let graphs, player;
  try {
    graphs = await OrtGraphs.load(RUNTIME_URL, MODEL_URL);
    player = await Player.mount(root, new OrtModel(graphs), {
      world: graphs.manifest.world,
      K: graphs.manifest.K,
      autoplay: !selftest && !params.has("paused"),
      seed,
      agents: makeAgents(graphs, seed),
    });
  } catch (error) {
    root.dataset.status = "error";
    say(root, `The model could not be loaded: ${error.message ?? error}`, "error");
    console.warn(error);
    return;
  }
  const check = checkRow(graphs, root);
  root.append(check.row);
  player.selfCheck = check.run;
  window.rssmPlay = player;
  root.dataset.status = "ready";
  if (selftest) await check.run().catch(() => {});
}

main();
