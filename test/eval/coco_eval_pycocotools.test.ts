// Replays gt/detection sets recorded by scripts/coco_fixtures.py and checks evaluateCoco against pycocotools' numbers.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { evaluateCoco, type CocoEvalOptions } from '../../src/eval/coco_eval.ts';
import { formatCocoSummary } from '../../src/eval/coco_summary.ts';
import { parseCocoDetections, parseCocoGroundTruth } from '../../src/eval/coco_types.ts';

interface FixtureCase {
  options: CocoEvalOptions;
  stats: number[];
  perCategory: { categoryId: number; AP: number; AP50: number; AP75: number; AR100: number }[];
  summary: string;
}

const dir = new URL('../fixtures/coco/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('evaluateCoco matches pycocotools', () => {
  it('has the recorded fixtures', () => {
    assert.deepEqual(files, ['crowd_id_zero.json', 'good.json', 'mixed.json', 'ties.json']);
  });

  for (const file of files) {
    const doc = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { gt: unknown; detections: unknown; cases: FixtureCase[] };
    const gt = parseCocoGroundTruth(doc.gt);
    const detections = parseCocoDetections(doc.detections);
    for (const c of doc.cases) {
      it(`${file} ${JSON.stringify(c.options)}`, () => {
        const m = evaluateCoco(gt, detections, c.options);
        assert.equal(m.stats.length, 12);
        m.stats.forEach((v, i) => assert.ok(Math.abs(v - c.stats[i]) <= 1e-6, `stats[${i}]: ${v} vs pycocotools ${c.stats[i]}`));
        assert.equal(m.perCategory.length, c.perCategory.length);
        c.perCategory.forEach((expected, k) => {
          const got = m.perCategory[k];
          assert.equal(got.categoryId, expected.categoryId);
          for (const key of ['AP', 'AP50', 'AP75', 'AR100'] as const) {
            assert.ok(Math.abs(got[key] - expected[key]) <= 1e-6, `category ${expected.categoryId} ${key}: ${got[key]} vs ${expected[key]}`);
          }
        });
        // The printed summary, character for character.
        assert.equal(formatCocoSummary(m), c.summary);
      });
    }
  }
});
