// The `distillery` command as a user runs it (bin/distillery.js in a child process): output and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalStore } from '../../src/io/local_store.ts';
import { buildDetector, disposeLayersModel } from '../../src/model/detector.ts';
import { resolveDetectorConfig } from '../../src/model/detector_config.ts';
import { saveDetector } from '../../src/model/store_io.ts';

const BIN = fileURLToPath(new URL('../../bin/distillery.js', import.meta.url));

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...argv], { env: { ...process.env, DISTILLERY_BACKEND: 'cpu' } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

test('model info --json reports every preset: the student ≥ 4× cheaper, student-large at ¼–½ of the teacher', async () => {
  const { code, out, err } = await run(['model', 'info', '--json']);
  assert.equal(code, 0, err);
  const rows = JSON.parse(out) as { name: string; flopsPerImage: number; anchors: number }[];
  assert.deepEqual(rows.map((r) => r.name), ['teacher', 'student', 'student-large']);
  assert.ok(rows[0].flopsPerImage / rows[1].flopsPerImage >= 4);
  const large = rows[2].flopsPerImage / rows[0].flopsPerImage;
  assert.ok(large >= 0.25 && large <= 0.5, `student-large / teacher = ${large}`);
  assert.equal(rows[0].anchors, 3024);
});

test('model info prints a table with the FLOPs ratio and no tfjs banner', async () => {
  const { code, out, err } = await run(['model', 'info']);
  assert.equal(code, 0, err);
  assert.match(out, /^model\s+input\s+anchors\s+params\s+MFLOP\/img/m);
  assert.match(out, /FLOPs ratio teacher\/student: \d+\.\d\dx/);
  assert.doesNotMatch(out + err, /tfjs-node for more details/);
});

test('bad flags, unknown commands and missing checkpoints exit non-zero with a one-line message', async () => {
  const bad = await run(['model', 'info', '--preset', 'huge']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /Allowed choices are teacher, student/);
  assert.notEqual((await run(['no-such-command'])).code, 0);
  const missing = await run(['model', 'info', '--checkpoint', 'absent', '--store', '/nonexistent-distillery-store']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^distillery: object not found: absent\/model.json/m);
  assert.doesNotMatch(missing.err, /\n\s+at /, 'no stack trace');
});

test('model resize writes the saved model at the new input size and says how to use it; bad sizes are refused', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-resize-cli-'));
  try {
    const detector = buildDetector(resolveDetectorConfig({ inputSize: 64, numClasses: 2, anchorSizeFactor: 2 }, 'student'));
    await saveDetector(detector, new LocalStore({ root: dir }), 'models/t');
    disposeLayersModel(detector.model);
    const ok = await run(['model', 'resize', '--store', dir, '--checkpoint', 'models/t', '--out', 'models/t256', '--input-size', '256']);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /wrote .*models\/t256: 'student' at input 256 px, anchor size factor 8, \d+ anchors \(train or run it with --set model.inputSize=256 --set model.anchors.sizeFactor=8\)/);
    const bad = await run(['model', 'resize', '--store', dir, '--checkpoint', 'models/t', '--out', 'models/x', '--input-size', 'big']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /argument 'big' is invalid\. expected a positive integer/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
