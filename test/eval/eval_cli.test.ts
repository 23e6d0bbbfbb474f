// Tests `distillery eval` (src/cli/eval.ts) end to end on temporary files: summary, JSON, and one-line errors.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { evalCommand } from '../../src/cli/eval.ts';

interface Run {
  out: string;
  err: string;
  exitCode: number;
}

async function run(args: string[]): Promise<Run> {
  const result: Run = { out: '', err: '', exitCode: 0 };
  const command = evalCommand()
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (result.out += s), writeErr: (s) => void (result.err += s) });
  try {
    await command.parseAsync(args, { from: 'user' });
  } catch (err) {
    assert.ok(err instanceof CommanderError, `unexpected ${String(err)}`);
    result.exitCode = err.exitCode;
  }
  return result;
}

describe('distillery eval', () => {
  let dir = '';
  const path = (name: string): string => join(dir, name);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distillery-eval-'));
    const gt = {
      images: [{ id: 1 }, { id: 2 }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
        { id: 2, image_id: 2, category_id: 1, bbox: [0, 0, 50, 50], area: 2500, iscrowd: 0 },
      ],
      categories: [{ id: 1, name: 'square' }],
    };
    // Image 1 found, image 2 missed: AP = 51/101 points of precision 1 → 0.505, AR100 = 0.5.
    const dets = [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 }];
    await writeFile(path('gt.json'), JSON.stringify(gt));
    await writeFile(path('dets.json'), JSON.stringify(dets));
    await writeFile(path('broken.json'), '{"images": [');
    await writeFile(path('bad_gt.json'), JSON.stringify({ ...gt, annotations: [{ ...gt.annotations[0], bbox: [0, 0, 10] }] }));
    await writeFile(path('stray.json'), JSON.stringify([{ ...dets[0], image_id: 42 }]));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the 12-line summary', async () => {
    const r = await run(['--gt', path('gt.json'), '--detections', path('dets.json')]);
    assert.equal(r.exitCode, 0);
    assert.equal(r.err, '');
    const lines = r.out.trimEnd().split('\n');
    assert.equal(lines.length, 12);
    assert.equal(lines[0], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505');
    assert.equal(lines[8], ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500');
  });

  it('prints JSON with --json and a per-category table with --per-category', async () => {
    const r = await run(['--gt', path('gt.json'), '--detections', path('dets.json'), '--json']);
    const metrics = JSON.parse(r.out) as { AP: number; AR100: number; stats: number[]; perCategory: { name: string }[] };
    assert.ok(Math.abs(metrics.AP - 51 / 101) < 1e-12);
    assert.equal(metrics.AR100, 0.5);
    assert.equal(metrics.stats.length, 12);
    assert.equal(metrics.perCategory[0].name, 'square');

    const table = await run(['--gt', path('gt.json'), '--detections', path('dets.json'), '--per-category']);
    assert.match(table.out, /\n\s+1\s+square\s+2\s+0\.505\s+0\.505\s+0\.505\s+0\.500\n$/);
  });

  const failures: [string, string[], RegExp][] = [
    ['a missing file', ['--gt', 'nope/gt.json', '--detections', 'dets.json'], /^error: cannot read ground truth file 'nope\/gt\.json': no such file$/],
    ['invalid JSON', ['--gt', 'broken.json', '--detections', 'dets.json'], /^error: ground truth file '.*broken\.json' is not valid JSON: /],
    ['a schema problem', ['--gt', 'bad_gt.json', '--detections', 'dets.json'], /^error: ground truth file '.*bad_gt\.json': invalid COCO ground truth: annotations\[0\]\.bbox: /],
    ['detections that are not a results array', ['--gt', 'gt.json', '--detections', 'gt.json'], /^error: detections file '.*gt\.json': invalid COCO detections: detections: expected an array/],
    ['detections on unknown images', ['--gt', 'gt.json', '--detections', 'stray.json'], /^error: detections file .*detections\[0\]\.image_id: 42 is not an image of the ground truth$/],
  ];
  for (const [what, args, expected] of failures) {
    it(`fails with one line and exit code 1 on ${what}`, async () => {
      const r = await run(args.map((a) => (a.endsWith('.json') && !a.startsWith('nope') ? path(a) : a)));
      assert.equal(r.exitCode, 1);
      assert.equal(r.out, '');
      assert.equal(r.err.split('\n').filter(Boolean).length, 1, r.err);
      assert.match(r.err.trimEnd(), expected);
    });
  }

  it('requires --gt and --detections', async () => {
    const r = await run(['--gt', path('gt.json')]);
    assert.equal(r.exitCode, 1);
    assert.match(r.err, /required option '--detections <file>' not specified/);
  });
});
