import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  QUANTIZATION_ERROR_BOUND,
  dequantizeSoftLabels,
  keptAnchors,
  quantizeSoftLabels,
  softLabelBytes,
  softLabelsSchema,
} from '../../src/messages/soft_labels.ts';
import { ANCHORS_128, CLASSES, CONFIDENT_TEACHER, UNSURE_TEACHER, rng, teacherProbs } from './fixtures.ts';

// Dequantized values are float32: allow its rounding on top of the half-step bound.
const F32_SLACK = 1e-7;

function maxAbsError(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

test('the quantization error bound is half a step of 1/255', () => {
  assert.equal(QUANTIZATION_ERROR_BOUND, 1 / 510);
});

test('dense: every value within 1/510, including exact half steps and the ends', () => {
  const random = rng(3);
  const anchors = 1001;
  const q = new Float32Array(anchors * 3);
  for (let i = 0; i < q.length; i++) q[i] = random();
  // Worst cases: values half-way between two levels, and 0 and 1 themselves.
  for (let k = 0; k < 255; k++) q[k] = (k + 0.5) / 255;
  q[300] = 0;
  q[301] = 1;
  const soft = quantizeSoftLabels(q, anchors, 3);
  assert.equal(soft.layout, 'dense');
  assert.equal(soft.values.length, anchors * 3);
  const back = dequantizeSoftLabels(soft);
  const err = maxAbsError(q, back);
  assert.ok(err <= 1 / 510 + F32_SLACK, `max error ${err}`);
  assert.ok(err > 1 / 510 - 1e-6, 'the half-step cases reach the bound (so the test can see a coarser quantizer)');
  assert.equal(back[300], 0);
  assert.equal(back[301], 1);
  assert.equal(softLabelsSchema.safeParse(soft).success, true);
});

test('sparse: kept values within 1/510, dropped anchors had max q < ε and read back as 0', () => {
  for (const epsilon of [0.01, 0.05, 0.2]) {
    const q = teacherProbs(ANCHORS_128, CLASSES, UNSURE_TEACHER, 11);
    const soft = quantizeSoftLabels(q, ANCHORS_128, CLASSES, { epsilon });
    assert.equal(soft.layout, 'sparse');
    assert.equal(softLabelsSchema.safeParse(soft).success, true);
    const back = dequantizeSoftLabels(soft);
    let kept = 0;
    for (let a = 0; a < ANCHORS_128; a++) {
      const row = q.subarray(a * CLASSES, (a + 1) * CLASSES);
      const rowBack = back.subarray(a * CLASSES, (a + 1) * CLASSES);
      const max = Math.max(...row);
      const isKept = (soft.mask as Uint8Array)[a >> 3] & (1 << (a & 7));
      if (max >= epsilon) {
        assert.ok(isKept, `anchor ${a} with max q ${max} ≥ ε was dropped`);
        kept += 1;
        assert.ok(maxAbsError(row, rowBack) <= 1 / 510 + F32_SLACK);
      } else {
        assert.ok(!isKept, `anchor ${a} with max q ${max} < ε was kept`);
        assert.deepEqual([...rowBack], new Array(CLASSES).fill(0));
        assert.ok(maxAbsError(row, rowBack) < epsilon);
      }
    }
    assert.equal(keptAnchors(soft), kept);
    assert.ok(kept > 0 && kept < ANCHORS_128, `ε=${epsilon} kept ${kept}`);
    assert.equal(softLabelBytes(soft), Math.ceil(ANCHORS_128 / 8) + kept * CLASSES);
  }
});

test('anchor counts that are not a multiple of 8, and all-dropped / all-kept extremes', () => {
  const q = new Float32Array([0.8, 0.001, 0.0, 0.002, 0.25, 0.4, 0.001, 0.0, 0.0, 0.0, 0.6, 0.2, 0.5, 0.5]);
  const soft = quantizeSoftLabels(q, 7, 2, { epsilon: 0.1 });
  assert.deepEqual([...(soft.mask as Uint8Array)], [0b1100101]);
  assert.deepEqual([...soft.values], [204, 0, 64, 102, 153, 51, 128, 128]);
  const none = quantizeSoftLabels(new Float32Array(14).fill(0.01), 7, 2, { epsilon: 0.5 });
  assert.equal(none.values.length, 0);
  assert.deepEqual([...dequantizeSoftLabels(none)], new Array(14).fill(0));
  const all = quantizeSoftLabels(new Float32Array(14).fill(0.6), 7, 2, { epsilon: 0.5 });
  assert.equal(keptAnchors(all), 7);
});

test('refuses NaN, values outside [0, 1] (logits?), wrong lengths and unsupported bit widths; clamps float noise', () => {
  assert.throws(() => quantizeSoftLabels(new Float32Array([0.5, NaN]), 1, 2), /NaN at anchor 0, class 1/);
  assert.throws(() => quantizeSoftLabels(new Float32Array([0.5, -2.3]), 1, 2), /not in \[0, 1\]/);
  assert.throws(() => quantizeSoftLabels(new Float32Array([0.5, 1.5]), 1, 2), /not in \[0, 1\]/);
  assert.throws(() => quantizeSoftLabels(new Float32Array(5), 2, 3), /expected 2 × 3 = 6/);
  assert.throws(() => quantizeSoftLabels(new Float32Array(4), 2, 2, { bits: 4 as 8 }), /only 8-bit/);
  assert.throws(() => quantizeSoftLabels(new Float32Array(4), 2, 2, { epsilon: -0.1 }), /epsilon/);
  const soft = quantizeSoftLabels(new Float32Array([1.00001, -0.00001]), 1, 2);
  assert.deepEqual([...soft.values], [255, 0]);
});

test('the schema catches inconsistent soft labels', () => {
  const good = quantizeSoftLabels(new Float32Array(20).fill(0.3), 10, 2, { epsilon: 0.1 });
  const issues = (value: unknown): string =>
    softLabelsSchema
      .safeParse(value)
      .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
      .join('; ') ?? '';
  assert.equal(issues(good), '');
  assert.match(issues({ ...good, mask: new Uint8Array(1) }), /mask: expected 2 bytes/);
  assert.match(issues({ ...good, mask: Uint8Array.of(0xff, 0xff) }), /mask: bits set past the last anchor/);
  assert.match(issues({ ...good, values: good.values.subarray(1) }), /values: expected 20 bytes \(kept anchors × classes\), got 19/);
  assert.match(issues({ ...good, mask: undefined }), /mask: sparse soft labels need a mask/);
  const dense = quantizeSoftLabels(new Float32Array(20).fill(0.3), 10, 2);
  assert.match(issues({ ...dense, values: new Uint8Array(3) }), /values: expected 20 bytes \(anchors × classes\), got 3/);
  assert.match(issues({ ...dense, bits: 16 }), /bits/);
  assert.match(issues({ ...dense, values: [1, 2] }), /values: expected a Uint8Array/);
});

test('size per image at 128×128 (3024 anchors × 4 classes), dense and sparse', (t) => {
  const dense = quantizeSoftLabels(teacherProbs(ANCHORS_128, CLASSES, CONFIDENT_TEACHER), ANCHORS_128, CLASSES);
  assert.equal(softLabelBytes(dense), ANCHORS_128 * CLASSES);
  t.diagnostic(`dense: ${softLabelBytes(dense)} B (float32 would be ${ANCHORS_128 * CLASSES * 4} B)`);
  for (const [name, dist] of [
    ['confident teacher', CONFIDENT_TEACHER],
    ['unsure teacher', UNSURE_TEACHER],
  ] as const) {
    const q = teacherProbs(ANCHORS_128, CLASSES, dist, 5);
    for (const epsilon of [0.01, 0.02, 0.05]) {
      const soft = quantizeSoftLabels(q, ANCHORS_128, CLASSES, { epsilon });
      const bytes = softLabelBytes(soft);
      assert.ok(bytes < softLabelBytes(dense));
      t.diagnostic(`${name}, ε=${epsilon}: kept ${keptAnchors(soft)}/${ANCHORS_128} anchors, ${bytes} B, max error ${maxAbsError(q, dequantizeSoftLabels(soft)).toFixed(4)}`);
    }
  }
});
