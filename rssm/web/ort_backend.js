/**
 * The model in the browser: the three ONNX graphs of `rssm/export.py` run by ONNX Runtime Web.
 *
 * One frame is `prior_step` (advance h with the previous action; z from the prior's mean, or a sample
 * with the noise given), then, when the frame is watched, `posterior_step` (z from the posterior's
 * mean given the frame), then `decoder`. The state (h, z) is held here between frames. There is no
 * other copy of the model on the page: every number comes out of the graphs. When the export holds the
 * agent's graphs (`actor`, `reading`), they are loaded too, for the drivers of `agents.js`.
 *
 * @module ort_backend
 */

/**
 * The loaded graphs, shared by every {@link OrtModel} made from them. ONNX Runtime runs one call of a
 * session at a time, so calls go through one queue.
 */
export class OrtGraphs {
  /**
   * @param {object} ort  the `onnxruntime-web` module
   * @param {Record<string, object>} sessions  prior_step, posterior_step and decoder
   * @param {object} manifest  `manifest.json` of the export
   */
  constructor(ort, sessions, manifest) {
    this.ort = ort;
    this.sessions = sessions;
    this.manifest = manifest;
    this.queue = Promise.resolve();
  }

  /**
   * Load the runtime and the graphs.
   * @param {string} runtimeUrl  URL of `ort.wasm.min.mjs`; the runtime finds its WebAssembly
   *   (`ort-wasm-simd-threaded.mjs` and `.wasm`) beside it
   * @param {string} modelUrl  URL of the folder holding `manifest.json` and the .onnx files
   */
  static async load(runtimeUrl, modelUrl) {
    const ort = await import(runtimeUrl);
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a static site lacks
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
    const base = modelUrl.endsWith("/") ? modelUrl : `${modelUrl}/`;
    const response = await fetch(`${base}manifest.json`);
    if (!response.ok) throw new Error(`manifest.json: HTTP ${response.status}`);
    const manifest = await response.json();
    const sessions = {};
    const graphs = { ...manifest.graphs, ...(manifest.agent ? manifest.agent.graphs : {}) };
    for (const [name, graph] of Object.entries(graphs)) {
      sessions[name] = await ort.InferenceSession.create(`${base}${graph.file}`, {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
    }
    return new OrtGraphs(ort, sessions, manifest);
  }

  /** Whether the export holds the agent's graphs (the model the shipped agent was trained in). */
  get hasAgent() {
    return Boolean(this.manifest.agent);
  }

  /**
   * Run one graph on named float32 arrays, `batch` rows each (the manifest gives the shapes of one row);
   * resolves to named float32 arrays.
   */
  run(name, inputs, batch = 1) {
    const task = this.queue.then(async () => {
      const signature = this.manifest.graphs[name] ?? this.manifest.agent?.graphs[name];
      if (!signature) throw new Error(`no graph called ${name} in this export`);
      const feeds = {};
      for (const [key, one] of Object.entries(signature.inputs)) {
        const shape = [batch, ...one.slice(1)];
        const data = inputs[key];
        const size = shape.reduce((a, b) => a * b, 1);
        if (!data || data.length !== size) throw new Error(`${name}: input ${key} needs ${size} numbers`);
        feeds[key] = new this.ort.Tensor("float32", data instanceof Float32Array ? data : Float32Array.from(data), shape);
      }
      const results = await this.sessions[name].run(feeds);
      const out = {};
      for (const [key, tensor] of Object.entries(results)) out[key] = tensor.data;
      return out;
    });
    this.queue = task.catch(() => {});
    return task;
  }
}

/** One model state (h, z) stepped through the graphs: a {@link import("./player.js").ModelBackend}. */
export class OrtModel {
  /** @param {OrtGraphs} graphs */
  constructor(graphs) {
    this.graphs = graphs;
    const { deter_dim: deter, latent_size: latent, noise_size: noise } = graphs.manifest.model;
    this.deterDim = deter;
    this.latentSize = latent;
    this.noiseSize = noise;
    this.zeros = new Float32Array(noise);
    this.h = new Float32Array(deter);
    this.z = new Float32Array(latent);
  }

  /** Back to the state before frame 0: zeros. */
  async reset() {
    this.h = new Float32Array(this.deterDim);
    this.z = new Float32Array(this.latentSize);
  }

  /**
   * One frame: advance with `action` (the action that led here), watch `frame` if given, else dream
   * with the prior's mode (`noise` null) or the sample that `noise` (standard normal) draws. Returns
   * the decoded frame (H, W).
   */
  async step(action, frame, noise) {
    const prior = await this.graphs.run("prior_step", { h: this.h, z: this.z, action, noise: noise ?? this.zeros });
    let z = noise ? prior.z_sample : prior.z_mode;
    if (frame) z = (await this.graphs.run("posterior_step", { h: prior.h_next, frame, noise: this.zeros })).z_mode;
    const decoded = await this.graphs.run("decoder", { h: prior.h_next, z });
    this.h = prior.h_next;
    this.z = z;
    return decoded.frame;
  }
}
