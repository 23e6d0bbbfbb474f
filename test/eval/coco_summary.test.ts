// Tests the pycocotools-style summary text and the per-category table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COCO_STAT_NAMES, type CocoMetrics } from '../../src/eval/coco_eval.ts';
import { formatCocoPerCategory, formatCocoSummary, formatFixed3 } from '../../src/eval/coco_summary.ts';

describe('formatFixed3', () => {
  it("rounds exact binary ties to even like Python's '{:0.3f}'", () => {
    // 0.0625 and 0.3125 are exactly n + .5 thousandths: Python gives 0.062 / 0.312 (toFixed: 0.063 / 0.313).
    assert.equal(formatFixed3(0.0625), '0.062');
    assert.equal(formatFixed3(0.3125), '0.312');
    assert.equal(formatFixed3(0.1875), '0.188'); // the even neighbour is above
    assert.equal(formatFixed3(0.0626), '0.063');
    assert.equal(formatFixed3(-1), '-1.000');
    assert.equal(formatFixed3(1), '1.000');
    assert.equal(formatFixed3(0.9999999999999998), '1.000');
  });
});

describe('formatCocoSummary', () => {
  it('prints the 12 lines with the right labels and values in order', () => {
    const values = COCO_STAT_NAMES.map((_, i) => (i === 4 ? -1 : i / 100));
    const metrics = Object.fromEntries(COCO_STAT_NAMES.map((n, i) => [n, values[i]])) as Record<(typeof COCO_STAT_NAMES)[number], number>;
    const lines = formatCocoSummary(metrics).split('\n');
    assert.equal(lines.length, 12);
    assert.equal(lines[0], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.000');
    assert.equal(lines[2], ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.020');
    assert.equal(lines[4], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000');
    assert.equal(lines[6], ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.060');
    assert.equal(lines[11], ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.110');
  });
});

describe('formatCocoPerCategory', () => {
  it('prints a header and one aligned row per category', () => {
    const perCategory: CocoMetrics['perCategory'] = [
      { categoryId: 1, name: 'circle', numGt: 12, AP: 0.5, AP50: 0.75, AP75: 0.5, AR100: 0.6 },
      { categoryId: 12, name: 'a-long-category-name', numGt: 0, AP: -1, AP50: -1, AP75: -1, AR100: -1 },
    ];
    const lines = formatCocoPerCategory({ perCategory }).split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^\s+id\s+category\s+gt\s+AP\s+AP50\s+AP75\s+AR100$/);
    assert.match(lines[1], /^\s+1\s+circle\s+12\s+0\.500\s+0\.750\s+0\.500\s+0\.600$/);
    assert.match(lines[2], /^\s+12\s+a-long-category-name\s+0\s+-1\.000\s+-1\.000\s+-1\.000\s+-1\.000$/);
    assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'columns line up');
  });
});
