// Hand-worked COCO evaluation cases: each expected value is derived in the comments from the protocol.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateCoco, IOU_THRESHOLDS, RECALL_THRESHOLDS, type CocoMetrics } from '../../src/eval/coco_eval.ts';
import type { CocoAnnotation, CocoBbox, CocoDetection, CocoGroundTruth } from '../../src/eval/coco_types.ts';

type Extra = Partial<Pick<CocoAnnotation, 'area' | 'iscrowd'>>;

function groundTruth(imageIds: number[], anns: [imageId: number, cat: number, bbox: CocoBbox, extra?: Extra][], cats = [1]): CocoGroundTruth {
  return {
    images: imageIds.map((id) => ({ id })),
    annotations: anns.map(([image_id, category_id, bbox, extra], j) => ({ id: j + 1, image_id, category_id, bbox, ...extra })),
    categories: cats.map((id) => ({ id, name: `c${id}` })),
  };
}

function det(image_id: number, category_id: number, bbox: CocoBbox, score: number): CocoDetection {
  return { image_id, category_id, bbox, score };
}

// Precision is tp / (tp + fp + eps) as in pycocotools, so a "perfect" 1 is 1 - 2.2e-16.
const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

function expectStats(m: CocoMetrics, expected: Partial<Record<keyof CocoMetrics, number>>): void {
  for (const [name, value] of Object.entries(expected)) close(m[name as keyof CocoMetrics] as number, value as number, name);
}

describe('thresholds', () => {
  it('are numpy.linspace(.5, .95, 10) and linspace(0, 1, 101)', () => {
    assert.equal(IOU_THRESHOLDS.length, 10);
    assert.equal(RECALL_THRESHOLDS.length, 101);
    assert.equal(IOU_THRESHOLDS[5], 0.75); // AP75 is looked up by equality, as pycocotools does
    assert.equal(IOU_THRESHOLDS[8], 0.8999999999999999); // numpy's value, not 0.9
    assert.equal(RECALL_THRESHOLDS[100], 1);
  });
});

describe('evaluateCoco (hand-worked)', () => {
  it('gives 1.0 for perfect detections, AR1 limited to one detection per image, -1 for empty area ranges', () => {
    // image 1: one small gt (area 100); image 2: one medium (2500) and one large (40000).
    const gt = groundTruth([1, 2], [
      [1, 1, [0, 0, 10, 10]],
      [2, 1, [0, 0, 50, 50]],
      [2, 1, [100, 100, 200, 200]],
    ]);
    const dets = gt.annotations.map((a) => det(a.image_id, 1, a.bbox, 0.9));
    const m = evaluateCoco(gt, dets);
    // Every detection is an exact hit, precision is 1 at every recall and IoU.
    // AR1: image 2 keeps only its first detection (score tie → file order), so 2 of 3 gts → 2/3.
    expectStats(m, { AP: 1, AP50: 1, AP75: 1, APs: 1, APm: 1, APl: 1, AR1: 2 / 3, AR10: 1, AR100: 1, ARs: 1, ARm: 1, ARl: 1 });
    assert.deepEqual(m.stats, [m.AP, m.AP50, m.AP75, m.APs, m.APm, m.APl, m.AR1, m.AR10, m.AR100, m.ARs, m.ARm, m.ARl]);
    assert.equal(m.numImages, 2);
  });

  it('halves precision when a false positive outranks the only true positive', () => {
    const gt = groundTruth([1], [[1, 1, [0, 0, 10, 10]]]);
    const m = evaluateCoco(gt, [det(1, 1, [50, 50, 10, 10], 0.9), det(1, 1, [0, 0, 10, 10], 0.8)]);
    // Sorted: FP, TP → tp=[0,1], fp=[1,1], rc=[0,1], pr=[0,.5]; envelope → [.5,.5]; all 101 points 0.5.
    // maxDets=1 keeps only the FP: recall 0.
    // Both gt and detections are small (area 100): medium/large have no gt → -1.
    expectStats(m, { AP: 0.5, AP50: 0.5, AP75: 0.5, APs: 0.5, APm: -1, APl: -1, AR1: 0, AR10: 1, AR100: 1, ARs: 1, ARm: -1, ARl: -1 });
  });

  it('keeps precision 1 when the false positive ranks below the true positive', () => {
    const gt = groundTruth([1], [[1, 1, [0, 0, 10, 10]]]);
    const m = evaluateCoco(gt, [det(1, 1, [50, 50, 10, 10], 0.8), det(1, 1, [0, 0, 10, 10], 0.9)]);
    // Sorted: TP, FP → rc=[1,1], pr=[1,.5]; every recall threshold lands on index 0 → 1.
    expectStats(m, { AP: 1, AR1: 1, AR100: 1 });
  });

  it('counts a hit only at IoU thresholds it reaches (IoU exactly 0.8 matches at 0.8)', () => {
    const gt = groundTruth([1], [[1, 1, [0, 0, 10, 10]]]);
    // IoU = 80 / 100 = 0.8: a hit for .50 … .80 (7 thresholds), a miss for .85, .90, .95.
    const m = evaluateCoco(gt, [det(1, 1, [0, 0, 10, 8], 0.9)]);
    expectStats(m, { AP: 0.7, AP50: 1, AP75: 1, AR100: 0.7 });
  });

  it('handles images without ground truth, without detections, and with neither', () => {
    const gt = groundTruth([1, 2, 3, 4], [
      [1, 1, [0, 0, 10, 10]],
      [3, 1, [0, 0, 20, 20]], // never detected
    ]);
    const m = evaluateCoco(gt, [
      det(1, 1, [0, 0, 10, 10], 0.9), // TP
      det(2, 1, [0, 0, 10, 10], 0.95), // image 2 has no gt: FP
    ]);
    // npig = 2. Sorted FP, TP → rc=[0,.5], pr=[0,.5] → envelope [.5,.5].
    // Recall thresholds 0, .01, …, .50 (51 of them) get 0.5, the 50 above recall .5 get 0.
    const ap = (51 * 0.5) / 101;
    expectStats(m, { AP: ap, AP50: ap, AP75: ap, APs: ap, AR1: 0.5, AR100: 0.5, APm: -1, APl: -1 });
    assert.equal(m.numImages, 4);
  });

  it('ignores detections on crowd regions, however many, and does not count crowds as misses', () => {
    const gt = groundTruth([1], [
      [1, 1, [0, 0, 10, 10]],
      [1, 1, [100, 100, 100, 100], { iscrowd: 1 }],
    ]);
    const m = evaluateCoco(gt, [
      // Inside the crowd: IoU with a crowd is intersection / detection area = 400 / 400 = 1 → ignored.
      det(1, 1, [110, 110, 20, 20], 0.95),
      det(1, 1, [150, 150, 20, 20], 0.93), // the same crowd absorbs a second detection
      det(1, 1, [0, 0, 10, 10], 0.9), // TP
      det(1, 1, [300, 300, 10, 10], 0.6), // FP
    ]);
    // Counted: TP then FP (npig = 1, the crowd is not a gt to recall) → rc=[1,1] after the ignored ones,
    // raw pr = [0,0,1,.5] → envelope [1,1,1,.5]; recall 0 lands on index 0 (→ 1), the rest on index 2 (→ 1).
    // Were crowd detections false positives, AP would be 1/3.
    expectStats(m, { AP: 1, AR100: 1, AR1: 0 });
  });

  it('lets a crowd behind a regular gt absorb a duplicate detection', () => {
    const gt = groundTruth([1], [
      [1, 1, [0, 0, 10, 10]],
      [1, 1, [0, 0, 10, 10], { iscrowd: true }],
    ]);
    // The first detection takes the regular gt (gts not ignored come first; the search then stops at
    // ignored ones). The duplicate finds the regular gt taken and matches the crowd → ignored, not FP.
    const m = evaluateCoco(gt, [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 1, [0, 0, 10, 10], 0.8)]);
    expectStats(m, { AP: 1, AR100: 1 });
  });

  it('splits by area: gt by its area field, unmatched detections by w*h', () => {
    const gt = groundTruth([1], [
      [1, 1, [0, 0, 10, 10]], // small (100)
      [1, 1, [100, 0, 50, 50]], // medium (2500)
      [1, 1, [0, 100, 100, 100]], // large (10000), never detected
    ]);
    const m = evaluateCoco(gt, [
      det(1, 1, [300, 0, 100, 100], 0.95), // large FP
      det(1, 1, [0, 0, 10, 10], 0.9), // small TP
      det(1, 1, [300, 300, 10, 10], 0.85), // small FP
      det(1, 1, [100, 0, 50, 50], 0.8), // medium TP
    ]);
    // small: the large FP is outside the range (ignored), the medium TP matched a gt ignored there
    //   → ignored; counted: TP(.9), FP(.85) → AP 1, AR 1.
    // medium: the small TP matched a gt ignored in this range → ignored; the small FP is outside →
    //   ignored; counted: TP(.8) → AP 1.
    // large: counted only the large FP; the large gt is missed → AP 0, AR 0.
    // all: FP, TP, FP, TP with npig = 3: rc=[0,1/3,1/3,2/3], pr=[0,.5,1/3,.5] → envelope all .5;
    //   thresholds 0 … .66 (67 of them) get .5 → AP = 33.5/101; AR = 2/3.
    expectStats(m, { APs: 1, APm: 1, APl: 0, ARs: 1, ARm: 1, ARl: 0, AP: 33.5 / 101, AR100: 2 / 3 });
  });

  it('uses the gt area field, not its box, for the area range', () => {
    // A 40x40 box (1600, medium by w*h) whose segmentation area is 900 (small).
    const gt = groundTruth([1], [[1, 1, [0, 0, 40, 40], { area: 900 }]]);
    const m = evaluateCoco(gt, [det(1, 1, [0, 0, 40, 40], 0.9)]);
    // The detection (w*h = 1600) matched the gt, and matched detections are never area-ignored.
    expectStats(m, { APs: 1, ARs: 1, APm: -1, ARm: -1, AP: 1 });
    // Without the field the box area (1600) applies: medium.
    const m2 = evaluateCoco(groundTruth([1], [[1, 1, [0, 0, 40, 40]]]), [det(1, 1, [0, 0, 40, 40], 0.9)]);
    expectStats(m2, { APs: -1, APm: 1 });
  });

  it('truncates to maxDets detections per image and category, best scores first', () => {
    const gt = groundTruth([1], [[1, 1, [0, 0, 10, 10]]]);
    const fps = (n: number): CocoDetection[] =>
      Array.from({ length: n }, (_, j) => det(1, 1, [500 + j * 20, 500, 10, 10], 0.99 - j * 0.001));
    // 10 FPs outrank the TP: it is the 11th → AR1 = AR10 = 0, AR100 = 1; precision at recall 1 is 1/11.
    const m = evaluateCoco(gt, [det(1, 1, [0, 0, 10, 10], 0.5), ...fps(10)]);
    expectStats(m, { AR1: 0, AR10: 0, AR100: 1, AP: 1 / 11 });
    // 100 FPs outrank it: the TP is the 101st and is dropped → nothing recalled.
    const m2 = evaluateCoco(gt, [det(1, 1, [0, 0, 10, 10], 0.5), ...fps(100)]);
    expectStats(m2, { AR100: 0, AP: 0 });
  });

  it('matches greedily by score, not optimally', () => {
    const gt = groundTruth([1], [
      [1, 1, [0, 0, 10, 10]], // A
      [1, 1, [5, 0, 10, 10]], // B
    ]);
    // d1: IoU(A) = 70/130 = .538, IoU(B) = 80/120 = .667 → takes B (the better one) at t ≤ .65.
    // d2: IoU(A) = 40/160 = .25, IoU(B) = 90/110 = .818.
    const m = evaluateCoco(gt, [det(1, 1, [3, 0, 10, 10], 0.9), det(1, 1, [6, 0, 10, 10], 0.8)]);
    // t = .50–.65: d1→B (TP), d2 finds B taken and A too far (FP): rc=[.5,.5], pr=[1,.5] → 51 points of 1.
    // t = .70–.80: d1 matches nothing (FP), d2→B (TP): rc=[0,.5], pr=[0,.5] → 51 points of .5.
    // t ≥ .85: nothing matches → 0. (An optimal assignment would give two TPs at .50.)
    const hi = 51 / 101;
    const lo = 25.5 / 101;
    expectStats(m, { AP50: hi, AP75: lo, AP: (4 * hi + 3 * lo) / 10, AR100: (4 * 0.5 + 3 * 0.5) / 10 });
  });

  it('breaks score ties by image id, then by file order, like numpy mergesort', () => {
    const gt = groundTruth([1, 2], [[1, 1, [0, 0, 10, 10]]]);
    const tp = det(1, 1, [0, 0, 10, 10], 0.5);
    const fpSameImage = det(1, 1, [50, 50, 10, 10], 0.5);
    const fpOtherImage = det(2, 1, [0, 0, 10, 10], 0.5);
    // Same image: file order decides. FP first → AP .5 (as in the FP-above-TP case); TP first → 1.
    expectStats(evaluateCoco(gt, [fpSameImage, tp]), { AP: 0.5 });
    expectStats(evaluateCoco(gt, [tp, fpSameImage]), { AP: 1 });
    // Across images the concatenation is in image id order, whatever the file order: TP (image 1) first.
    expectStats(evaluateCoco(gt, [fpOtherImage, tp]), { AP: 1 });
  });

  it('reports -1 for a category without gt and leaves it out of the means', () => {
    const gt = groundTruth([1], [[1, 1, [0, 0, 10, 10]]], [1, 2]);
    const m = evaluateCoco(gt, [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 2, [50, 50, 10, 10], 0.95)]);
    // Category 2 has detections but no gt: npig = 0 → -1, excluded; category 1 is perfect.
    expectStats(m, { AP: 1, AR100: 1 });
    assert.deepEqual(m.perCategory.map((c) => [c.categoryId, c.name, c.numGt]), [[1, 'c1', 1], [2, 'c2', 0]]);
    const [c1, c2] = m.perCategory;
    for (const key of ['AP', 'AP50', 'AP75', 'AR100'] as const) {
      close(c1[key], 1, `category 1 ${key}`);
      assert.equal(c2[key], -1, `category 2 ${key}`);
    }
  });

  it('gives -1 everywhere when there is nothing to average, 0 when gt exists but nothing is detected', () => {
    const empty = evaluateCoco(groundTruth([1], []), [det(1, 1, [0, 0, 10, 10], 0.9)]);
    assert.deepEqual(empty.stats, new Array(12).fill(-1));
    const missed = evaluateCoco(groundTruth([1], [[1, 1, [0, 0, 10, 10]]]), []);
    expectStats(missed, { AP: 0, AR100: 0, APs: 0, APm: -1 });
  });

  it('per-category AP is the AP of each class; the overall AP their mean', () => {
    const gt = groundTruth([1], [
      [1, 1, [0, 0, 10, 10]],
      [1, 2, [50, 50, 10, 10]],
    ], [1, 2]);
    const m = evaluateCoco(gt, [
      det(1, 1, [0, 0, 10, 10], 0.9), // class 1 perfect → 1
      det(1, 2, [90, 90, 10, 10], 0.9), // class 2: FP above TP → .5
      det(1, 2, [50, 50, 10, 10], 0.8),
    ]);
    close(m.perCategory[0].AP, 1, 'category 1');
    close(m.perCategory[1].AP, 0.5, 'category 2');
    expectStats(m, { AP: 0.75 });
  });

  it('class-agnostic with useCats: false (a right box with the wrong class still counts)', () => {
    const gt = groundTruth([1], [[1, 1, [0, 0, 10, 10]]], [1, 2]);
    const dets = [det(1, 2, [0, 0, 10, 10], 0.9)];
    expectStats(evaluateCoco(gt, dets), { AP: 0 });
    const agnostic = evaluateCoco(gt, dets, { useCats: false });
    expectStats(agnostic, { AP: 1, AR100: 1 });
    assert.deepEqual(agnostic.perCategory, []);
  });

  it('restricts to a subset of images and categories', () => {
    const gt = groundTruth([1, 2], [
      [1, 1, [0, 0, 10, 10]],
      [2, 1, [0, 0, 10, 10]],
      [2, 2, [0, 0, 10, 10]],
    ], [1, 2]);
    const dets = [det(1, 1, [0, 0, 10, 10], 0.9)];
    // Everything: category 1 recalls 1 of 2 at precision 1 (51 points of 1 → 51/101), category 2 has 0.
    expectStats(evaluateCoco(gt, dets), { AP: (51 / 101 + 0) / 2 });
    expectStats(evaluateCoco(gt, dets, { imgIds: [1] }), { AP: 1 }); // category 2 has no gt on image 1 → -1
    expectStats(evaluateCoco(gt, dets, { catIds: [1] }), { AP: 51 / 101 });
    assert.equal(evaluateCoco(gt, dets, { imgIds: [2, 1, 2] }).numImages, 2);
    assert.throws(() => evaluateCoco(gt, dets, { imgIds: [7] }), /imgIds 7 not in the ground truth/);
  });

  it('rejects detections on images or categories the ground truth does not have', () => {
    const gt = groundTruth([1], [[1, 1, [0, 0, 10, 10]]]);
    assert.throws(() => evaluateCoco(gt, [det(9, 1, [0, 0, 1, 1], 0.5)]), /detections\[0\]\.image_id: 9 is not an image/);
    assert.throws(() => evaluateCoco(gt, [det(1, 0, [0, 0, 1, 1], 0.5)]), /detections\[0\]\.category_id: 0 is not a category/);
  });

  it('follows pycocotools in treating a match to gt id 0 as no match', () => {
    // pycocotools records the matched gt *id* and tests it for truth; with id 0 the hit counts as FP.
    const gt: CocoGroundTruth = {
      images: [{ id: 1 }],
      annotations: [{ id: 0, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] }],
      categories: [{ id: 1 }],
    };
    expectStats(evaluateCoco(gt, [det(1, 1, [0, 0, 10, 10], 0.9)]), { AP: 0, AR100: 0 });
    // Between gts of equal IoU the later one wins (`iou < best` skips only worse ones), which only
    // this quirk makes visible: with gt ids [0, 1] on the same box the detection takes id 1 → a TP.
    // npig = 2, rc=[.5], pr=[1] → 51 recall points of precision 1.
    gt.annotations.push({ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] });
    expectStats(evaluateCoco(gt, [det(1, 1, [0, 0, 10, 10], 0.9)]), { AP: 51 / 101, AR100: 0.5 });
  });

  it('evaluates a training-loop-sized set (maxDets truncation on every image)', () => {
    // 300 images × 3 classes, 5 gts and 120 detections per image (so truncation applies).
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const images = Array.from({ length: 300 }, (_, i) => i + 1);
    const anns: [number, number, CocoBbox][] = [];
    const dets: CocoDetection[] = [];
    for (const img of images) {
      for (let j = 0; j < 5; j++) {
        const box: CocoBbox = [rand() * 400, rand() * 300, 5 + rand() * 150, 5 + rand() * 150];
        const cat = 1 + Math.floor(rand() * 3);
        anns.push([img, cat, box]);
        dets.push(det(img, cat, [box[0] + rand() * 4, box[1] + rand() * 4, box[2], box[3]], rand()));
      }
      for (let j = 0; j < 115; j++) {
        dets.push(det(img, 1 + Math.floor(rand() * 3), [rand() * 400, rand() * 300, 5 + rand() * 150, 5 + rand() * 150], rand()));
      }
    }
    const m = evaluateCoco(groundTruth(images, anns, [1, 2, 3]), dets);
    assert.ok(m.AP > 0 && m.AP < 1, `AP ${m.AP}`);
  });
});
