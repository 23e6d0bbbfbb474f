// scripts/tfjs-node/install.sh as a user runs it: bad arguments fail with usage, a second run is a no-op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/tfjs-node/install.sh', import.meta.url));

function install(args: string[]): Promise<{ code: number; err: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, err: stderr });
    });
  });
}

test('an unknown variant or extra arguments fail with the usage', async () => {
  const tpu = await install(['tpu']);
  assert.equal(tpu.code, 1);
  assert.equal(tpu.err, "tfjs-node install: unknown variant 'tpu'; usage: install.sh [cpu|gpu]\n");
  const extra = await install(['cpu', 'gpu']);
  assert.equal(extra.code, 1);
  assert.match(extra.err, /usage: install\.sh \[cpu\|gpu\]/);
});

test('once installed (scripts/test.sh installed it), running it again changes nothing', async () => {
  const again = await install(['cpu']);
  assert.equal(again.code, 0, again.err);
  assert.equal(again.err, 'tfjs-node install: @tensorflow/tfjs-node 4.22.0 (TensorFlow 2.9.1) already installed\n');
});
