// Pseudo-label files (src/detect/pseudo_labels.ts): objects, ignore regions, ids, counts and relative file names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PseudoLabelWriter, relativeFileName } from '../../src/detect/pseudo_labels.ts';
import { parseCocoGroundTruth } from '../../src/eval/coco_types.ts';

test('detections at or above the threshold are objects, those in [ignoreFrom, threshold) crowd regions, the rest dropped', () => {
  const writer = new PseudoLabelWriter({ threshold: 0.5, ignoreFrom: 0.2, categoryIds: [3, 7] });
  assert.equal(writer.minScore, 0.2);
  writer.add({
    fileName: 'images/a.jpg',
    width: 100,
    height: 80,
    detections: [
      { box: [10, 10, 30, 40], score: 0.9, classId: 1 },
      { box: [50, 5, 60, 15], score: 0.5, classId: 0 },
      { box: [0, 0, 20, 20], score: 0.35, classId: 0 },
      { box: [70, 70, 80, 80], score: 0.19, classId: 1 },
      { box: [5, 5, 5, 9], score: 0.95, classId: 0 }, // degenerate: no area
    ],
  });
  writer.add({ fileName: 'images/b.jpg', width: 64, height: 64, detections: [{ box: [1, 2, 3, 4], score: 0.3, classId: 1 }] });
  writer.add({ fileName: 'images/c.jpg', width: 64, height: 64, detections: [] });
  const file = writer.annotationFile([{ id: 3, name: 'x' }, { id: 7, name: 'y' }], { model: 'm' });
  const gt = parseCocoGroundTruth(file); // a valid COCO ground-truth file
  assert.deepEqual(gt.images.map((im) => [im.id, im.file_name, im.width, im.height]), [[1, 'images/a.jpg', 100, 80], [2, 'images/b.jpg', 64, 64], [3, 'images/c.jpg', 64, 64]]);
  assert.deepEqual(
    file.annotations.map((a) => [a.id, a.image_id, a.category_id, a.bbox, a.iscrowd]),
    [
      [1, 1, 7, [10, 10, 20, 30], 0],
      [2, 1, 3, [50, 5, 10, 10], 0],
      [3, 1, 3, [0, 0, 20, 20], 1],
      [4, 2, 7, [1, 2, 2, 2], 1],
    ],
  );
  assert.deepEqual(writer.counts, { images: 3, withObjects: 1, objects: 2, ignoreRegions: 2 });
  assert.deepEqual(file.info, { model: 'm' });
});

test('without ignoreFrom there are no regions; bad thresholds and unknown classes are refused', () => {
  const writer = new PseudoLabelWriter({ threshold: 0.6, categoryIds: [1] });
  assert.equal(writer.minScore, 0.6);
  writer.add({ fileName: 'x.jpg', width: 10, height: 10, detections: [{ box: [1, 1, 5, 5], score: 0.59, classId: 0 }, { box: [1, 1, 5, 5], score: 0.6, classId: 0 }] });
  assert.deepEqual(writer.counts, { images: 1, withObjects: 1, objects: 1, ignoreRegions: 0 });
  assert.throws(() => writer.add({ fileName: 'y.jpg', width: 10, height: 10, detections: [{ box: [1, 1, 5, 5], score: 0.9, classId: 1 }] }), /class 1 has no category id/);
  assert.throws(() => new PseudoLabelWriter({ threshold: 0, categoryIds: [1] }), /threshold/);
  assert.throws(() => new PseudoLabelWriter({ threshold: 0.5, ignoreFrom: 1.5, categoryIds: [1] }), /ignoreFrom/);
});

test('file names are relative to the annotation file\'s folder; images outside it have none', () => {
  assert.equal(relativeFileName('corpus/unlabeled/pseudo.json', 'corpus/unlabeled/images/000001.jpg'), 'images/000001.jpg');
  assert.equal(relativeFileName('pseudo.json', 'images/1.jpg'), 'images/1.jpg');
  assert.equal(relativeFileName('corpus/unlabeled/pseudo.json', 'corpus/labeled/images/1.jpg'), undefined);
  assert.equal(relativeFileName('corpus/unlabeled/pseudo.json', 'corpus/unlabeled-2/x.jpg'), undefined);
});

test('a region found once per class (class-wise NMS) is written once; objects of two classes at one place both stay', () => {
  const writer = new PseudoLabelWriter({ threshold: 0.5, ignoreFrom: 0.2, categoryIds: [1, 2] });
  const box: [number, number, number, number] = [10, 10, 30, 30];
  writer.add({ fileName: 'a.jpg', width: 64, height: 64, detections: [{ box, score: 0.3, classId: 0 }, { box, score: 0.25, classId: 1 }, { box, score: 0.9, classId: 0 }, { box, score: 0.8, classId: 1 }] });
  assert.deepEqual(writer.counts, { images: 1, withObjects: 1, objects: 2, ignoreRegions: 1 });
});
