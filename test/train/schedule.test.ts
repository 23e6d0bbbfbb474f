import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRateAt, resolveLrSchedule } from '../../src/train/schedule.ts';

const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('linear warm-up reaches the base rate at the last warm-up step', () => {
  const s = resolveLrSchedule({ baseLr: 0.01, warmupSteps: 4, totalSteps: 100 });
  close(learningRateAt(s, 0), 0.0025);
  close(learningRateAt(s, 1), 0.005);
  close(learningRateAt(s, 3), 0.01);
});

test('cosine decay: base after warm-up, half-way at the middle, floor at the end and beyond', () => {
  const s = resolveLrSchedule({ baseLr: 0.01, warmupSteps: 10, totalSteps: 110, finalLrRatio: 0.1 });
  assert.equal(s.decay, 'cosine');
  close(learningRateAt(s, 10), 0.01);
  close(learningRateAt(s, 60), (0.01 + 0.001) / 2);
  close(learningRateAt(s, 35), 0.001 + 0.009 * 0.5 * (1 + Math.cos(Math.PI / 4)));
  close(learningRateAt(s, 110), 0.001);
  close(learningRateAt(s, 500), 0.001);
  for (let k = 10; k < 110; k++) assert.ok(learningRateAt(s, k + 1) <= learningRateAt(s, k), `not decreasing at ${k}`);
});

test('constant decay keeps the base rate; open-ended runs default to it', () => {
  const s = resolveLrSchedule({ baseLr: 0.002, warmupSteps: 2, decay: 'constant', totalSteps: 10 });
  close(learningRateAt(s, 1), 0.002);
  close(learningRateAt(s, 1000), 0.002);
  assert.equal(resolveLrSchedule({ baseLr: 1 }).decay, 'constant');
});

test('invalid schedules are refused', () => {
  assert.throws(() => resolveLrSchedule({ baseLr: 0 }), /learning rate/);
  assert.throws(() => resolveLrSchedule({ baseLr: 1, warmupSteps: 1.5 }), /warmupSteps/);
  assert.throws(() => resolveLrSchedule({ baseLr: 1, decay: 'cosine' }), /cosine decay needs totalSteps/);
  assert.throws(() => resolveLrSchedule({ baseLr: 1, totalSteps: 5, finalLrRatio: 2 }), /finalLrRatio/);
});
