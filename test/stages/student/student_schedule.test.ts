// The student's schedule: from-scratch warm-up and peak, or the gentler init* ones for a student started from a saved model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { studentSchedule } from '../../../src/stages/student/student_schedule.ts';
import { learningRateAt } from '../../../src/train/schedule.ts';

const SCRATCH = { learningRate: 1e-3, warmupSteps: 100, steps: 2000 };
const FINE_TUNE = { ...SCRATCH, initLearningRate: 3e-4, initWarmupSteps: 20 };

test('a student started from a saved model takes initLearningRate and initWarmupSteps; one from random weights ignores them', () => {
  assert.deepEqual(studentSchedule(FINE_TUNE, true), { baseLr: 3e-4, warmupSteps: 20, totalSteps: 2000, decay: 'cosine', finalLrRatio: 0 });
  assert.deepEqual(studentSchedule(FINE_TUNE, false), { baseLr: 1e-3, warmupSteps: 100, totalSteps: 2000, decay: 'cosine', finalLrRatio: 0 });
  const fineTune = studentSchedule(FINE_TUNE, true);
  assert.equal(learningRateAt(fineTune, 19), 3e-4, 'the peak after the shorter warm-up');
  assert.ok(Math.max(...Array.from({ length: 2000 }, (_, s) => learningRateAt(fineTune, s))) <= 3e-4);
});

test('without the init options a started student keeps the from-scratch schedule, each option on its own', () => {
  assert.deepEqual(studentSchedule(SCRATCH, true), studentSchedule(SCRATCH, false));
  assert.deepEqual([studentSchedule({ ...SCRATCH, initWarmupSteps: 0 }, true).baseLr, studentSchedule({ ...SCRATCH, initWarmupSteps: 0 }, true).warmupSteps], [1e-3, 0]);
  assert.deepEqual([studentSchedule({ ...SCRATCH, initLearningRate: 5e-4 }, true).baseLr, studentSchedule({ ...SCRATCH, initLearningRate: 5e-4 }, true).warmupSteps], [5e-4, 100]);
});

test('a continuous student (steps 0) keeps a constant rate, the gentler one when started from a model', () => {
  const s = studentSchedule({ ...FINE_TUNE, steps: 0 }, true);
  assert.deepEqual([s.decay, s.baseLr, learningRateAt(s, 10_000)], ['constant', 3e-4, 3e-4]);
  assert.throws(() => studentSchedule({ ...FINE_TUNE, initLearningRate: 0 }, true), /learning rate must be > 0/);
});
