// Tests for COCO annotation indexing: corner boxes, class mapping, key derivation, crowd flags, validation errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CocoGroundTruth } from '../../../src/eval/coco_types.ts';
import { buildAnnotationIndex, cocoBboxToBox, imageKeyFor, loadAnnotationIndex } from '../../../src/stages/ingest/annotations.ts';
import { tempStore } from './topology_fixture.ts';

const COCO: CocoGroundTruth = {
  images: [
    { id: 10, file_name: 'images/a.jpg', width: 200, height: 100 },
    { id: 11, file_name: 'images/b.jpg' },
    { id: 12 },
  ],
  annotations: [
    { id: 1, image_id: 10, category_id: 7, bbox: [10, 20, 30, 40] },
    { id: 2, image_id: 10, category_id: 2, bbox: [0.5, 1.5, 2, 3], iscrowd: 1 },
    { id: 3, image_id: 11, category_id: 5, bbox: [5, 5, 0, 10] },
    { id: 4, image_id: 12, category_id: 2, bbox: [1, 1, 1, 1] },
  ],
  categories: [{ id: 7 }, { id: 2 }, { id: 5 }],
};

test('COCO [x, y, w, h] becomes [x1, y1, x2, y2]', () => {
  assert.deepEqual(cocoBboxToBox([10, 20, 30, 40]), [10, 20, 40, 60]);
  assert.deepEqual(cocoBboxToBox([0.5, 1.5, 0, 3]), [0.5, 1.5, 0.5, 4.5]);
});

test('file names resolve against the folder of the annotation file', () => {
  assert.equal(imageKeyFor('corpus/labeled/annotations.json', 'images/000001.jpg'), 'corpus/labeled/images/000001.jpg');
  assert.equal(imageKeyFor('annotations.json', 'images/x.png'), 'images/x.png');
});

test('the index maps object keys to ids, sizes and ground truth with sorted-category class ids', () => {
  const index = buildAnnotationIndex(COCO, 'sets/lab/annotations.json');
  assert.deepEqual([...index.byKey.keys()], ['sets/lab/images/a.jpg', 'sets/lab/images/b.jpg']);
  assert.deepEqual(index.categories.categoryIds, [2, 5, 7]);
  assert.deepEqual(index.byKey.get('sets/lab/images/a.jpg'), {
    imageId: '10',
    width: 200,
    height: 100,
    gt: [
      { box: [10, 20, 40, 60], classId: 2 },
      { box: [0.5, 1.5, 2.5, 4.5], classId: 0, iscrowd: true },
    ],
  });
  // No size in the file → none in the index (ImageRef sizes are optional).
  assert.deepEqual(index.byKey.get('sets/lab/images/b.jpg'), { imageId: '11', gt: [{ box: [5, 5, 5, 15], classId: 1 }] });
});

test('two images with the same file name are an error', () => {
  const coco: CocoGroundTruth = { images: [{ id: 1, file_name: 'x.jpg' }, { id: 2, file_name: 'x.jpg' }], annotations: [], categories: [{ id: 1, name: 'a' }] };
  assert.throws(() => buildAnnotationIndex(coco, 'a/annotations.json'), /two images map to the object key a\/x\.jpg/);
});

test('loadAnnotationIndex reads from the store and names what is wrong with a bad file', async () => {
  const { store, cleanup } = await tempStore();
  try {
    await store.put('good/annotations.json', JSON.stringify(COCO));
    const index = await loadAnnotationIndex(store, 'good/annotations.json');
    assert.equal(index.byKey.get('good/images/a.jpg')?.imageId, '10');
    await store.put('bad/annotations.json', '{"images": [');
    await assert.rejects(loadAnnotationIndex(store, 'bad/annotations.json'), /bad\/annotations\.json: annotation file is not JSON/);
    await store.put('bad2/annotations.json', JSON.stringify({ ...COCO, annotations: [{ id: 1, image_id: 99, category_id: 7, bbox: [0, 0, 1, 1] }] }));
    await assert.rejects(loadAnnotationIndex(store, 'bad2/annotations.json'), /annotations\[0\]\.image_id: 99 is not the id of any image/);
  } finally {
    await cleanup();
  }
});
