// The process registry: every name prefixed, process metrics labelled with the process, tensors read at scrape time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { METRIC_PREFIX, PipelineMetrics } from '../../src/observability/metrics.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';

test('every metric is prefixed distillery_ and carries a stage label, default process metrics included', async () => {
  const metrics = new PipelineMetrics({ process: 'teacher' });
  metrics.forStage('teacher').imagesConsumed(1);
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  assert.ok(names.length > 20, `${names.length} metrics`);
  for (const name of names) assert.ok(name.startsWith(METRIC_PREFIX), name);
  // The event-loop lag gauge measures one setImmediate round started by a scrape: it shows from the second on.
  await metrics.scrape();
  await new Promise((resolve) => setImmediate(resolve));
  const samples = parsePrometheus(await metrics.scrape());
  for (const s of samples) assert.ok(typeof s.labels.stage === 'string' && s.labels.stage !== '', `${s.name} has no stage label`);
  assert.ok((sampleValue(samples, 'distillery_process_resident_memory_bytes', { stage: 'teacher' }) ?? 0) > 0);
  assert.notEqual(sampleValue(samples, 'distillery_nodejs_eventloop_lag_seconds', { stage: 'teacher' }), undefined);
  assert.notEqual(sampleValue(samples, 'distillery_nodejs_eventloop_lag_p99_seconds', { stage: 'teacher' }), undefined);
});

test('registries are per process object: two never share a value', async () => {
  const a = new PipelineMetrics({ process: 'a', defaultMetrics: false });
  const b = new PipelineMetrics({ process: 'b', defaultMetrics: false });
  a.forStage('s').imagesProduced(5);
  assert.equal(a.forStage('s'), a.forStage('s'), 'one binding per stage name');
  assert.equal(sampleValue(parsePrometheus(await a.scrape()), 'distillery_images_produced_total', { stage: 's' }), 5);
  assert.equal(sampleValue(parsePrometheus(await b.scrape()), 'distillery_images_produced_total', { stage: 's' }), undefined);
});

test('distillery_tensors follows tf.memory() once a backend is set', async () => {
  await initBackend('cpu');
  const metrics = new PipelineMetrics({ process: 'student', defaultMetrics: false });
  const before = tf.memory().numTensors;
  const kept = tf.zeros([4, 4]);
  try {
    const samples = parsePrometheus(await metrics.scrape());
    assert.equal(sampleValue(samples, 'distillery_tensors', { stage: 'student' }), before + 1);
    assert.equal(sampleValue(samples, 'distillery_tensor_bytes', { stage: 'student' }), tf.memory().numBytes);
  } finally {
    kept.dispose();
  }
  assert.equal(sampleValue(parsePrometheus(await metrics.scrape()), 'distillery_tensors', { stage: 'student' }), before);
});
