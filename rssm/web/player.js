/**
 * The player: the true world and the model's frame side by side, steered with the arrow keys.
 *
 * It owns the world (a {@link MovingDotWorld}), the controls and the drawing; the model is a backend
 * it calls once per frame, so the same element runs the model in the browser (ONNX Runtime Web, the
 * Play page) or in a Jupyter kernel (the anywidget of `rssm.play`). The time rule is the book's:
 * action a[t] takes frame t to frame t+1, and the model predicts frame t+1 from a[t].
 *
 * Each frame the model either *watches* (prior step, then the posterior corrects z with the true
 * frame) or *dreams* (prior step alone: z is the prior's mean, or a sample with noise drawn here).
 * In "watch" mode it watches every frame; in "dream" mode it watches the first K frames after a new
 * world and dreams from then on.
 *
 * Who drives: "you" (the keys and buttons) or, when the page has the agent's graphs, an agent from
 * `agents.js` ("actor" or "planner") that reads the model's state and drives the dot to the goal the
 * reader clicks. An episode of the planning task starts when a goal is set: after `episode_steps`
 * actions the page judges it as `rssm.planning.PlanningTask.success` does (within `success_radius` px).
 *
 * @module player
 */

import { paintFrame } from "./colormap.js";
import { estimateDotPosition } from "./readout.js";
import { MovingDotWorld, makeRng, randn } from "./world.js";

/**
 * What the player needs from a model. The backend holds the state (h, z).
 * @typedef {object} ModelBackend
 * @property {number} noiseSize  standard-normal numbers that draw one sample of z
 * @property {() => Promise<void>} reset  back to the state before frame 0 (zeros)
 * @property {(action: number[], frame: Float32Array | null, noise: Float32Array | null) => Promise<Float32Array>} step
 *   advance with the previous action; watch `frame` if given (else dream: z is the prior's mode when
 *   noise is null, else the sample the noise draws); returns the decoded frame, (H, W) row-major
 */

/** Arrow keys (and WASD) as actions: x is the column (right +), y the row (down +). */
export const KEY_ACTIONS = {
  ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1],
};

const SPEEDS = [[4, "slow"], [10, "normal"], [20, "fast"], [30, "fastest"]]; // frames per second
const SCALE = 8; // canvas pixels per grid pixel
const OUTLINE_COLOR = "#00ffff"; // the occluders' outline (cyan, as in the book's players)
const MARKER_COLOR = "#32cd32"; // the true dot (lime)
const ESTIMATE_COLOR = "#ffffff"; // the dot read off the model's frame
const GOAL_COLOR = "#ff8c00"; // the goal and its success circle (orange)
const PLAN_COLOR = "#ff00ff"; // the agent's imagined path (magenta); its other candidates, faint
export const DRIVERS = ["you", "actor", "planner"];

/** Create an element with a class, attributes and children. */
function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** The pixel-exact outline of a (size x size) mask: one segment per pixel side between inside and outside. */
export function maskOutline(mask, size) {
  const inside = (row, col) => row >= 0 && col >= 0 && row < size && col < size && mask[row * size + col] === 1;
  const segments = [];
  for (let row = 0; row <= size; row++) {
    for (let col = 0; col <= size; col++) {
      if (col < size && inside(row, col) !== inside(row - 1, col)) segments.push([col, row, col + 1, row]);
      if (row < size && inside(row, col) !== inside(row, col - 1)) segments.push([col, row, col, row + 1]);
    }
  }
  return segments;
}

/** One canvas showing frames of the world, with overlays. */
class FrameView {
  constructor(size, label) {
    this.size = size;
    const side = size * SCALE;
    this.canvas = h("canvas", { width: side, height: side, class: "rssm-play__canvas", role: "img", "aria-label": label });
    this.context = this.canvas.getContext("2d");
    this.buffer = h("canvas", { width: size, height: size });
    this.bufferContext = this.buffer.getContext("2d");
    this.image = this.bufferContext.createImageData(size, size);
    this.outline = [];
  }

  /**
   * Paint a frame (H, W), then the occluder outline, paths and markers.
   * @param {Float32Array} frame
   * @param {{x: number, y: number, kind: "ring" | "cross" | "goal", radius?: number}[]} markers
   * @param {{points: number[][], color: string, alpha: number, width: number}[]} [paths]  in grid pixels
   */
  draw(frame, markers, paths = []) {
    paintFrame(frame, this.image.data);
    this.bufferContext.putImageData(this.image, 0, 0);
    const c = this.context;
    c.imageSmoothingEnabled = false;
    c.drawImage(this.buffer, 0, 0, this.canvas.width, this.canvas.height);
    c.lineWidth = 2;
    c.strokeStyle = OUTLINE_COLOR;
    c.beginPath();
    for (const [x0, y0, x1, y1] of this.outline) {
      c.moveTo(x0 * SCALE, y0 * SCALE);
      c.lineTo(x1 * SCALE, y1 * SCALE);
    }
    c.stroke();
    for (const { points, color, alpha, width } of paths) {
      if (points.length < 2) continue;
      c.save();
      c.globalAlpha = alpha;
      c.strokeStyle = color;
      c.lineWidth = width;
      c.lineJoin = "round";
      c.beginPath();
      points.forEach(([x, y], i) => (i ? c.lineTo : c.moveTo).call(c, (x + 0.5) * SCALE, (y + 0.5) * SCALE));
      c.stroke();
      c.fillStyle = color;
      for (const [x, y] of points) c.fillRect((x + 0.5) * SCALE - width, (y + 0.5) * SCALE - width, 2 * width, 2 * width);
      c.restore();
    }
    c.lineWidth = 2;
    for (const { x, y, kind, radius = 2 } of markers) {
      const cx = (x + 0.5) * SCALE; // pixel centres sit half a pixel in
      const cy = (y + 0.5) * SCALE;
      c.beginPath();
      if (kind === "goal") { // the success circle, and a cross on the goal
        c.strokeStyle = GOAL_COLOR;
        c.setLineDash([5, 4]);
        c.arc(cx, cy, radius * SCALE, 0, 2 * Math.PI);
        c.stroke();
        c.setLineDash([]);
        c.beginPath();
        c.moveTo(cx - 0.6 * SCALE, cy - 0.6 * SCALE);
        c.lineTo(cx + 0.6 * SCALE, cy + 0.6 * SCALE);
        c.moveTo(cx + 0.6 * SCALE, cy - 0.6 * SCALE);
        c.lineTo(cx - 0.6 * SCALE, cy + 0.6 * SCALE);
      } else if (kind === "ring") {
        c.strokeStyle = MARKER_COLOR;
        c.arc(cx, cy, 2.6 * SCALE, 0, 2 * Math.PI);
      } else {
        c.strokeStyle = ESTIMATE_COLOR;
        c.moveTo(cx - SCALE, cy);
        c.lineTo(cx + SCALE, cy);
        c.moveTo(cx, cy - SCALE);
        c.lineTo(cx, cy + SCALE);
      }
      c.stroke();
    }
  }
}

/**
 * The player element. Build it with {@link Player.mount}; drive it with the keys and buttons, or from
 * code with {@link Player#reset}, {@link Player#step} and {@link Player#snapshot}.
 */
export class Player {
  /**
   * @param {HTMLElement} root  an empty element to fill
   * @param {ModelBackend} backend
   * @param {{world: object, K: number, autoplay?: boolean, seed?: number, speed?: number, agents?: object}} options
   *   world: the world's settings (`MovingDotConfig.to_dict()`); K: frames watched before dreaming;
   *   autoplay: start running after the first world (else paused); seed: repeatable worlds and noise;
   *   agents: `{drivers: {actor, planner}, task, limits, episodes}` (see page.js), or none: you drive alone
   */
  constructor(root, backend, options) {
    const { world, K, autoplay = true, seed, speed = 10, agents = null } = options;
    if (!Number.isInteger(K) || K < 1) throw new Error(`K=${K}: must be a positive int`);
    this.root = root;
    this.backend = backend;
    this.worldConfig = world;
    this.K = K;
    this.mode = "dream"; // "watch": posterior on every frame; "dream": prior alone after K frames
    this.sample = false; // dream with the prior's mean (false) or a sample (true)
    this.running = false;
    this.speed = speed;
    this.autoplay = autoplay;
    this.held = new Map(); // pressed keys and pad buttons -> their action
    this.queue = Promise.resolve(); // frames are computed one at a time, in order
    this.stepTimes = []; // milliseconds of the last frames (world, model and drawing)
    this.agents = agents;
    this.driver = "you"; // who chooses the actions: DRIVERS
    this.goal = null; // [x, y] pixels, or null
    this.goalFrame = 0; // the frame the goal was set at: the episode's frame 0
    this.decision = null; // the agent's decision for the frame shown (agents.js Decision)
    this.verdict = null; // the episode's outcome once episode_steps actions are done
    this.decisionTimes = { actor: [], planner: [] }; // milliseconds per action of each agent, last 30
    this.reseed(seed ?? Math.floor(Math.random() * 2 ** 32));
    this.world = null;
    this.modelFrame = null;
    this.dreamed = 0;
    this.build();
  }

  /** Build the player inside `root` and start it (the first world is drawn before it returns). */
  static async mount(root, backend, options) {
    const player = new Player(root, backend, options);
    await player.reset();
    if (player.autoplay) player.play();
    return player;
  }

  reseed(seed) {
    this.seed = seed >>> 0;
    this.worldRng = makeRng(this.seed);
    this.noiseRng = makeRng(this.seed ^ 0x9e3779b9);
  }

  // ----- the element -------------------------------------------------------------------------

  build() {
    const size = this.worldConfig.grid_size;
    this.truthView = new FrameView(size, "the true world");
    this.modelView = new FrameView(size, "the model's frame");
    this.caption = h("figcaption", { text: "The model" });
    this.readouts = {
      frame: h("span", { "data-readout": "frame" }),
      distance: h("span", { "data-readout": "distance" }),
      dreamed: h("span", { "data-readout": "dreamed" }),
      speed: h("span", { "data-readout": "speed" }),
      goal: h("span", { "data-readout": "goal" }),
      cost: h("span", { "data-readout": "cost" }),
    };
    this.status = h("p", { class: "rssm-play__status", role: "status" });
    const control = (name, text, title = "") => h("button", { type: "button", "data-control": name, title, text });
    this.buttons = {
      watch: control("watch", "watch", "the model sees every frame"),
      dream: control("dream", "dream", `the model sees the first ${this.K} frames, then imagines`),
      mean: control("mean", "mean", "imagine with the prior's mean"),
      sample: control("sample", "sample", "imagine with a sample of the prior"),
      play: control("play", "pause", "pause or play (Space)"),
      reset: control("reset", "new world", "a new dot and new occluders (R)"),
    };
    this.speedSelect = h("select", { "data-control": "speed", "aria-label": "frames per second" },
      ...SPEEDS.map(([fps, name]) => h("option", { value: String(fps), text: `${name} (${fps}/s)` })));
    this.speedSelect.value = String(this.speed);
    const pad = h("div", { class: "rssm-play__pad", "aria-label": "steering buttons" });
    const arrows = {
      ArrowUp: ["up", "▲"], ArrowLeft: ["left", "◀"], ArrowRight: ["right", "▶"], ArrowDown: ["down", "▼"],
    };
    for (const [key, [area, arrow]] of Object.entries(arrows)) {
      const button = h("button", { type: "button", "data-key": key, "aria-label": `push ${area}`, text: arrow });
      button.style.gridArea = area;
      this.bindPadButton(button, key);
      pad.append(button);
    }

    const b = this.buttons;
    this.root.classList.add("rssm-play");
    this.root.setAttribute("tabindex", "0");
    this.root.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab: arrow keys steer, not move cells
    this.root.replaceChildren(
      h("div", { class: "rssm-play__views" },
        h("figure", {}, this.truthView.canvas, h("figcaption", { text: "The world" })),
        h("figure", {}, this.modelView.canvas, this.caption)),
      h("p", { class: "rssm-play__readout", "aria-live": "off" },
        this.readouts.frame, this.readouts.dreamed, this.readouts.distance, this.readouts.speed),
      ...(this.agents ? [h("p", { class: "rssm-play__readout", "aria-live": "off" }, this.readouts.goal, this.readouts.cost)] : []),
      h("div", { class: "rssm-play__controls" },
        ...(this.agents ? [this.buildDriverControls()] : []),
        h("div", { class: "rssm-play__group", role: "group", "aria-label": "what the model sees" }, b.watch, b.dream),
        h("div", { class: "rssm-play__group", role: "group", "aria-label": "how the model imagines" }, b.mean, b.sample),
        h("div", { class: "rssm-play__group" }, b.play, b.reset, this.speedSelect),
        pad),
      ...(this.plannerRow ? [this.plannerRow] : []),
      h("p", { class: "rssm-play__legend" },
        "Steer with the arrow keys (click the player first) or the buttons. Green ring: the true dot; " +
        "white cross: the dot read off the model's frame; cyan: the occluders." +
        (this.agents ? " Click a frame to set a goal (orange: the goal and its 2 px success circle); " +
          "an agent drives there, and magenta is the path it imagines. With an agent driving, the arrow keys " +
          "move the goal and G draws a new one." : "")),
      this.status);
    if (this.agents) {
      for (const view of [this.truthView, this.modelView]) {
        view.canvas.addEventListener("click", (event) => this.clickGoal(event, view.canvas));
      }
    }

    b.watch.addEventListener("click", () => this.setMode("watch"));
    b.dream.addEventListener("click", () => this.setMode("dream"));
    b.mean.addEventListener("click", () => this.setSample(false));
    b.sample.addEventListener("click", () => this.setSample(true));
    b.play.addEventListener("click", () => (this.running ? this.pause() : this.play()));
    b.reset.addEventListener("click", () => this.reset().catch(() => {}));
    this.speedSelect.addEventListener("change", () => { this.speed = Number(this.speedSelect.value); });
    this.onKeyDown = (event) => this.keyDown(event);
    this.onKeyUp = (event) => this.held.delete(event.key.length === 1 ? event.key.toLowerCase() : event.key);
    this.onBlur = () => { if (!this.root.contains(document.activeElement)) this.held.clear(); };
    this.root.addEventListener("keydown", this.onKeyDown);
    this.root.addEventListener("keyup", this.onKeyUp);
    this.root.addEventListener("focusout", this.onBlur);
    this.root.addEventListener("pointerdown", (event) => {
      if (!event.target.closest("button, select")) this.root.focus({ preventScroll: true });
    });
    this.showControls();
  }

  /** The "who drives" buttons, "new goal", and the planner's settings (shown while it drives). */
  buildDriverControls() {
    const control = (name, text, title) => h("button", { type: "button", "data-control": name, title, text });
    this.driverButtons = {
      you: control("driver-you", "you", "you steer with the keys or the buttons"),
      actor: control("driver-actor", "actor", "the Dreamer actor of chapter 12: one network call per action"),
      planner: control("driver-planner", "planner", "chapter 11's planner: searches imagined plans every frame"),
    };
    for (const [name, button] of Object.entries(this.driverButtons)) {
      button.addEventListener("click", () => this.setDriver(name).catch(() => {}));
    }
    const newGoal = control("goal", "new goal", "a random goal, as the task draws them (G)");
    newGoal.addEventListener("click", () => this.randomGoal().catch(() => {}));
    const settings = this.agents.drivers.planner.settings;
    this.plannerInputs = {};
    const fields = [["candidates", "candidates"], ["top_k", "elites"], ["iterations", "iterations"]];
    const labels = fields.map(([key, text]) => {
      const [low, high] = this.agents.limits[key];
      const input = h("input", { type: "number", min: String(low), max: String(high), step: "1",
        value: String(settings[key]), "data-control": `planner-${key}` });
      input.addEventListener("change", () => this.setPlanner({ [key]: Number(input.value) }));
      this.plannerInputs[key] = input;
      return h("label", {}, `${text} `, input);
    });
    this.plannerRow = h("div", { class: "rssm-play__planner", role: "group", "aria-label": "the planner's search" },
      ...labels);
    this.plannerRow.hidden = true;
    return h("div", { class: "rssm-play__group", role: "group", "aria-label": "who drives" },
      ...Object.values(this.driverButtons), newGoal);
  }

  bindPadButton(button, key) {
    const release = () => this.held.delete(button);
    button.addEventListener("pointerdown", (event) => {
      event.preventDefault(); // keep focus and stop a touch from scrolling
      this.root.focus({ preventScroll: true });
      if (this.driver !== "you") {
        this.moveGoal(KEY_ACTIONS[key]).catch(() => {});
        return;
      }
      this.held.set(button, KEY_ACTIONS[key]);
      if (!this.running) this.run(() => this.advance(KEY_ACTIONS[key]));
    });
    for (const type of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(type, release);
    button.addEventListener("click", (event) => { // keyboard activation (Enter, Space) of a focused button
      if (event.detail !== 0) return;
      if (this.driver !== "you") this.moveGoal(KEY_ACTIONS[key]).catch(() => {});
      else if (!this.running) this.run(() => this.advance(KEY_ACTIONS[key]));
    });
  }

  keyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (event.target.closest && event.target.closest("select")) return; // the speed menu uses the arrows
    if (event.target.closest && event.target.closest("input")) return; // the planner's numbers
    if (key in KEY_ACTIONS && this.driver !== "you") {
      this.moveGoal(KEY_ACTIONS[key]).catch(() => {}); // an agent drives: the keys move its goal
    } else if (key in KEY_ACTIONS) {
      this.held.set(key, KEY_ACTIONS[key]);
      if (!this.running) this.run(() => this.advance(KEY_ACTIONS[key])); // paused: one frame per press
    } else if (key === "g" && this.agents) {
      this.randomGoal().catch(() => {});
    } else if (key === " " && !(event.target.closest && event.target.closest("button"))) {
      if (this.running) this.pause(); else this.play();
    } else if (key === "r") {
      this.reset().catch(() => {}); // a failure is shown in the status line
    } else {
      return;
    }
    event.preventDefault(); // no page scrolling while steering
    event.stopPropagation();
  }

  showControls() {
    const pressed = { watch: this.mode === "watch", dream: this.mode === "dream", mean: !this.sample, sample: this.sample };
    for (const [name, on] of Object.entries(pressed)) this.buttons[name].setAttribute("aria-pressed", String(on));
    if (this.driverButtons) {
      for (const [name, button] of Object.entries(this.driverButtons)) {
        button.setAttribute("aria-pressed", String(this.driver === name));
      }
      this.plannerRow.hidden = this.driver !== "planner";
    }
    this.buttons.play.textContent = this.running ? "pause" : "play";
    this.buttons.play.setAttribute("aria-label", this.running ? "pause" : "play");
  }

  /** A line under the player: loading, errors, check results. */
  setStatus(text, kind = "info") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  // ----- what the reader (or a test) can do --------------------------------------------------

  /** "watch": the model sees every frame; "dream": it sees K frames after a new world, then imagines. */
  setMode(mode) {
    if (mode !== "watch" && mode !== "dream") throw new Error(`mode=${mode}: must be "watch" or "dream"`);
    this.mode = mode;
    this.showControls();
  }

  /** Dream with a sample of the prior (true) or its mean (false). */
  setSample(sample) {
    this.sample = Boolean(sample);
    this.showControls();
  }

  play() {
    this.running = true;
    this.showControls();
    if (!this.timer && !this.ticking) this.tick();
  }

  pause() {
    this.running = false;
    this.showControls();
  }

  /** A new world (dot and occluders); the model starts again from its empty state and watches frame 0. */
  reset(seed) {
    return this.enqueue(async () => {
      if (seed !== undefined) this.reseed(seed);
      this.world = MovingDotWorld.random(this.worldConfig, this.worldRng);
      if (this.agents?.drivers.planner.reseed) this.agents.drivers.planner.reseed(this.seed);
      await this.startWorld();
    });
  }

  /** The model starts again from its empty state and watches frame 0 of `this.world`; a goal's episode restarts. */
  async startWorld() {
    this.truthView.outline = maskOutline(this.world.mask, this.worldConfig.grid_size);
    this.modelView.outline = this.truthView.outline;
    await this.backend.reset();
    this.modelFrame = await this.backend.step([0, 0], this.world.frame(), null); // frame 0, watched
    this.dreamed = 0;
    this.goalFrame = 0;
    this.verdict = null;
    if (this.agents) for (const agent of Object.values(this.agents.drivers)) agent.reset();
    await this.decide();
    this.draw();
  }

  // ----- goals and agents --------------------------------------------------------------------

  /**
   * Who chooses the actions: "you" (keys and buttons), "actor" or "planner". An agent watches every
   * frame, as it was judged in Python (switch to dream afterwards to make it drive blind); with no goal
   * yet, it gets a random one.
   */
  setDriver(driver) {
    if (!DRIVERS.includes(driver)) return Promise.reject(new Error(`driver=${driver}: must be one of ${DRIVERS.join(", ")}`));
    if (driver !== "you" && !this.agents) return Promise.reject(new Error(`driver=${driver}: this export has no agent`));
    return this.enqueue(async () => {
      this.driver = driver;
      this.held.clear();
      if (driver !== "you") {
        this.setMode("watch");
        if (!this.goal) this.placeGoal(this.drawGoal());
      }
      this.showControls();
      await this.decide();
      this.draw();
    });
  }

  /** Set the goal at (x, y) in grid pixels (x the column, y the row): a new episode starts at this frame. */
  setGoal(x, y) {
    const size = this.worldConfig.grid_size;
    if (![x, y].every((v) => Number.isFinite(v) && v >= 0 && v <= size - 1)) {
      return Promise.reject(new Error(`goal (${x}, ${y}): must be two numbers in [0, ${size - 1}] (pixels)`));
    }
    if (!this.agents) return Promise.reject(new Error("goals need the agent's graphs, which this export lacks"));
    return this.enqueue(async () => {
      this.placeGoal([x, y]);
      await this.decide();
      this.draw();
    });
  }

  placeGoal(goal) {
    this.goal = goal.map(Number);
    this.goalFrame = this.world.t;
    this.verdict = null;
    for (const agent of Object.values(this.agents.drivers)) agent.reset();
  }

  /** A goal drawn as the task draws them: uniform in the square goal_margin pixels inside the walls. */
  drawGoal() {
    const { goal_margin: margin } = this.agents.task;
    const low = this.worldConfig.dot_sigma + margin;
    const high = this.worldConfig.grid_size - 1 - this.worldConfig.dot_sigma - margin;
    return [low + this.worldRng() * (high - low), low + this.worldRng() * (high - low)];
  }

  randomGoal() {
    const [x, y] = this.drawGoal();
    return this.setGoal(x, y);
  }

  /** Move the goal by one pixel (the arrow keys while an agent drives). */
  moveGoal([dx, dy]) {
    const size = this.worldConfig.grid_size;
    const [x, y] = this.goal ?? this.drawGoal();
    const clamp = (v) => Math.max(0, Math.min(size - 1, v));
    return this.setGoal(clamp(x + dx), clamp(y + dy));
  }

  /** A click (or tap) on a frame sets the goal where it landed. */
  clickGoal(event, canvas) {
    const box = canvas.getBoundingClientRect();
    const size = this.worldConfig.grid_size;
    const x = ((event.clientX - box.left) / box.width) * size - 0.5; // pixel centres sit half a pixel in
    const y = ((event.clientY - box.top) / box.height) * size - 0.5;
    const clamp = (v) => Math.max(0, Math.min(size - 1, v));
    this.setGoal(clamp(x), clamp(y)).catch(() => {});
  }

  /** Change the planner's search; values outside the page's limits are brought inside them. */
  setPlanner(changes) {
    const planner = this.agents.drivers.planner;
    const checked = {};
    for (const [key, value] of Object.entries(changes)) {
      if (!(key in this.agents.limits)) throw new Error(`planner setting ${key}: must be one of ${Object.keys(this.agents.limits).join(", ")}`);
      const [low, high] = this.agents.limits[key];
      checked[key] = Number.isFinite(value) ? Math.round(Math.max(low, Math.min(high, value))) : planner.settings[key];
    }
    planner.configure(checked);
    for (const [key, input] of Object.entries(this.plannerInputs)) input.value = String(planner.settings[key]);
    this.decisionTimes.planner = [];
    return { ...planner.settings };
  }

  /** Actions of the episode left after the frame shown (the planner shortens its plans to them). */
  stepsLeft() {
    const steps = this.agents.task.episode_steps - (this.world.t - this.goalFrame);
    return steps > 0 ? steps : Infinity; // after the episode, the agent keeps the dot on the goal
  }

  /** The driving agent's decision for the frame shown (its action, and what it imagined), or none. */
  async decide() {
    this.decision = null;
    if (this.driver === "you" || !this.goal) return;
    const agent = this.agents.drivers[this.driver];
    this.decision = await agent.act(this.backend.h, this.backend.z, this.goal, this.stepsLeft());
    const times = this.decisionTimes[this.driver];
    times.push(this.decision.ms);
    if (times.length > 30) times.shift();
  }

  /** After the episode's last action, judge it once, as `PlanningTask.success` does. */
  judge() {
    if (!this.goal || this.verdict) return;
    if (this.world.t - this.goalFrame !== this.agents.task.episode_steps) return;
    const distance = this.goalDistance();
    this.verdict = { success: distance <= this.agents.task.success_radius, distance, frame: this.world.t };
  }

  goalDistance() {
    return Math.hypot(this.world.state.x - this.goal[0], this.world.state.y - this.goal[1]);
  }

  /**
   * Play episode `index` of the planning task (`rssm.planning.PlanningTask.episode`, as exported in
   * episodes.json): its start, occluders and goal; the model starts from its empty state.
   */
  episode(index) {
    if (!this.agents) return Promise.reject(new Error("episodes need the agent's graphs, which this export lacks"));
    return this.enqueue(async () => {
      const { episodes } = await this.agents.episodes();
      if (!Number.isInteger(index) || index < 0 || index >= episodes.length) {
        throw new Error(`episode ${index}: must be an int in [0, ${episodes.length - 1}]`);
      }
      const spec = episodes[index];
      this.world = this.agents.worldFromEpisode(spec, this.worldConfig);
      this.goal = [...spec.goal];
      if (this.agents.drivers.planner.reseed) this.agents.drivers.planner.reseed(index);
      await this.startWorld();
      return spec;
    });
  }

  /**
   * Apply one action (pushing the dot) and compute the next frame of the world and of the model. With
   * no action, the driver's: the agent's decision, or the keys held.
   */
  step(action) {
    if (action === undefined) return this.enqueue(() => this.advance(this.nextAction()));
    if (!Array.isArray(action) || action.length !== 2 || !action.every(Number.isFinite)) {
      return Promise.reject(new Error(`action ${JSON.stringify(action)}: must be two finite numbers`));
    }
    return this.enqueue(() => this.advance(action));
  }

  /**
   * Run calls one after the other: a frame never starts before the previous one is drawn.
   * Returns the task's promise; a failure also stops the player and shows in its status line.
   */
  enqueue(task) {
    const next = this.queue.then(task);
    this.queue = next.catch((error) => this.fail(error));
    return next;
  }

  /** {@link Player#enqueue} for the controls: nobody awaits it (a failure shows in the status line). */
  run(task) {
    this.enqueue(task).catch(() => {});
  }

  fail(error) {
    this.pause();
    this.setStatus(`The model stopped: ${error.message ?? error}`, "error");
    console.warn(error);
  }

  async advance(action) {
    const started = performance.now();
    this.world.step(action);
    const watching = this.mode === "watch" || this.world.t < this.K;
    let noise = null;
    if (!watching && this.sample) noise = Float32Array.from({ length: this.backend.noiseSize }, () => randn(this.noiseRng));
    this.modelFrame = await this.backend.step(action, watching ? this.world.frame() : null, noise);
    this.dreamed = watching ? 0 : this.dreamed + 1;
    if (this.agents) {
      this.judge();
      await this.decide();
    }
    this.draw();
    this.stepTimes.push(performance.now() - started);
    if (this.stepTimes.length > 30) this.stepTimes.shift();
  }

  /** The action for the next frame: the driving agent's, else the keys'. */
  nextAction() {
    return this.decision ? this.decision.action : this.currentAction();
  }

  /** The action the held keys and buttons ask for, each component in [-1, 1]. */
  currentAction() {
    const action = [0, 0];
    for (const [ax, ay] of this.held.values()) {
      action[0] += ax;
      action[1] += ay;
    }
    return action.map((v) => Math.max(-1, Math.min(1, v)));
  }

  tick() {
    this.timer = null;
    if (!this.running || !this.root.isConnected) return;
    const started = performance.now();
    const hidden = document.visibilityState === "hidden"; // a background tab: keep time, compute nothing
    const frame = hidden ? Promise.resolve() : this.enqueue(() => this.advance(this.nextAction()));
    this.ticking = true; // one chain of ticks at a time, however often play and pause are pressed
    frame.catch(() => {}).finally(() => {
      this.ticking = false;
      const wait = Math.max(0, 1000 / this.speed - (performance.now() - started));
      if (this.running && !this.timer) this.timer = setTimeout(() => this.tick(), wait);
    });
  }

  /** Run `steps` frames back to back (the driver's actions) and time them. */
  async benchmark(steps = 60) {
    const wasRunning = this.running;
    this.pause();
    await this.queue;
    const started = performance.now();
    for (let i = 0; i < steps; i++) await this.enqueue(() => this.advance(this.nextAction()));
    const seconds = (performance.now() - started) / 1000;
    if (wasRunning) this.play();
    return { steps, seconds, fps: steps / seconds };
  }

  /** Stop and let go of the page (the element stays). */
  destroy() {
    this.pause();
    clearTimeout(this.timer);
    this.timer = null;
    this.root.removeEventListener("keydown", this.onKeyDown);
    this.root.removeEventListener("keyup", this.onKeyUp);
    this.root.removeEventListener("focusout", this.onBlur);
  }

  // ----- what is shown -------------------------------------------------------------------------

  /** Where the model's frame puts the dot, and how far that is from the true dot (pixels). */
  measure() {
    const [x, y] = estimateDotPosition(this.modelFrame, this.world.background);
    const { x: tx, y: ty } = this.world.state;
    return { estimate: [x, y], distance: Math.hypot(x - tx, y - ty) };
  }

  /** Everything the readouts show, as numbers (for tests and the curious: `rssmPlay.snapshot()`). */
  snapshot() {
    const { estimate, distance } = this.measure();
    const times = this.stepTimes;
    return {
      t: this.world.t,
      mode: this.mode,
      sample: this.sample,
      watching: this.dreamed === 0,
      dreamed: this.dreamed,
      truth: { ...this.world.state },
      occluders: this.world.occluders.map((r) => [...r]),
      visible: this.world.visible(),
      estimate,
      distance,
      msPerFrame: times.length ? times.reduce((a, b) => a + b, 0) / times.length : null,
      running: this.running,
    };
  }

  /**
   * The episode as the page judges it (for tests: `rssmPlay.state()`): the frame number, who drives, the
   * goal and the true position (pixels), the distance between them, whether that is a success by the
   * task's definition now, the episode's step and its verdict once it is over, and the agent's cost.
   */
  state() {
    const truth = this.world.state;
    const distance = this.goal ? this.goalDistance() : null;
    const times = this.driver === "you" ? [] : this.decisionTimes[this.driver];
    return {
      frame: this.world.t,
      driver: this.driver,
      goal: this.goal ? [...this.goal] : null,
      true_position: [truth.x, truth.y],
      distance,
      success: this.goal ? distance <= this.agents.task.success_radius : false,
      episode_step: this.goal ? this.world.t - this.goalFrame : null,
      episode_steps: this.agents ? this.agents.task.episode_steps : null,
      verdict: this.verdict ? { ...this.verdict } : null,
      action: this.decision ? [...this.decision.action] : null,
      imagined_path: this.decision ? this.decision.path.map((p) => [...p]) : null,
      ms_per_action: times.length ? times.reduce((a, b) => a + b, 0) / times.length : null,
      imagined_steps_per_action: this.decision ? this.decision.imaginedSteps : null,
      mode: this.mode,
    };
  }

  draw() {
    const { estimate, distance } = this.measure();
    const truth = this.world.state;
    const goal = this.goal ? [{ x: this.goal[0], y: this.goal[1], kind: "goal", radius: this.agents.task.success_radius }] : [];
    const paths = [];
    if (this.decision) {
      const start = [this.decision.belief];
      for (const candidate of this.decision.candidates) {
        paths.push({ points: start.concat(candidate), color: PLAN_COLOR, alpha: 0.3, width: 1 });
      }
      paths.push({ points: start.concat(this.decision.path), color: PLAN_COLOR, alpha: 1, width: 2 });
    }
    this.truthView.draw(this.world.frame(), [...goal, { ...truth, kind: "ring" }]);
    this.modelView.draw(this.modelFrame, [...goal, { ...truth, kind: "ring" }, { x: estimate[0], y: estimate[1], kind: "cross" }], paths);
    const dreaming = this.dreamed > 0;
    this.caption.textContent = dreaming ? "The model, dreaming" : "The model, watching";
    this.root.dataset.state = dreaming ? "dreaming" : "watching";
    const r = this.readouts;
    r.frame.textContent = `frame ${this.world.t}`;
    r.dreamed.textContent = dreaming ? `dreamed ${this.dreamed} frame${this.dreamed === 1 ? "" : "s"}` : "watching";
    const hidden = this.world.visible() ? "" : " (dot hidden)";
    r.distance.textContent = `model's dot ${distance.toFixed(1)} px from the true one${hidden}`;
    const times = this.stepTimes;
    r.speed.textContent = times.length ? `${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(1)} ms per frame` : "";
    if (this.agents) this.drawAgentReadouts();
  }

  drawAgentReadouts() {
    const r = this.readouts;
    const s = this.state();
    if (!this.goal) {
      r.goal.textContent = "no goal: click a frame to set one";
    } else {
      const where = `goal (${this.goal[0].toFixed(1)}, ${this.goal[1].toFixed(1)}): dot ${s.distance.toFixed(1)} px away`;
      const radius = this.agents.task.success_radius;
      if (this.verdict) {
        const v = this.verdict;
        r.goal.textContent = `${where}; episode over at frame ${v.frame}: ` +
          (v.success ? `success (${v.distance.toFixed(1)} px, within ${radius} px)` : `missed (${v.distance.toFixed(1)} px, more than ${radius} px)`);
      } else {
        r.goal.textContent = `${where}, action ${s.episode_step} of ${s.episode_steps}`;
      }
      this.root.dataset.verdict = this.verdict ? (this.verdict.success ? "success" : "missed") : "running";
    }
    if (this.driver === "you") {
      r.cost.textContent = "you drive";
    } else if (s.ms_per_action !== null) {
      const imagined = this.driver === "planner" ? `, imagining ${s.imagined_steps_per_action.toLocaleString("en")} steps` : ", one network call";
      r.cost.textContent = `${this.driver}: ${s.ms_per_action.toFixed(1)} ms per action${imagined}`;
    }
  }
}
