/**
 * The moving-dot world in JavaScript: a port of `rssm/dataset.py` for the Play page.
 *
 * Same rules as the Python world (chapter 1), for each step t -> t+1, in pixels (x the column, y the row):
 *
 *     v[t+1] = clip(v[t] + action_scale * a[t], -max_speed, max_speed)
 *     p[t+1] = p[t] + v[t+1], reflected off the walls at [dot_sigma, grid_size - 1 - dot_sigma]
 *
 * The dot is a Gaussian blob of peak 1; occluders are gray rectangles drawn over it. Every operation is
 * rounded to float32 (`Math.fround`) in the order PyTorch performs it, so positions match
 * `rssm.dataset.simulate_states` to float32 precision (tests/test_world_js.py checks 1e-4 px).
 *
 * @module world
 */

const f32 = Math.fround;

/**
 * @typedef {object} WorldConfig  The fields of `rssm.dataset.MovingDotConfig` (snake_case, as in Python).
 * @property {number} grid_size
 * @property {boolean} use_occlusion
 * @property {number} dot_sigma
 * @property {number} max_speed
 * @property {number} action_scale
 * @property {number} num_occluders
 * @property {number} occluder_min_size
 * @property {number} occluder_max_size
 * @property {number} occluder_intensity
 */

/** @typedef {{x: number, y: number, vx: number, vy: number}} DotState  pixels and pixels per frame */
/** @typedef {[number, number, number, number]} Rect  an occluder: [x0, y0, width, height] in pixels */

const REQUIRED = ["grid_size", "use_occlusion", "dot_sigma", "max_speed", "action_scale", "num_occluders",
  "occluder_min_size", "occluder_max_size", "occluder_intensity"];

/**
 * Check a world config (as written by `MovingDotConfig.to_dict()`) and return it frozen.
 * @param {WorldConfig} config
 * @returns {Readonly<WorldConfig>}
 */
export function checkWorldConfig(config) {
  if (!config || typeof config !== "object") throw new Error("world config: expected an object");
  const missing = REQUIRED.filter((key) => !(key in config));
  if (missing.length) throw new Error(`world config: missing ${missing.join(", ")}`);
  if (!Number.isInteger(config.grid_size) || config.grid_size < 8) {
    throw new Error("world config: grid_size must be an int >= 8");
  }
  if (config.kick_probability > 0) {  // rssm.dataset's fork world (chapters 7 and 10)
    throw new Error(`world config: kick_probability=${config.kick_probability}: the page's world does not simulate kicks`);
  }
  return Object.freeze({ ...config });
}

/** Smallest and largest coordinate of the dot's centre (it bounces one sigma inside the frame), as float32. */
export function walls(config) {
  return { low: f32(config.dot_sigma), high: f32(config.grid_size - 1 - config.dot_sigma) };
}

/**
 * Mirror a coordinate that crossed a wall back inside [low, high] and flip its velocity
 * (`rssm.dataset.reflect`, one coordinate).
 * @returns {[number, number]} [position, velocity]
 */
export function reflect(position, velocity, low, high) {
  if (position < low) return [f32(f32(2 * low) - position), -velocity];
  if (position > high) return [f32(f32(2 * high) - position), -velocity];
  return [position, velocity];
}

/**
 * One step of the dynamics: the state of frame t and the action a[t] give the state of frame t+1.
 * @param {DotState} state
 * @param {[number, number]} action  each component in [-1, 1] (larger values are not clipped, as in Python)
 * @param {WorldConfig} config
 * @returns {DotState}
 */
export function stepState(state, action, config) {
  const { low, high } = walls(config);
  const scale = f32(config.action_scale);
  const clip = (v) => Math.min(Math.max(v, -config.max_speed), config.max_speed);
  let vx = clip(f32(state.vx + f32(scale * f32(action[0]))));
  let vy = clip(f32(state.vy + f32(scale * f32(action[1]))));
  let x, y;
  [x, vx] = reflect(f32(state.x + vx), vx, low, high);
  [y, vy] = reflect(f32(state.y + vy), vy, low, high);
  return { x, y, vx, vy };
}

/**
 * Where the occluders are: 1 on covered pixels, row-major (H, W). Rectangles are clipped to the grid.
 * @param {Rect[]} rects
 * @param {WorldConfig} config
 * @returns {Uint8Array}
 */
export function occluderMask(rects, config) {
  const size = config.grid_size;
  const mask = new Uint8Array(size * size);
  for (const [x0, y0, w, h] of rects) {
    for (let row = Math.max(y0, 0); row < Math.min(y0 + h, size); row++) {
      for (let col = Math.max(x0, 0); col < Math.min(x0 + w, size); col++) mask[row * size + col] = 1;
    }
  }
  return mask;
}

/**
 * The frame a state shows (`render_dots`, then `draw_occluders`): row-major (H, W) float32 in [0, 1].
 * @param {{x: number, y: number}} position
 * @param {Uint8Array | null} mask  from {@link occluderMask}, or null for no occluders
 * @param {WorldConfig} config
 * @returns {Float32Array}
 */
export function renderFrame(position, mask, config) {
  const size = config.grid_size;
  const frame = new Float32Array(size * size);
  const denominator = f32(2 * config.dot_sigma ** 2);
  const gray = f32(config.occluder_intensity);
  const x = f32(position.x);
  const y = f32(position.y);
  for (let row = 0; row < size; row++) {
    const dy = f32(row - y);
    const dy2 = f32(dy * dy);
    for (let col = 0; col < size; col++) {
      const i = row * size + col;
      if (mask && config.use_occlusion && mask[i]) {
        frame[i] = gray;
        continue;
      }
      const dx = f32(col - x);
      frame[i] = Math.exp(f32(-f32(f32(dx * dx) + dy2) / denominator));
    }
  }
  return frame;
}

/**
 * The frame with the occluders and no dot (`rssm.evaluate.background_frames`), for reading the dot off.
 * @returns {Float32Array}
 */
export function backgroundFrame(mask, config) {
  const frame = new Float32Array(config.grid_size ** 2);
  if (!config.use_occlusion) return frame;
  const gray = f32(config.occluder_intensity);
  mask.forEach((covered, i) => { if (covered) frame[i] = gray; });
  return frame;
}

/** True where the pixel holding the dot's centre is not covered (`rssm.dataset.dot_is_visible`). */
export function dotIsVisible(position, mask, config) {
  const size = config.grid_size;
  const clampIndex = (v) => Math.min(Math.max(roundHalfEven(v), 0), size - 1);
  return !(config.use_occlusion && mask[clampIndex(position.y) * size + clampIndex(position.x)]);
}

/** Round half to even, like `torch.round`. */
function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ----- randomness: new worlds ----------------------------------------------------------------

/**
 * A small seeded generator (mulberry32): returns a function giving floats in [0, 1).
 * @param {number} seed  any 32-bit integer
 * @returns {() => number}
 */
export function makeRng(seed) {
  let a = seed >>> 0;
  return function rng() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard-normal draw (Box-Muller) from a uniform generator. */
export function randn(rng) {
  const u = 1 - rng(); // in (0, 1]: log(u) is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/**
 * Occluder rectangles drawn as `rssm.dataset` draws them: sides uniform in [min, max], placed uniformly
 * inside the grid. None without occlusion.
 * @returns {Rect[]}
 */
export function randomOccluders(config, rng) {
  if (!config.use_occlusion) return [];
  const size = config.grid_size;
  const span = config.occluder_max_size - config.occluder_min_size + 1;
  const rects = [];
  for (let i = 0; i < config.num_occluders; i++) {
    const w = config.occluder_min_size + Math.floor(rng() * span);
    const h = config.occluder_min_size + Math.floor(rng() * span);
    rects.push([Math.floor(rng() * (size - w + 1)), Math.floor(rng() * (size - h + 1)), w, h]);
  }
  return rects;
}

/** A starting state as `rssm.dataset` draws it: position uniform between the walls, velocity uniform. */
export function randomState(config, rng) {
  const { low, high } = walls(config);
  const position = () => f32(low + rng() * (high - low));
  const velocity = () => f32((2 * rng() - 1) * config.max_speed);
  return { x: position(), y: position(), vx: velocity(), vy: velocity() };
}

/**
 * One world: a dot, its occluders, and the frame it shows now.
 */
export class MovingDotWorld {
  /**
   * @param {WorldConfig} config
   * @param {DotState} state  frame 0's state
   * @param {Rect[]} occluders
   * @param {Uint8Array | null} [mask]  the occluders as a mask (H * W), in place of rectangles (the
   *   planning task's episodes come as masks); `occluders` is then empty
   */
  constructor(config, state, occluders, mask = null) {
    this.config = checkWorldConfig(config);
    this.state = { ...state };
    this.occluders = occluders.map((r) => [...r]);
    if (mask && mask.length !== this.config.grid_size ** 2) throw new Error("world: the mask does not fit the grid");
    this.mask = mask ? Uint8Array.from(mask) : occluderMask(this.occluders, this.config);
    this.background = backgroundFrame(this.mask, this.config);
    this.t = 0;
  }

  /** A new random world (position, velocity and occluders) from a uniform generator. */
  static random(config, rng) {
    const checked = checkWorldConfig(config);
    const occluders = randomOccluders(checked, rng);
    return new MovingDotWorld(checked, randomState(checked, rng), occluders);
  }

  /** Apply action a[t]: the world moves from frame t to frame t+1. */
  step(action) {
    this.state = stepState(this.state, action, this.config);
    this.t += 1;
  }

  /** The frame shown now: (H, W) float32, row-major. */
  frame() {
    return renderFrame(this.state, this.mask, this.config);
  }

  /** Whether the dot's centre is in sight now. */
  visible() {
    return dotIsVisible(this.state, this.mask, this.config);
  }
}
