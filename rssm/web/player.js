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

  /** Paint a frame (H, W), then the occluder outline and markers: [{x, y, kind: "ring" | "cross"}]. */
  draw(frame, markers) {
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
    for (const { x, y, kind } of markers) {
      const cx = (x + 0.5) * SCALE; // pixel centres sit half a pixel in
      const cy = (y + 0.5) * SCALE;
      c.beginPath();
      if (kind === "ring") {
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
   * @param {{world: object, K: number, autoplay?: boolean, seed?: number, speed?: number}} options
   *   world: the world's settings (`MovingDotConfig.to_dict()`); K: frames watched before dreaming;
   *   autoplay: start running after the first world (else paused); seed: repeatable worlds and noise
   */
  constructor(root, backend, options) {
    const { world, K, autoplay = true, seed, speed = 10 } = options;
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
      h("div", { class: "rssm-play__controls" },
        h("div", { class: "rssm-play__group", role: "group", "aria-label": "what the model sees" }, b.watch, b.dream),
        h("div", { class: "rssm-play__group", role: "group", "aria-label": "how the model imagines" }, b.mean, b.sample),
        h("div", { class: "rssm-play__group" }, b.play, b.reset, this.speedSelect),
        pad),
      h("p", { class: "rssm-play__legend" },
        "Steer with the arrow keys (click the player first) or the buttons. Green ring: the true dot; " +
        "white cross: the dot read off the model's frame; cyan: the occluders."),
      this.status);

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

  bindPadButton(button, key) {
    const release = () => this.held.delete(button);
    button.addEventListener("pointerdown", (event) => {
      event.preventDefault(); // keep focus and stop a touch from scrolling
      this.root.focus({ preventScroll: true });
      this.held.set(button, KEY_ACTIONS[key]);
      if (!this.running) this.run(() => this.advance(KEY_ACTIONS[key]));
    });
    for (const type of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(type, release);
    button.addEventListener("click", (event) => { // keyboard activation (Enter, Space) of a focused button
      if (event.detail === 0 && !this.running) this.run(() => this.advance(KEY_ACTIONS[key]));
    });
  }

  keyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (event.target.closest && event.target.closest("select")) return; // the speed menu uses the arrows
    if (key in KEY_ACTIONS) {
      this.held.set(key, KEY_ACTIONS[key]);
      if (!this.running) this.run(() => this.advance(KEY_ACTIONS[key])); // paused: one frame per press
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
      this.truthView.outline = maskOutline(this.world.mask, this.worldConfig.grid_size);
      this.modelView.outline = this.truthView.outline;
      await this.backend.reset();
      this.modelFrame = await this.backend.step([0, 0], this.world.frame(), null); // frame 0, watched
      this.dreamed = 0;
      this.draw();
    });
  }

  /** Apply one action (pushing the dot) and compute the next frame of the world and of the model. */
  step(action) {
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
    this.draw();
    this.stepTimes.push(performance.now() - started);
    if (this.stepTimes.length > 30) this.stepTimes.shift();
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
    const frame = hidden ? Promise.resolve() : this.enqueue(() => this.advance(this.currentAction()));
    this.ticking = true; // one chain of ticks at a time, however often play and pause are pressed
    frame.catch(() => {}).finally(() => {
      this.ticking = false;
      const wait = Math.max(0, 1000 / this.speed - (performance.now() - started));
      if (this.running && !this.timer) this.timer = setTimeout(() => this.tick(), wait);
    });
  }

  /** Run `steps` frames back to back (the current keys' action) and time them. */
  async benchmark(steps = 60) {
    const wasRunning = this.running;
    this.pause();
    await this.queue;
    const started = performance.now();
    for (let i = 0; i < steps; i++) await this.enqueue(() => this.advance(this.currentAction()));
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

  draw() {
    const { estimate, distance } = this.measure();
    const truth = this.world.state;
    this.truthView.draw(this.world.frame(), [{ ...truth, kind: "ring" }]);
    this.modelView.draw(this.modelFrame, [{ ...truth, kind: "ring" }, { x: estimate[0], y: estimate[1], kind: "cross" }]);
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
  }
}
