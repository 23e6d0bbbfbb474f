// Seeded uniform [0, 1) numbers for test data (mulberry32 via the project's SeededRng), so failures reproduce.
import { SeededRng } from '../../src/train/rng.ts';

export function rng(seed: number): () => number {
  const source = new SeededRng(seed);
  return () => source.next();
}
