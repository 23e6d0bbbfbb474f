// Admission of consumed Samples: decode, teacher-lineage and shape checks, image decode, pools the student ignores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anchorConfigFromDetector } from '../../../src/boxes/anchor_config.ts';
import { decodeRgb, ImageDecodeError } from '../../../src/image/letterbox.ts';
import { MessageDecodeError } from '../../../src/messages/errors.ts';
import { encodeSample } from '../../../src/messages/sample.ts';
import { admitSample, SampleMismatchError, type StudentLayout } from '../../../src/stages/student/admit_sample.ts';
import { ANCHORS, CLASSES, SIZE, makeSample, studentTopology, tinyStudentConfig } from './fixtures.ts';

const topology = studentTopology();
const layout: StudentLayout = { anchors: topology.anchors, inputSize: SIZE, numAnchors: ANCHORS, numClasses: CLASSES };
const all = (): boolean => true;

test('a valid Sample becomes pixels + hard boxes in its pool', async () => {
  const sample = await makeSample(topology, { id: '7', split: 'labeled' });
  const a = await admitSample(encodeSample(sample), layout, all);
  assert.equal(a.kind, 'sample');
  if (a.kind !== 'sample') return;
  assert.deepEqual([a.id, a.pool], ['7', 'labeled']);
  assert.deepEqual(a.pixels, await decodeRgb(sample.image.bytes, SIZE));
  assert.deepEqual(a.hard, { boxes: sample.hard.map((h) => h.box), classIds: sample.hard.map((h) => h.classId) });
  assert.deepEqual(a.sample.soft.values, sample.soft.values);

  const u = await admitSample(encodeSample(await makeSample(topology, { id: '8', split: 'unlabeled' })), layout, all);
  assert.equal(u.kind === 'sample' && u.pool, 'unlabeled');
});

test('samples of a pool the student does not use are ignored (after the checks)', async () => {
  const onlyLabeled = (pool: string): boolean => pool === 'labeled';
  assert.deepEqual(await admitSample(encodeSample(await makeSample(topology, { id: '3' })), layout, onlyLabeled), { kind: 'ignored', id: '3', pool: 'unlabeled' });
  const bad = await admitSample(encodeSample(await makeSample(topology, { id: '4', anchorConfig: { sizeFactor: 8 } })), layout, onlyLabeled);
  assert.equal(bad.kind, 'dead', 'a mismatched sample is dead-lettered even when its pool is ignored');
});

test('undecodable bytes, foreign anchor layouts, other input sizes, class counts and test-split samples are dead', async () => {
  const garbage = await admitSample(Uint8Array.from([1, 2, 3, 4, 5]), layout, all);
  assert.ok(garbage.kind === 'dead' && garbage.error instanceof MessageDecodeError);

  const cases: Array<[string, Parameters<typeof makeSample>[1], string, RegExp]> = [
    ['anchor sizes', { id: '1', anchorConfig: { sizeFactor: 8 } }, 'anchor-layout', /used anchors \{levels \[3, 4, 5\], sizeFactor 8.*soft labels would not align/],
    ['anchor ratios', { id: '2', anchorConfig: { ratios: [1] } }, 'anchor-layout', /ratios \[1\]/],
    ['input size', { id: '3', anchorConfig: { inputSize: 128 } }, 'input-size', /labeled at 128 px .* the student takes 64 px/],
    ['classes', { id: '4', classes: 3, hard: [] }, 'class-count', /3 classes, the student has 2/],
    ['test split', { id: '5', split: 'test' }, 'test-split', /test split/],
  ];
  for (const [name, spec, reason, message] of cases) {
    const a = await admitSample(encodeSample(await makeSample(topology, spec)), layout, all);
    assert.equal(a.kind, 'dead', name);
    if (a.kind !== 'dead') continue;
    assert.ok(a.error instanceof SampleMismatchError, name);
    assert.equal(a.error.reason, reason, name);
    assert.match(a.error.message, message, name);
  }

  // A student whose layout differs from the teacher's in levels: every sample of that teacher is refused.
  const otherLevels = { ...layout, anchors: anchorConfigFromDetector({ ...tinyStudentConfig(), levels: [3, 4] }) };
  const a = await admitSample(encodeSample(await makeSample(topology, { id: '6' })), otherLevels, all);
  assert.ok(a.kind === 'dead' && a.error instanceof SampleMismatchError && a.error.reason === 'anchor-layout');

  const sample = await makeSample(topology, { id: '9' });
  sample.image.bytes = sample.image.bytes.slice(0, 40);
  const cut = await admitSample(encodeSample(sample), layout, all);
  assert.ok(cut.kind === 'dead' && cut.error instanceof ImageDecodeError, 'a truncated JPEG is dead, not a crash');
});
