// Tests validation of COCO ground truth and detection files: accepted shapes and field-naming errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CocoValidationError, parseCocoDetections, parseCocoGroundTruth } from '../../src/eval/coco_types.ts';

const validGt = () => ({
  info: { description: 'extra top-level fields are allowed' },
  images: [{ id: 1, width: 640, height: 480, file_name: 'a.png' }, { id: 2 }],
  annotations: [
    { id: 1, image_id: 1, category_id: 3, bbox: [1, 2, 3, 4], area: 10, iscrowd: 0, segmentation: [[1, 2, 3, 4]] },
    { id: 2, image_id: 2, category_id: 3, bbox: [0, 0, 5, 5], iscrowd: true },
  ],
  categories: [{ id: 3, name: 'square', supercategory: 'shape' }],
});

function issuesOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CocoValidationError, `expected CocoValidationError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected a validation error');
}

describe('parseCocoGroundTruth', () => {
  it('accepts a COCO file, optional area/iscrowd/name included', () => {
    const gt = parseCocoGroundTruth(validGt());
    assert.equal(gt.annotations.length, 2);
    assert.deepEqual(gt.annotations[0].bbox, [1, 2, 3, 4]);
    assert.equal(gt.annotations[1].area, undefined);
  });

  it('names the offending field and index', () => {
    const bad = validGt() as { annotations: Record<string, unknown>[] };
    bad.annotations[1].bbox = [0, 0, 5];
    assert.deepEqual(issuesOf(() => parseCocoGroundTruth(bad)), ['annotations[1].bbox: expected [x, y, width, height] (4 finite numbers)']);

    const badScore = validGt() as { annotations: Record<string, unknown>[] };
    badScore.annotations[0].image_id = '1';
    assert.match(issuesOf(() => parseCocoGroundTruth(badScore))[0], /^annotations\[0\]\.image_id: .*expected number/);

    const negative = validGt() as { annotations: Record<string, unknown>[] };
    negative.annotations[0].bbox = [0, 0, -1, 5];
    assert.deepEqual(issuesOf(() => parseCocoGroundTruth(negative)), ['annotations[0].bbox: bbox width and height must be >= 0']);

    const crowd = validGt() as { annotations: Record<string, unknown>[] };
    crowd.annotations[0].iscrowd = 2;
    assert.deepEqual(issuesOf(() => parseCocoGroundTruth(crowd)), ['annotations[0].iscrowd: expected 0, 1, true or false']);

    const { images: _images, ...noImages } = validGt();
    assert.match(issuesOf(() => parseCocoGroundTruth(noImages))[0], /^images: /);
    assert.match(issuesOf(() => parseCocoGroundTruth([]))[0], /^\(root\): /);
  });

  it('reports duplicate ids and annotations pointing at unknown images or categories', () => {
    const gt = validGt();
    gt.images.push({ id: 1 });
    gt.annotations.push({ ...gt.annotations[0], image_id: 9, category_id: 0 });
    assert.deepEqual(issuesOf(() => parseCocoGroundTruth(gt)), [
      'images[2].id: duplicate image id 1',
      'annotations[2].id: duplicate annotation id 1',
      'annotations[2].image_id: 9 is not the id of any image',
      'annotations[2].category_id: 0 is not the id of any category',
    ]);
  });

  it('summarises many issues in a one-line message', () => {
    const gt = validGt() as { annotations: Record<string, unknown>[] };
    for (let j = 0; j < 5; j++) gt.annotations.push({ id: 10 + j });
    let message = '';
    try {
      parseCocoGroundTruth(gt);
    } catch (err) {
      message = (err as Error).message;
    }
    assert.match(message, /^invalid COCO ground truth: annotations\[2\]\.image_id: .*\(and \d+ more\)$/);
    assert.ok(!message.includes('\n'));
  });
});

describe('parseCocoDetections', () => {
  it('accepts a results array', () => {
    const dets = parseCocoDetections([{ image_id: 1, category_id: 3, bbox: [1, 2, 3, 4], score: 0.5 }]);
    assert.deepEqual(dets, [{ image_id: 1, category_id: 3, bbox: [1, 2, 3, 4], score: 0.5 }]);
    assert.deepEqual(parseCocoDetections([]), []);
  });

  it('names the offending detection and field', () => {
    assert.deepEqual(issuesOf(() => parseCocoDetections([{ image_id: 1, category_id: 3, bbox: [1, 2, 3, 4] }])), [
      'detections[0].score: Invalid input: expected number, received undefined',
    ]);
    assert.deepEqual(issuesOf(() => parseCocoDetections({ annotations: [] })), [
      'detections: expected an array of {image_id, category_id, bbox, score}',
    ]);
    assert.match(
      issuesOf(() => parseCocoDetections([{ image_id: 1, category_id: 3, bbox: [1, 2, 3, 4], score: 0.5 }, { image_id: 1.5, category_id: 3, bbox: [1, 2, 3, 4], score: 0.5 }]))[0],
      /^detections\[1\]\.image_id: .*int/,
    );
  });
});
