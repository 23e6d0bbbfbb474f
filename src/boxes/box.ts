// Box type shared by the box utilities, and conversion between box lists and flat typed arrays.

/** An axis-aligned box `[x1, y1, x2, y2]` in input-image pixels (x2 ≥ x1, y2 ≥ y1 for a valid box). */
export type Box = [number, number, number, number];

/** Flattens a list of boxes into a typed array `[n*4]` (the layout every function in `boxes/` takes). */
export function flattenBoxes(boxes: readonly (readonly number[])[]): Float32Array {
  const out = new Float32Array(boxes.length * 4);
  boxes.forEach((box, i) => {
    if (box.length !== 4) throw new RangeError(`box ${i} has ${box.length} coordinates, expected 4`);
    out.set(box, i * 4);
  });
  return out;
}

/** Splits a flat `[n*4]` array into a list of boxes. */
export function unflattenBoxes(flat: ArrayLike<number>): Box[] {
  checkBoxArray(flat, 'boxes');
  const out: Box[] = [];
  for (let i = 0; i < flat.length; i += 4) out.push([flat[i], flat[i + 1], flat[i + 2], flat[i + 3]]);
  return out;
}

/** Throws unless `flat` holds whole boxes; returns the number of boxes. */
export function checkBoxArray(flat: ArrayLike<number>, name: string): number {
  if (flat.length % 4 !== 0) throw new RangeError(`${name}: length ${flat.length} is not a multiple of 4`);
  return flat.length / 4;
}
