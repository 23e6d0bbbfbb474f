// Tests conversion of in-memory detections to COCO results entries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toCocoResults } from '../../src/eval/coco_results.ts';

describe('toCocoResults', () => {
  it('turns [x1, y1, x2, y2] boxes into [x, y, w, h] and keeps image order', () => {
    const perImage = new Map([
      [7, [{ box: [10, 20, 40, 60], score: 0.9, classId: 2 }]],
      [3, [{ box: new Float32Array([0, 0, 5, 5]), score: 0.5, classId: 0 }, { box: [1, 1, 1, 1], score: 0.1, classId: 1 }]],
    ]);
    assert.deepEqual(toCocoResults(perImage), [
      { image_id: 7, category_id: 2, bbox: [10, 20, 30, 40], score: 0.9 },
      { image_id: 3, category_id: 0, bbox: [0, 0, 5, 5], score: 0.5 },
      { image_id: 3, category_id: 1, bbox: [1, 1, 0, 0], score: 0.1 },
    ]);
  });

  it('maps class indices to category ids and passes xywh through', () => {
    const out = toCocoResults([[1, [{ box: [1, 2, 3, 4], score: 0.3, classId: 1 }]]], { boxFormat: 'xywh', categoryIds: [5, 9] });
    assert.deepEqual(out, [{ image_id: 1, category_id: 9, bbox: [1, 2, 3, 4], score: 0.3 }]);
  });

  it('clamps inverted xyxy boxes to zero size', () => {
    const [d] = toCocoResults([[1, [{ box: [5, 5, 4.999, 6], score: 1, classId: 0 }]]]);
    assert.deepEqual(d.bbox, [5, 5, 0, 1]);
  });

  it('rejects unknown class indices and malformed boxes', () => {
    assert.throws(() => toCocoResults([[1, [{ box: [0, 0, 1, 1], score: 1, classId: 2 }]]], { categoryIds: [1, 2] }), /image 1, detection 0: classId 2/);
    assert.throws(() => toCocoResults([[4, [{ box: [0, 0, 1], score: 1, classId: 0 }]]]), /image 4, detection 0: box has 3 coordinates/);
  });
});
