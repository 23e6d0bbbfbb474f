// What stages record: outcomes by reason (DLQ reasons from the record's headers), step timings, student figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDlqRecord } from '../../src/messages/dlq.ts';
import { MessageDecodeError } from '../../src/messages/errors.ts';
import { PipelineMetrics } from '../../src/observability/metrics.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';

const source = { topic: 'in', partition: 0, offset: '7', key: 'k', value: new Uint8Array([1]) };

test('teacher outcomes: samples, rejections by reason, DLQ records by their reason or error class', async () => {
  const metrics = new PipelineMetrics({ process: 'teacher', defaultMetrics: false });
  const m = metrics.forStage('teacher');
  m.imagesConsumed(4);
  m.sample();
  m.rejected('no-detections');
  m.rejected('no-detections');
  m.dlq(buildDlqRecord({ stage: 'teacher', error: new MessageDecodeError('ImageRef', 'bad-magic', 'not an envelope'), source }));
  m.dlq(buildDlqRecord({ stage: 'teacher', error: new TypeError('boom'), source }));
  const s = parsePrometheus(await metrics.scrape());
  assert.equal(sampleValue(s, 'distillery_images_consumed_total', { stage: 'teacher' }), 4);
  assert.equal(sampleValue(s, 'distillery_samples_total', { stage: 'teacher' }), 1);
  assert.equal(sampleValue(s, 'distillery_rejected_total', { stage: 'teacher', reason: 'no-detections' }), 2);
  assert.equal(sampleValue(s, 'distillery_dlq_total', { stage: 'teacher', reason: 'bad-magic' }), 1);
  assert.equal(sampleValue(s, 'distillery_dlq_total', { stage: 'teacher', reason: 'TypeError' }), 1);
});

test('step timings land in the histogram, failures included', async () => {
  const metrics = new PipelineMetrics({ process: 'teacher', defaultMetrics: false });
  const m = metrics.forStage('teacher');
  m.teacherStep('infer', 0.3);
  assert.equal(await m.time('fetch', async () => 'bytes'), 'bytes');
  await assert.rejects(m.time('fetch', async () => Promise.reject(new Error('gone'))), /gone/);
  const s = parsePrometheus(await metrics.scrape());
  assert.equal(sampleValue(s, 'distillery_teacher_step_seconds_count', { step: 'fetch' }), 2);
  assert.equal(sampleValue(s, 'distillery_teacher_step_seconds_sum', { step: 'infer' }), 0.3);
  assert.equal(sampleValue(s, 'distillery_teacher_step_seconds_bucket', { step: 'infer', le: '0.25' }), 0);
  assert.equal(sampleValue(s, 'distillery_teacher_step_seconds_bucket', { step: 'infer', le: '0.5' }), 1);
});

test('student figures: loss terms, learning rate, samples/s of the step, steps, AP', async () => {
  const metrics = new PipelineMetrics({ process: 'student', defaultMetrics: false });
  const m = metrics.forStage('student');
  m.samplesConsumed(3);
  m.studentStep({ step: 41, lr: 0.001, focal: 0.5, distillation: 0.25, localization: 0.125, total: 0.875, ms: 250 }, 8);
  m.studentStep({ step: 42, lr: 0.002, focal: 0.4, distillation: 0.2, localization: 0.1, total: 0.7, ms: 500 }, 8);
  m.studentEvaluation({ AP: 0.25, AP50: 0.5 });
  const s = parsePrometheus(await metrics.scrape());
  const v = (name: string, labels: Record<string, string> = {}): number | undefined => sampleValue(s, name, { stage: 'student', ...labels });
  assert.equal(v('distillery_samples_consumed_total'), 3);
  assert.deepEqual(
    ['focal', 'distillation', 'localization', 'total'].map((term) => v('distillery_student_loss', { term })),
    [0.4, 0.2, 0.1, 0.7],
  );
  assert.equal(v('distillery_student_learning_rate'), 0.002);
  assert.equal(v('distillery_student_samples_per_second'), 16);
  assert.equal(v('distillery_student_steps_total'), 2);
  assert.equal(v('distillery_student_step'), 42);
  assert.equal(v('distillery_student_ap'), 0.25);
  assert.equal(v('distillery_student_ap50'), 0.5);
});
