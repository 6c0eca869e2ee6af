/**
 * Reading the dot's position off a frame: a port of `rssm.evaluate.estimate_dot_position`.
 *
 * The dot is the centroid of the brightness above the background, counting only the brighter half of
 * the blob (pixels above background + max(floor, half the frame's peak), weighted by how much brighter),
 * so faint artefacts elsewhere in a predicted frame do not pull it. A frame with no such pixel (a blank
 * prediction) reads as the grid's centre. The page reads the model's frames with it, so its distances
 * are the ones chapter 5 reports. tests/test_world_js.py checks it against the Python function.
 *
 * @module readout
 */

/**
 * @param {Float32Array | number[]} frame  (H, W) row-major, a square frame
 * @param {Float32Array | number[] | null} background  (H, W) the occluders without the dot, or null
 * @param {number} [floor=0.1]  the least brightness above the background that counts
 * @returns {[number, number]} (x, y) in pixels: x the column, y the row
 */
export function estimateDotPosition(frame, background = null, floor = 0.1) {
  const size = Math.round(Math.sqrt(frame.length));
  if (size * size !== frame.length) {
    throw new Error(`estimateDotPosition: a square frame is needed, got ${frame.length} pixels`);
  }
  if (background && background.length !== frame.length) {
    throw new Error("estimateDotPosition: background and frame differ in size");
  }
  const evidence = new Float64Array(frame.length);
  let peak = -Infinity;
  for (let i = 0; i < frame.length; i++) {
    evidence[i] = frame[i] - (background ? background[i] : 0);
    if (evidence[i] > peak) peak = evidence[i];
  }
  const threshold = Math.max(0.5 * peak, floor);
  let total = 0;
  let sx = 0;
  let sy = 0;
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      const weight = Math.max(evidence[row * size + col] - threshold, 0);
      total += weight;
      sx += weight * col;
      sy += weight * row;
    }
  }
  const centre = (size - 1) / 2;
  if (total < 1e-3) return [centre, centre];
  return [sx / total, sy / total];
}
