/**
 * Agents that drive the dot to a goal inside the model: the shipped Dreamer actor (chapter 12) and
 * chapter 11's CEM planner, both run through the exported graphs (see `rssm/export.py`):
 *
 *     actor        (h, z, goal) -> action       the actor's action without exploration, tanh of its mean
 *     reading      (h, z) -> position           where the agent's goal reward head reads the dot (pixels)
 *     prior_step   (h, z, action, noise) -> (h_next, z_mode, z_sample)
 *
 * Both see only what the model holds, the state (h, z) it filtered from the frames, and the goal.
 * Each decision also returns what the agent imagined: the path the reward head reads off its imagined
 * states (the planner's chosen plan and a few of its candidates; the actor's own rollout), in pixels.
 * Every graph takes a batch, so the planner imagines all its candidates with one call per step.
 *
 * @module agents
 */

import { MovingDotWorld, makeRng, randn } from "./world.js";

/**
 * What a driver returns for one frame.
 * @typedef {object} Decision
 * @property {number[]} action  [ax, ay] in [-1, 1], applied to the world
 * @property {number} ms  milliseconds the decision took (the actor: one graph call; the planner: its search)
 * @property {number} imaginedSteps  prior steps imagined to choose the action (0 for the actor)
 * @property {number[][]} path  [[x, y], ...] the dot where the agent imagines it after each action, from now
 * @property {number[][][]} candidates  a few other imagined paths (the planner's first candidates), drawn faintly
 * @property {number[]} belief  [x, y] where the reward head reads the dot in the current state
 */

/** Copy `data` (one state) `n` times into one array: a batch of n equal states. */
function tile(data, n) {
  const out = new Float32Array(data.length * n);
  for (let i = 0; i < n; i++) out.set(data, i * data.length);
  return out;
}

/** The points of a batch of positions (B, 2) as [[x, y], ...]. */
function points(flat) {
  const out = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/** Run `prior_step` from a batch of states with the prior's mode (the planner's and the actor's imagination). */
async function imagineStep(graphs, h, z, actions, batch) {
  const noise = new Float32Array(batch * graphs.manifest.model.noise_size);
  const out = await graphs.run("prior_step", { h, z, action: actions, noise }, batch);
  return { h: out.h_next, z: out.z_mode };
}

/** The shipped actor: one `actor` call per frame; its imagined rollout is drawn, not needed to act. */
export class ActorDriver {
  /**
   * @param {import("./ort_backend.js").OrtGraphs} graphs  with the agent's graphs (manifest.agent)
   * @param {number} horizon  steps of the imagined rollout drawn (the horizon the actor learnt with)
   */
  constructor(graphs, horizon) {
    this.graphs = graphs;
    this.horizon = horizon;
  }

  reset() {}

  /** The actor's action for state (h, z) and goal [x, y] pixels, then its imagined rollout from there. */
  async act(h, z, goal) {
    const g = Float32Array.from(goal);
    const started = performance.now();
    const action = Array.from((await this.graphs.run("actor", { h, z, goal: g })).action);
    const ms = performance.now() - started;
    const belief = Array.from((await this.graphs.run("reading", { h, z })).position);
    const path = [];
    let state = { h, z };
    let next = action;
    for (let k = 0; k < this.horizon; k++) { // imagine: the prior's mode, the actor's action at each step
      state = await imagineStep(this.graphs, state.h, state.z, Float32Array.from(next), 1);
      path.push(Array.from((await this.graphs.run("reading", state)).position));
      next = Array.from((await this.graphs.run("actor", { ...state, goal: g })).action);
    }
    return { action, ms, imaginedSteps: 0, path, candidates: [], belief };
  }
}

/**
 * Chapter 11's planner (`rssm.planning.cem_plan` and `MPCAgent`) in the browser: each frame, search
 * action sequences by the cross-entropy method, every candidate imagined by the model and scored by
 * minus its mean distance to the goal (as the reward head reads the imagined states), then apply the
 * first action of the final mean and warm-start the next search from the rest of it.
 */
export class PlannerDriver {
  /**
   * @param {import("./ort_backend.js").OrtGraphs} graphs  with the agent's graphs (manifest.agent)
   * @param {object} settings  `PlannerConfig` fields: candidates, horizon, top_k, iterations, init_std,
   *   min_std, warm_start
   * @param {number} seed  seeds the sampling of candidates
   * @param {number} [shown=8]  candidates of the first iteration returned for drawing
   */
  constructor(graphs, settings, seed, shown = 8) {
    this.graphs = graphs;
    this.settings = { ...settings };
    this.shown = shown;
    this.reseed(seed);
    this.lastPlan = null;
  }

  reseed(seed) {
    this.rng = makeRng((seed ^ 0x85ebca6b) >>> 0);
  }

  /** Forget the previous plan (a new goal or a new world): the next search starts from zeros. */
  reset() {
    this.lastPlan = null;
  }

  /** Change candidates, top_k or iterations (checked by the caller against the page's limits). */
  configure(changes) {
    Object.assign(this.settings, changes);
    if (this.settings.top_k > this.settings.candidates) this.settings.top_k = this.settings.candidates;
  }

  /** Prior steps imagined per action at full horizon: candidates x horizon x iterations. */
  get imaginedSteps() {
    const s = this.settings;
    return s.candidates * s.horizon * s.iterations;
  }

  /**
   * Imagine `n` action sequences (n, H, 2) from state (h, z): where the reward head reads the dot after
   * each action, (n, H, 2) flat.
   */
  async imagine(h, z, actions, n, H) {
    const { deter_dim: deter, latent_size: latent } = this.graphs.manifest.model;
    let state = { h: tile(h, n), z: tile(z, n) };
    const hs = new Float32Array(H * n * deter); // every imagined state, step-major: (H, n, ...)
    const zs = new Float32Array(H * n * latent);
    const step = new Float32Array(n * 2);
    for (let k = 0; k < H; k++) {
      for (let i = 0; i < n; i++) {
        step[2 * i] = actions[(i * H + k) * 2];
        step[2 * i + 1] = actions[(i * H + k) * 2 + 1];
      }
      state = await imagineStep(this.graphs, state.h, state.z, step, n);
      hs.set(state.h, k * n * deter);
      zs.set(state.z, k * n * latent);
    }
    const read = (await this.graphs.run("reading", { h: hs, z: zs }, H * n)).position; // (H * n, 2), one call
    const positions = new Float32Array(n * H * 2);
    for (let k = 0; k < H; k++) {
      for (let i = 0; i < n; i++) {
        positions[(i * H + k) * 2] = read[(k * n + i) * 2];
        positions[(i * H + k) * 2 + 1] = read[(k * n + i) * 2 + 1];
      }
    }
    return positions;
  }

  /** Minus the mean distance (pixels) to the goal over each plan's steps: (n,), higher is better. */
  static scores(positions, goal, n, H) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let total = 0;
      for (let k = 0; k < H; k++) {
        const j = (i * H + k) * 2;
        total += Math.hypot(positions[j] - goal[0], positions[j + 1] - goal[1]);
      }
      out[i] = -total / H;
    }
    return out;
  }

  /**
   * Plan from state (h, z) towards `goal` with `stepsLeft` actions left in the episode (the plan is
   * shortened to them, as in Python), and return the first action of the plan.
   */
  async act(h, z, goal, stepsLeft = Infinity) {
    const started = performance.now();
    const s = this.settings;
    const H = Math.max(1, Math.min(s.horizon, stepsLeft));
    const N = s.candidates;
    const k = Math.min(s.top_k, N);
    let mean = new Float32Array(H * 2);
    if (s.warm_start && this.lastPlan) { // the previous plan without its first action, padded with zeros
      mean.set(this.lastPlan.subarray(2, Math.min(this.lastPlan.length, 2 + H * 2)));
    }
    let std = new Float32Array(H * 2).fill(s.init_std);
    let shown = [];
    for (let iteration = 0; iteration < s.iterations; iteration++) {
      const candidates = new Float32Array(N * H * 2);
      for (let i = 0; i < N; i++) {
        for (let j = 0; j < H * 2; j++) {
          const value = mean[j] + std[j] * randn(this.rng);
          candidates[i * H * 2 + j] = Math.max(-1, Math.min(1, value));
        }
      }
      const positions = await this.imagine(h, z, candidates, N, H);
      if (iteration === 0) { // the first candidates show how widely the search starts
        for (let i = 0; i < Math.min(this.shown, N); i++) shown.push(points(positions.subarray(i * H * 2, (i + 1) * H * 2)));
      }
      const scores = PlannerDriver.scores(positions, goal, N, H);
      const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]);
      const elites = order.slice(0, k);
      const nextMean = new Float32Array(H * 2);
      const nextStd = new Float32Array(H * 2);
      for (let j = 0; j < H * 2; j++) {
        let sum = 0;
        for (const e of elites) sum += candidates[e * H * 2 + j];
        const m = sum / k;
        let squares = 0;
        for (const e of elites) squares += (candidates[e * H * 2 + j] - m) ** 2;
        nextMean[j] = m;
        nextStd[j] = Math.max(Math.sqrt(squares / k), s.min_std); // the population std, floored
      }
      mean = nextMean;
      std = nextStd;
    }
    const plan = mean.map((v) => Math.max(-1, Math.min(1, v)));
    const ms = performance.now() - started;
    this.lastPlan = plan;
    const path = points(await this.imagine(h, z, plan, 1, H));
    const belief = Array.from((await this.graphs.run("reading", { h, z })).position);
    return { action: [plan[0], plan[1]], ms, imaginedSteps: N * H * s.iterations, path, candidates: shown, belief };
  }
}

/**
 * The planning task's episodes as `python -m rssm.export` wrote them (`episodes.json`): start state,
 * goal and occluder mask of episode i of `rssm.planning.PlanningTask`, and what the PyTorch actor did.
 */
export async function loadEpisodes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`episodes.json: HTTP ${response.status}`);
  return response.json();
}

/** An occluder mask from its hex rows (the leftmost pixel the highest bit): Uint8Array (H * W). */
export function maskFromRows(rows, size) {
  const mask = new Uint8Array(size * size);
  rows.forEach((row, r) => {
    for (let c = 0; c < size; c++) {
      const digit = parseInt(row[c >> 2], 16);
      mask[r * size + c] = (digit >> (3 - (c & 3))) & 1;
    }
  });
  return mask;
}

/**
 * The world of one exported episode (an entry of episodes.json): its start state and occluders, in a
 * world of `config` (the manifest's world settings). The page's self-check and the player's
 * `episode(i)` both start from it, so the two cannot drift apart.
 */
export function worldFromEpisode(spec, config) {
  const [x, y, vx, vy] = spec.start;
  return new MovingDotWorld(config, { x, y, vx, vy }, [], maskFromRows(spec.occluders, config.grid_size));
}
