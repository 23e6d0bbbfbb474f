// Replay buffer: labeled:unlabeled mixing, fresh-first draws, shared capacity with per-pool shares, room for the consumer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeSoftLabels } from '../../../src/messages/soft_labels.ts';
import { SampleBuffer, type BufferedSample, type Pool } from '../../../src/stages/student/sample_buffer.ts';
import { SeededRng } from '../../../src/train/rng.ts';

let nextOffset = 0;

function sample(id: string, pool: Pool): BufferedSample {
  return {
    id,
    pool,
    pixels: new Uint8Array(3),
    hard: { boxes: [], classIds: [] },
    soft: quantizeSoftLabels(new Float32Array([0.5]), 1, 1),
    source: { topic: 't', partition: 0, offset: nextOffset++ },
    uses: 0,
  };
}

function fill(buffer: SampleBuffer, pool: Pool, n: number, prefix = pool[0]): BufferedSample[] {
  const added = Array.from({ length: n }, (_, i) => sample(`${prefix}${i}`, pool));
  for (const s of added) buffer.add(s);
  return added;
}

const ids = (batch: BufferedSample[]): string[] => batch.map((s) => s.id);

test('batches mix labeled:unlabeled at labeledFraction, labeled first, with stochastic rounding for fractional slots', () => {
  const buffer = new SampleBuffer({ capacity: 200, labeledFraction: 0.25, labeledOnly: false });
  fill(buffer, 'labeled', 50);
  fill(buffer, 'unlabeled', 150);
  const rng = new SeededRng(1);
  for (let i = 0; i < 20; i++) {
    const batch = buffer.draw(8, rng);
    assert.deepEqual(batch.map((s) => s.pool), ['labeled', 'labeled', 'unlabeled', 'unlabeled', 'unlabeled', 'unlabeled', 'unlabeled', 'unlabeled']);
  }

  // 5 · 0.3 = 1.5 labeled slots: 1 or 2 per batch, 1.5 on average.
  const odd = new SampleBuffer({ capacity: 10, labeledFraction: 0.3, labeledOnly: false });
  const counts = new Map<number, number>();
  let total = 0;
  const draws = 20_000;
  for (let i = 0; i < draws; i++) {
    const { labeled, unlabeled } = odd.slots(5, rng);
    assert.equal(labeled + unlabeled, 5);
    counts.set(labeled, (counts.get(labeled) ?? 0) + 1);
    total += labeled;
  }
  assert.deepEqual([...counts.keys()].sort(), [1, 2]);
  assert.ok(Math.abs(total / draws - 1.5) < 0.02, `mean labeled slots ${total / draws}`);
});

test('slots a pool cannot fill go to the other pool; an empty pool gives all its slots away', () => {
  const rng = new SeededRng(2);
  const onlyUnlabeled = new SampleBuffer({ capacity: 20, labeledFraction: 0.5, labeledOnly: false });
  fill(onlyUnlabeled, 'unlabeled', 8);
  assert.deepEqual(onlyUnlabeled.draw(8, rng).map((s) => s.pool), Array(8).fill('unlabeled'));

  const oneLabeled = new SampleBuffer({ capacity: 20, labeledFraction: 0.5, labeledOnly: false });
  fill(oneLabeled, 'labeled', 1);
  fill(oneLabeled, 'unlabeled', 5);
  assert.deepEqual(oneLabeled.draw(4, rng).map((s) => s.pool), ['labeled', 'unlabeled', 'unlabeled', 'unlabeled']);

  const fewUnlabeled = new SampleBuffer({ capacity: 20, labeledFraction: 0.5, labeledOnly: false });
  fill(fewUnlabeled, 'labeled', 5);
  fill(fewUnlabeled, 'unlabeled', 1);
  assert.deepEqual(fewUnlabeled.draw(4, rng).map((s) => s.pool), ['labeled', 'labeled', 'labeled', 'unlabeled']);

  assert.throws(() => fewUnlabeled.draw(7, rng), /cannot draw 7 samples from a buffer of 6/);
});

test('fresh samples are drawn first, oldest first; a sample arriving later is in the next batch; then uniform replay without repeats', () => {
  const buffer = new SampleBuffer({ capacity: 50, labeledFraction: 0, labeledOnly: false });
  const rng = new SeededRng(3);
  fill(buffer, 'unlabeled', 6, 'u');
  assert.equal(buffer.fresh(), 6);
  assert.deepEqual(ids(buffer.draw(4, rng)), ['u0', 'u1', 'u2', 'u3']);
  assert.equal(buffer.fresh(), 2);
  const next = buffer.draw(4, rng);
  assert.deepEqual(ids(next).slice(0, 2), ['u4', 'u5'], 'the two remaining fresh samples come first');
  assert.equal(new Set(ids(next)).size, 4, 'no sample twice in a batch');
  assert.equal(buffer.fresh(), 0);

  buffer.add(sample('late', 'unlabeled'));
  assert.ok(ids(buffer.draw(4, rng)).includes('late'), 'a new sample is used in the very next batch');

  // Replay: every used sample about equally often, never twice in one batch.
  const seen = new Map<string, number>();
  const rounds = 7000;
  for (let i = 0; i < rounds; i++) {
    const batch = ids(buffer.draw(4, rng));
    assert.equal(new Set(batch).size, 4);
    for (const id of batch) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const expected = (rounds * 4) / 7;
  for (const [id, n] of seen) assert.ok(Math.abs(n - expected) / expected < 0.05, `${id} drawn ${n} times, expected ≈ ${expected}`);
  assert.equal(seen.size, 7);
});

test('draws are reproducible from the rng state', () => {
  const run = (): string[][] => {
    nextOffset = 0;
    const buffer = new SampleBuffer({ capacity: 30, labeledFraction: 0.4, labeledOnly: false });
    fill(buffer, 'labeled', 10);
    fill(buffer, 'unlabeled', 20);
    const rng = new SeededRng(9);
    return Array.from({ length: 12 }, () => ids(buffer.draw(5, rng)));
  };
  assert.deepEqual(run(), run());
});

test('capacity is shared: a small labeled set stays whole while unlabeled samples evict their own oldest used ones', () => {
  const buffer = new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: false });
  const rng = new SeededRng(4);
  assert.deepEqual([buffer.share('labeled'), buffer.share('unlabeled')], [5, 5]);
  fill(buffer, 'labeled', 2, 'l');
  buffer.draw(2, rng); // the labeled pair is used
  fill(buffer, 'unlabeled', 8, 'u');
  assert.deepEqual([buffer.size, buffer.fresh()], [10, 8]);
  // Unlabeled borrows the labeled pool's unused share; it is the pool to shrink, and all of it is fresh.
  assert.equal(buffer.hasRoomFor('unlabeled'), false);
  assert.equal(buffer.hasRoomFor('labeled'), false);
  for (let i = 0; i < 3; i++) buffer.draw(4, rng); // 2 labeled + 2 unlabeled each: u0…u5 used
  assert.equal(buffer.fresh('unlabeled'), 2);
  assert.equal(buffer.hasRoomFor('unlabeled'), true);
  const dropped = buffer.add(sample('new', 'unlabeled'));
  assert.deepEqual(ids(dropped), ['u0'], 'the oldest used unlabeled sample goes');
  assert.deepEqual([buffer.count('labeled'), buffer.count('unlabeled')], [2, 8]);
  // A labeled sample (pool under its share) pushes out an unlabeled one (pool over its share).
  assert.deepEqual(ids(buffer.add(sample('l-new', 'labeled'))), ['u1']);
  assert.deepEqual([buffer.count('labeled'), buffer.count('unlabeled')], [3, 7]);
});

test('hasRoomFor bounds how many fresh samples may wait (maxFresh)', () => {
  const buffer = new SampleBuffer({ capacity: 100, labeledFraction: 0.5, labeledOnly: false, maxFresh: 3 });
  fill(buffer, 'unlabeled', 3);
  assert.equal(buffer.hasRoomFor('unlabeled'), false);
  assert.equal(buffer.hasRoomFor('labeled'), false);
  buffer.draw(2, new SeededRng(1));
  assert.equal(buffer.hasRoomFor('labeled'), true);
});

test('pools without batch slots accept nothing: labeledOnly drops unlabeled, labeledFraction 0 drops labeled', () => {
  const labeledOnly = new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: true });
  assert.deepEqual([labeledOnly.accepts('labeled'), labeledOnly.accepts('unlabeled'), labeledOnly.share('labeled')], [true, false, 10]);
  assert.throws(() => labeledOnly.add(sample('u', 'unlabeled')), /unlabeled pool takes no samples/);
  fill(labeledOnly, 'labeled', 4);
  assert.deepEqual(labeledOnly.draw(4, new SeededRng(1)).map((s) => s.pool), Array(4).fill('labeled'));

  const unlabeledOnly = new SampleBuffer({ capacity: 10, labeledFraction: 0, labeledOnly: false });
  assert.deepEqual([unlabeledOnly.accepts('labeled'), unlabeledOnly.accepts('unlabeled')], [false, true]);
});

test('changed() resolves on add and on draw', async () => {
  const buffer = new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: false });
  let woken = 0;
  void buffer.changed().then(() => woken++);
  buffer.add(sample('a', 'labeled'));
  await Promise.resolve();
  assert.equal(woken, 1);
  void buffer.changed().then(() => woken++);
  buffer.draw(1, new SeededRng(1));
  await Promise.resolve();
  assert.equal(woken, 2);
});
