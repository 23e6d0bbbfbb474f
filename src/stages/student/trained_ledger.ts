// How many samples the student's checkpoints have trained on: first uses, counted once they fall below the saved offsets.
import { offsetKey } from './offsets.ts';
import type { SampleSource } from './sample_buffer.ts';

/**
 * A checkpoint covers, per partition, the samples below its offset: every one of them was drawn into a batch at least
 * once before the save (offsets hold back to the oldest sample never drawn). Samples first drawn at or above the
 * offset wait here until a later checkpoint covers them; a crash forgets them, and since the resumed run reads from
 * the checkpoint's offsets it trains them again — that, and nothing else, is the replay window.
 *
 * `covered` is cumulative over runs (restored from the checkpoint) and, by the rule above, equals the number of samples
 * the student admitted below the offsets: the chaos verifier compares the two.
 */
export class TrainedLedger {
  private readonly pending = new Map<string, number[]>();

  constructor(private coveredCount = 0) {}

  get covered(): number {
    return this.coveredCount;
  }

  /** Samples drawn for the first time. */
  firstUses(sources: Iterable<SampleSource>): void {
    for (const s of sources) {
      const key = offsetKey(s.topic, s.partition);
      const list = this.pending.get(key);
      if (list === undefined) this.pending.set(key, [s.offset]);
      else list.push(s.offset);
    }
  }

  /** A checkpoint with these offsets was saved: counts and forgets the first uses below them. Returns the new total. */
  checkpointed(offsets: Record<string, string>): number {
    for (const [key, list] of this.pending) {
      const next = offsets[key];
      if (next === undefined) continue;
      const bound = Number(next);
      const rest = list.filter((o) => o >= bound);
      this.coveredCount += list.length - rest.length;
      if (rest.length === 0) this.pending.delete(key);
      else this.pending.set(key, rest);
    }
    return this.coveredCount;
  }
}
