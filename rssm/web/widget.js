/**
 * The player as a Jupyter widget (anywidget): the same element as the Play page, with the model in
 * the Python kernel (`rssm.play.PlayWidget`), so a reader plays with the model the notebook holds.
 *
 * The world runs here; each frame is one message to the kernel (the action, the true frame when the
 * model watches, the noise when it samples) and one back (the model's frame, as float32 bytes).
 * `rssm.play.widget_esm()` joins this file and the modules it imports into one ES module.
 *
 * @module widget
 */

import { Player } from "./player.js";

/** A {@link import("./player.js").ModelBackend} whose state (h, z) lives in the kernel. */
export class KernelModel {
  /** @param {object} model  the anywidget model (traitlets `world`, `K`, `noise_size`) */
  constructor(model) {
    this.model = model;
    this.noiseSize = model.get("noise_size");
    this.pending = new Map();
    this.nextId = 0;
    this.listener = (message, buffers) => this.receive(message, buffers);
    model.on("msg:custom", this.listener);
  }

  request(content, buffers = []) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.model.send({ ...content, id }, undefined, buffers);
    });
  }

  receive(message, buffers) {
    const waiting = this.pending.get(message?.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.type === "error") waiting.reject(new Error(message.message));
    else waiting.resolve(buffers ?? []);
  }

  async reset() {
    await this.request({ type: "reset" });
  }

  async step(action, frame, noise) {
    const buffers = await this.request(
      { type: "step", action: Array.from(action), watch: Boolean(frame), noise: noise ? Array.from(noise) : null },
      frame ? [Float32Array.from(frame).buffer] : [],
    );
    const view = buffers[0];
    if (!view) throw new Error("the kernel sent no frame");
    const bytes = view instanceof ArrayBuffer ? view : view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
    return new Float32Array(bytes);
  }

  close() {
    this.model.off("msg:custom", this.listener);
    for (const { reject } of this.pending.values()) reject(new Error("the widget was closed"));
    this.pending.clear();
  }
}

export default {
  async render({ model, el }) {
    const root = document.createElement("div");
    el.append(root);
    const backend = new KernelModel(model);
    let player = null;
    try {
      player = await Player.mount(root, backend, { world: model.get("world"), K: model.get("K"), autoplay: false });
      player.setStatus("Press play, or click here and use the arrow keys: each press is one frame.");
    } catch (error) {
      root.textContent = `The player could not start: ${error.message ?? error}`;
    }
    return () => {
      player?.destroy();
      backend.close();
    };
  },
};
