// Independent float64 reference of the DESIGN §3 losses, written from the formulas on plain JS numbers.
import { rng as seededRandom } from '../helpers/rng.ts';

export { seededRandom };

/** Flat classification inputs: element i·classes + c is anchor i, class c; mask is per anchor. */
export interface RefInputs {
  x: number[];
  q: number[];
  y: number[];
  mask: number[];
  classes: number;
}

const EPS = 1e-6;
const clamp = (q: number): number => Math.min(Math.max(q, EPS), 1 - EPS);

/** ln σ(x) without overflow or the loss of 1 − σ(x) digits. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function refKl(x: number, qRaw: number): number {
  const q = clamp(qRaw);
  return q * (Math.log(q) - logSigmoid(x)) + (1 - q) * (Math.log(1 - q) - logSigmoid(-x));
}

export function refEntropy(qRaw: number): number {
  const q = clamp(qRaw);
  return -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
}

function elementMask(inp: RefInputs, i: number): number {
  return inp.mask[Math.floor(i / inp.classes)];
}

function refN(inp: RefInputs, theta: number): number {
  let n = 0;
  inp.q.forEach((q, i) => {
    n += elementMask(inp, i) * Math.min(Math.max(q, 0), 1) ** theta;
  });
  return Math.max(1, n);
}

export function refAdl(inp: RefInputs, beta: number, gamma: number, theta: number): number {
  let s = 0;
  inp.x.forEach((x, i) => {
    const kl = refKl(x, inp.q[i]);
    const adw = (1 - Math.exp(-(kl + beta * refEntropy(inp.q[i])))) ** gamma;
    s += elementMask(inp, i) * adw * kl;
  });
  return s / refN(inp, theta);
}

export function refKld(inp: RefInputs, theta: number): number {
  let s = 0;
  inp.x.forEach((x, i) => {
    s += elementMask(inp, i) * refKl(x, inp.q[i]);
  });
  return s / refN(inp, theta);
}

/** 1 − p_t for a binary label. */
function oneMinusPt(x: number, y: number): number {
  return y === 1 ? sigmoid(-x) : sigmoid(x);
}

export function refFdl(inp: RefInputs, gamma: number, theta: number): number {
  let s = 0;
  inp.x.forEach((x, i) => {
    s += elementMask(inp, i) * oneMinusPt(x, inp.y[i]) ** gamma * refKl(x, inp.q[i]);
  });
  return s / refN(inp, theta);
}

export function refFocal(inp: RefInputs, alpha: number, gamma: number): number {
  let s = 0;
  inp.x.forEach((x, i) => {
    const y = inp.y[i];
    const alphaT = y === 1 ? alpha : 1 - alpha;
    const logPt = y === 1 ? logSigmoid(x) : logSigmoid(-x);
    s += elementMask(inp, i) * -alphaT * oneMinusPt(x, y) ** gamma * logPt;
  });
  let positives = 0;
  for (let a = 0; a < inp.mask.length; a++) {
    let any = false;
    for (let c = 0; c < inp.classes; c++) any ||= inp.y[a * inp.classes + c] === 1;
    if (any && inp.mask[a] === 1) positives++;
  }
  return s / Math.max(1, positives);
}

/** Smooth-L1 over flat [anchors·4] deltas with per-anchor positive flags. */
export function refSmoothL1(pred: number[], target: number[], positive: number[], beta: number): number {
  let s = 0;
  pred.forEach((p, i) => {
    if (positive[Math.floor(i / 4)] !== 1) return;
    const d = Math.abs(p - target[i]);
    s += d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta;
  });
  return s / Math.max(1, positive.filter((v) => v === 1).length);
}

/**
 * Fourth-order central finite difference of `f` with respect to x[i], in float64. With h = 1e-3 the
 * truncation error is ~h⁴ and the rounding error of re-summing hundreds of terms ~1e-13/h, both far
 * below float32 resolution. `f` must be smooth within ±2h of x.
 */
export function finiteDifference(f: (x: number[]) => number, x: number[], i: number, h = 1e-3): number {
  const at = (delta: number): number => {
    const shifted = [...x];
    shifted[i] += delta;
    return f(shifted);
  };
  return (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
}

/** Standard normal draws by Box–Muller on top of `rand`. */
export function seededNormal(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/**
 * Random [anchors, classes] inputs, every value representable in float32 so the tensors and the
 * reference see identical numbers: logits ~ 3·N(0,1), teacher q = σ(4·N(0,1)) with a few exact 0s and
 * 1s, ~20% positive anchors (some with two positive classes), ~15% of anchors ignored.
 */
export function randomInputs(seed: number, anchors: number, classes: number): RefInputs {
  const rand = seededRandom(seed);
  const normal = seededNormal(rand);
  const n = anchors * classes;
  const x = Array.from({ length: n }, () => Math.fround(3 * normal()));
  const q = Array.from({ length: n }, () => {
    const r = rand();
    if (r < 0.03) return 0;
    if (r < 0.06) return 1;
    return Math.fround(sigmoid(4 * normal()));
  });
  const y = new Array<number>(n).fill(0);
  const mask = Array.from({ length: anchors }, () => (rand() < 0.15 ? 0 : 1));
  for (let a = 0; a < anchors; a++) {
    if (rand() >= 0.2) continue;
    y[a * classes + Math.floor(rand() * classes)] = 1;
    if (rand() < 0.2) y[a * classes + Math.floor(rand() * classes)] = 1;
  }
  return { x, q, y, mask, classes };
}
