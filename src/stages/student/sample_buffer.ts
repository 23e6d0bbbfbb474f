// The student's replay buffer: labeled and unlabeled pools of decoded samples, and the fresh-first batch draw.
//
// Policy (DESIGN §1, "batches labeled:unlabeled"):
//   * Capacity is shared: the pools hold at most `capacity` samples together. Each pool has a share —
//     round(capacity · f) labeled, the rest unlabeled, f = labeledFraction (1 with labeledOnly) — and may borrow
//     what the other pool leaves unused, so a small labeled set is kept whole while unlabeled samples fill the rest.
//     When the buffer overflows, the pool over its share drops its oldest *used* sample (its oldest one when none
//     was used yet: only when the caller ignored `hasRoomFor`).
//   * A pool that never gets batch slots (labeled when f = 0, unlabeled when f = 1 or labeledOnly) accepts nothing:
//     its samples would only take memory (`accepts`).
//   * A batch of B has L labeled slots, L = ⌊B·f⌋ or ⌈B·f⌉ (stochastic rounding, so the long-run ratio is exactly f
//     even when B·f is not an integer); slots a pool cannot fill (it holds fewer samples) go to the other pool.
//   * Fresh first: within a pool, samples never drawn yet ("fresh") fill the slots first, oldest first; the rest
//     are a uniform draw without replacement from the pool's used samples. Every sample is therefore trained on
//     once, in arrival order, before it is replayed; `hasRoomFor` lets the consumer wait instead of dropping fresh
//     samples, and bounds how far it may run ahead of training (`maxFresh`).
import type { SoftLabels } from '../../messages/soft_labels.ts';
import type { SeededRng } from '../../train/rng.ts';
import type { ImageBoxes } from '../../train/targets.ts';

export type Pool = 'labeled' | 'unlabeled';

export const POOLS: readonly Pool[] = ['labeled', 'unlabeled'];

/** Where a sample was consumed from (offset as a number: the buffer compares them). */
export interface SampleSource {
  topic: string;
  partition: number;
  offset: number;
}

/** One decoded Sample, ready to be batched. */
export interface BufferedSample {
  /** Image id (the samples topic's key). */
  id: string;
  pool: Pool;
  /** Model-input RGB, row-major, size × size × 3. */
  pixels: Uint8Array;
  /** Hard labels in model-input pixels: ground truth for labeled samples, the teacher's detections otherwise. */
  hard: ImageBoxes;
  /** The teacher's per-anchor probabilities, still quantized (dequantized when batched: 4× smaller meanwhile). */
  soft: SoftLabels;
  source: SampleSource;
  /** Times drawn into a batch; 0 = fresh. */
  uses: number;
}

export interface SampleBufferOptions {
  /** Samples held in memory across both pools. */
  capacity: number;
  /** Share of each batch drawn from the labeled pool. */
  labeledFraction: number;
  /** Only the labeled pool is used. */
  labeledOnly: boolean;
  /** `hasRoomFor` is false while this many fresh samples wait (default: capacity). */
  maxFresh?: number;
}

/** Slots of one batch per pool. */
export interface BatchSlots {
  labeled: number;
  unlabeled: number;
}

export class SampleBuffer {
  readonly capacity: number;
  readonly maxFresh: number;
  /** Effective labeled share of a batch: 1 with labeledOnly. */
  readonly labeledShare: number;
  private readonly pools: Record<Pool, BufferedSample[]> = { labeled: [], unlabeled: [] };
  private readonly freshCounts: Record<Pool, number> = { labeled: 0, unlabeled: 0 };
  private waiters: Array<() => void> = [];

  constructor(options: SampleBufferOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError(`buffer capacity must be a positive integer, got ${options.capacity}`);
    if (!(options.labeledFraction >= 0 && options.labeledFraction <= 1)) throw new RangeError(`labeledFraction must be in [0, 1], got ${options.labeledFraction}`);
    this.capacity = options.capacity;
    this.labeledShare = options.labeledOnly ? 1 : options.labeledFraction;
    this.maxFresh = options.maxFresh ?? options.capacity;
    if (!Number.isInteger(this.maxFresh) || this.maxFresh < 1) throw new RangeError(`maxFresh must be a positive integer, got ${this.maxFresh}`);
  }

  /** Whether samples of this pool are kept at all (a pool without batch slots would only hold memory). */
  accepts(pool: Pool): boolean {
    return pool === 'labeled' ? this.labeledShare > 0 : this.labeledShare < 1;
  }

  /** Samples a pool may keep without borrowing from the other. */
  share(pool: Pool): number {
    const labeled = Math.round(this.capacity * this.labeledShare);
    return pool === 'labeled' ? labeled : this.capacity - labeled;
  }

  get size(): number {
    return this.pools.labeled.length + this.pools.unlabeled.length;
  }

  count(pool: Pool): number {
    return this.pools[pool].length;
  }

  /** Samples never drawn yet, in one pool or in both. */
  fresh(pool?: Pool): number {
    return pool === undefined ? this.freshCounts.labeled + this.freshCounts.unlabeled : this.freshCounts[pool];
  }

  /** Every sample not yet trained on (for the offsets that may be committed). */
  *freshSamples(): Generator<BufferedSample> {
    for (const pool of POOLS) for (const s of this.pools[pool]) if (s.uses === 0) yield s;
  }

  /**
   * True when a sample of `pool` can be added without dropping a sample that was never trained on, and fewer
   * than `maxFresh` samples wait to be drawn. The consumer waits on `changed()` while this is false.
   */
  hasRoomFor(pool: Pool): boolean {
    if (this.fresh() >= this.maxFresh) return false;
    if (this.size < this.capacity) return true;
    const victim = this.count(pool) + 1 > this.share(pool) ? pool : other(pool);
    return this.freshCounts[victim] < this.count(victim);
  }

  /** Adds a fresh sample; returns the samples dropped to stay within capacity. */
  add(sample: BufferedSample): BufferedSample[] {
    if (!this.accepts(sample.pool)) throw new Error(`the ${sample.pool} pool takes no samples (labeled share ${this.labeledShare})`);
    this.pools[sample.pool].push(sample);
    if (sample.uses === 0) this.freshCounts[sample.pool] += 1;
    const dropped: BufferedSample[] = [];
    while (this.size > this.capacity) {
      // Both pools cannot exceed their shares at once: the shares sum to the capacity.
      const victim = this.count('labeled') > this.share('labeled') ? 'labeled' : 'unlabeled';
      dropped.push(this.evictOldest(victim));
    }
    this.notify();
    return dropped;
  }

  /** Slots per pool for a batch of `batchSize` (one rng draw), before capping by what the pools hold. */
  slots(batchSize: number, rng: SeededRng): BatchSlots {
    const exact = batchSize * this.labeledShare;
    const whole = Math.floor(exact);
    const labeled = Math.min(batchSize, whole + (rng.next() < exact - whole ? 1 : 0));
    return { labeled, unlabeled: batchSize - labeled };
  }

  /**
   * Draws a batch: labeled samples first, then unlabeled ones; fresh samples (oldest first) before replayed ones,
   * no sample twice. Needs `size ≥ batchSize`. Marks the drawn samples used.
   */
  draw(batchSize: number, rng: SeededRng): BufferedSample[] {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    if (this.size < batchSize) throw new RangeError(`cannot draw ${batchSize} samples from a buffer of ${this.size}`);
    const wanted = this.slots(batchSize, rng);
    let labeled = Math.min(wanted.labeled, this.count('labeled'));
    const unlabeled = Math.min(batchSize - labeled, this.count('unlabeled'));
    labeled = Math.min(batchSize - unlabeled, this.count('labeled'));
    const batch = [...this.take('labeled', labeled, rng), ...this.take('unlabeled', unlabeled, rng)];
    this.notify();
    return batch;
  }

  /** Resolves on the next add or draw. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private take(pool: Pool, k: number, rng: SeededRng): BufferedSample[] {
    const items = this.pools[pool];
    const picked: BufferedSample[] = [];
    for (const s of items) {
      if (picked.length === k) break;
      if (s.uses === 0) picked.push(s);
    }
    const rest = k - picked.length;
    if (rest > 0) {
      // All fresh samples are already picked, so the candidates are exactly the used ones.
      const used = items.filter((s) => s.uses > 0);
      for (let j = 0; j < rest; j++) {
        const i = j + rng.int(used.length - j);
        [used[j], used[i]] = [used[i], used[j]];
        picked.push(used[j]);
      }
    }
    for (const s of picked) {
      if (s.uses === 0) this.freshCounts[pool] -= 1;
      s.uses += 1;
    }
    return picked;
  }

  private evictOldest(pool: Pool): BufferedSample {
    const items = this.pools[pool];
    let index = items.findIndex((s) => s.uses > 0);
    if (index < 0) index = 0;
    const [gone] = items.splice(index, 1);
    if (gone.uses === 0) this.freshCounts[pool] -= 1;
    return gone;
  }
}

function other(pool: Pool): Pool {
  return pool === 'labeled' ? 'unlabeled' : 'labeled';
}
