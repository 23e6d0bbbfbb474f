// Compact soft labels: the teacher's per-anchor class probabilities q, quantized to uint8 and optionally sparse.
//
// Soft labels are A anchors × C classes per image (3024 × 4 at 128×128 input): float32 would be 48 KiB a sample.
//   * quantization: q̂ = round(q·255)/255, so |q − q̂| ≤ 1/510 (plus float32 rounding of v/255);
//   * sparsity (epsilon > 0): an anchor whose max_c q < ε is not stored at all and reads back as q̂ = 0 for every
//     class, so its error is < ε. A bitmap (bit a % 8 of byte ⌊a/8⌋, LSB first) says which anchors are kept;
//     values of kept anchors follow in anchor order, C bytes each.
// Layout of `values`/the dequantized array is the detector's flattened [anchors, classes] order (class fastest).
// Effect on the loss (ADL of DESIGN §3, batch of 8 synthetic 128×128 images, student logits = teacher logits +
// N(0, 1.5) noise): dense uint8 changes ADL by ≤ 0.02 %; sparse ε = 0.01 by < 1 %, ε = 0.02 by 1–3 %, ε = 0.05 by
// ~10 % (dropped anchors still carry KL and weight in N = Σ q^θ). Dense is 12 KB a sample at 128×128, so prefer
// dense, or ε ≤ 0.01 when messages must shrink.
import { z } from 'zod';

export const SOFT_LABEL_BITS = 8;
const LEVELS = (1 << SOFT_LABEL_BITS) - 1; // 255
/** Largest |q − q̂| for a kept value: half a quantization step. */
export const QUANTIZATION_ERROR_BOUND = 1 / (2 * LEVELS);
/** Probabilities further outside [0, 1] than this are refused (they are probably logits). */
const RANGE_TOLERANCE = 1e-4;

export type SoftLabelLayout = 'dense' | 'sparse';

export interface SoftLabels {
  layout: SoftLabelLayout;
  anchors: number;
  classes: number;
  bits: 8;
  /** Anchors with max q below this were dropped (0 for dense). */
  epsilon: number;
  /** round(q·255), [kept anchors, classes]. */
  values: Uint8Array;
  /** Sparse only: kept-anchor bitmap, ⌈anchors/8⌉ bytes. */
  mask?: Uint8Array;
}

export interface QuantizeOptions {
  /** Drop anchors whose max q is below this; 0 (default) keeps every anchor in the dense layout. */
  epsilon?: number;
  bits?: 8;
}

const bytes = z.instanceof(Uint8Array, { message: 'expected a Uint8Array' });

export const softLabelsSchema = z
  .object({
    layout: z.enum(['dense', 'sparse']),
    anchors: z.number().int().positive(),
    classes: z.number().int().positive(),
    bits: z.literal(SOFT_LABEL_BITS),
    epsilon: z.number().finite().min(0).max(1),
    values: bytes,
    mask: bytes.optional(),
  })
  .superRefine((soft, ctx) => {
    if (soft.layout === 'dense') {
      if (soft.mask !== undefined) ctx.addIssue({ code: 'custom', path: ['mask'], message: 'dense soft labels have no mask' });
      const expected = soft.anchors * soft.classes;
      if (soft.values.length !== expected) {
        ctx.addIssue({ code: 'custom', path: ['values'], message: `expected ${expected} bytes (anchors × classes), got ${soft.values.length}` });
      }
      return;
    }
    if (soft.mask === undefined) {
      ctx.addIssue({ code: 'custom', path: ['mask'], message: 'sparse soft labels need a mask' });
      return;
    }
    const maskBytes = Math.ceil(soft.anchors / 8);
    if (soft.mask.length !== maskBytes) {
      ctx.addIssue({ code: 'custom', path: ['mask'], message: `expected ${maskBytes} bytes (⌈anchors/8⌉), got ${soft.mask.length}` });
      return;
    }
    const spare = soft.anchors % 8;
    if (spare !== 0 && soft.mask[maskBytes - 1] >> spare !== 0) {
      ctx.addIssue({ code: 'custom', path: ['mask'], message: 'bits set past the last anchor' });
    }
    const expected = popcount(soft.mask) * soft.classes;
    if (soft.values.length !== expected) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `expected ${expected} bytes (kept anchors × classes), got ${soft.values.length}` });
    }
  });

/**
 * Quantizes teacher probabilities `probs` ([anchors, classes], class fastest) to 8 bits, dropping anchors whose
 * max probability is below `epsilon` when epsilon > 0. Throws RangeError on NaN or values outside [0, 1].
 */
export function quantizeSoftLabels(probs: Float32Array, anchors: number, classes: number, options: QuantizeOptions = {}): SoftLabels {
  const epsilon = options.epsilon ?? 0;
  const bits = options.bits ?? SOFT_LABEL_BITS;
  if (bits !== SOFT_LABEL_BITS) throw new RangeError(`only ${SOFT_LABEL_BITS}-bit soft labels are supported, got ${String(bits)}`);
  if (!Number.isInteger(anchors) || anchors < 1 || !Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`anchors and classes must be positive integers, got ${anchors} × ${classes}`);
  }
  if (probs.length !== anchors * classes) throw new RangeError(`expected ${anchors} × ${classes} = ${anchors * classes} probabilities, got ${probs.length}`);
  if (!(epsilon >= 0 && epsilon <= 1)) throw new RangeError(`epsilon must be in [0, 1], got ${epsilon}`);

  const quantized = new Uint8Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const q = probs[i];
    if (!(q >= -RANGE_TOLERANCE && q <= 1 + RANGE_TOLERANCE)) {
      throw new RangeError(`probability ${q} at anchor ${Math.floor(i / classes)}, class ${i % classes} is not in [0, 1]`);
    }
    quantized[i] = Math.round(Math.min(1, Math.max(0, q)) * LEVELS);
  }
  if (epsilon === 0) return { layout: 'dense', anchors, classes, bits: SOFT_LABEL_BITS, epsilon: 0, values: quantized };

  const mask = new Uint8Array(Math.ceil(anchors / 8));
  let kept = 0;
  for (let a = 0; a < anchors; a++) {
    let max = 0;
    for (let c = 0; c < classes; c++) max = Math.max(max, probs[a * classes + c]);
    if (max >= epsilon) {
      mask[a >> 3] |= 1 << (a & 7);
      kept += 1;
    }
  }
  const values = new Uint8Array(kept * classes);
  let at = 0;
  for (let a = 0; a < anchors; a++) {
    if ((mask[a >> 3] & (1 << (a & 7))) === 0) continue;
    values.set(quantized.subarray(a * classes, (a + 1) * classes), at);
    at += classes;
  }
  return { layout: 'sparse', anchors, classes, bits: SOFT_LABEL_BITS, epsilon, values, mask };
}

const DEQUANTIZE = Float32Array.from({ length: LEVELS + 1 }, (_, v) => v / LEVELS);

/** Back to probabilities, [anchors, classes] float32; dropped anchors are 0. Assumes a schema-valid input. */
export function dequantizeSoftLabels(soft: SoftLabels): Float32Array {
  const out = new Float32Array(soft.anchors * soft.classes);
  if (soft.layout === 'dense') {
    for (let i = 0; i < out.length; i++) out[i] = DEQUANTIZE[soft.values[i]];
    return out;
  }
  const mask = soft.mask as Uint8Array;
  let at = 0;
  for (let a = 0; a < soft.anchors; a++) {
    if ((mask[a >> 3] & (1 << (a & 7))) === 0) continue;
    for (let c = 0; c < soft.classes; c++) out[a * soft.classes + c] = DEQUANTIZE[soft.values[at++]];
  }
  return out;
}

/** Anchors stored (all of them for dense). */
export function keptAnchors(soft: SoftLabels): number {
  return soft.layout === 'dense' ? soft.anchors : popcount(soft.mask as Uint8Array);
}

/** Bytes the soft labels take on the wire (without the envelope's few bytes of header). */
export function softLabelBytes(soft: SoftLabels): number {
  return soft.values.length + (soft.mask?.length ?? 0);
}

function popcount(bitmap: Uint8Array): number {
  let n = 0;
  for (const byte of bitmap) {
    let b = byte;
    while (b !== 0) {
      b &= b - 1;
      n += 1;
    }
  }
  return n;
}
