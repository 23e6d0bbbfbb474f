// The fault verifier's short variant: its own Kafka + S3, one fault of each kind, nothing lost or duplicated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface ChaosResult {
  images: number;
  samples: number;
  rejected: number;
  dlq: number;
  duplicates: number;
  lost: number;
  strays: number;
  faults: { teacherKills: number; studentKills: number; brokerRestarts: number; s3Outages: number };
  student: { offsetsCover: number; samplesTrained: number; studentDlq: number };
  exits: { student: number | null; teachers: Array<number | null> };
  ok: boolean;
}

test('npm run chaos -- --short: a teacher and the student SIGKILLed, the broker restarted, S3 away — every image once', { timeout: 15 * 60_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/chaos.ts', '--short'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.split('\n').find((l) => l.startsWith('CHAOS_RESULT '));
  assert.ok(line, `no result line; stdout:\n${out.slice(-3000)}\nstderr:\n${err.slice(-3000)}`);
  const r = JSON.parse(line.slice('CHAOS_RESULT '.length)) as ChaosResult;
  assert.equal(r.duplicates, 0, out.slice(-3000));
  assert.equal(r.lost, 0);
  assert.equal(r.samples + r.rejected + r.dlq - r.student.studentDlq, r.images, 'one outcome per image');
  assert.ok(r.faults.teacherKills >= 1 && r.faults.studentKills >= 1 && r.faults.brokerRestarts >= 1 && r.faults.s3Outages >= 1, JSON.stringify(r.faults));
  assert.equal(r.student.offsetsCover, r.samples, 'the student checkpointed past every sample');
  assert.equal(r.student.samplesTrained, r.samples - r.student.studentDlq, 'and trained each of them');
  assert.equal(r.strays, 0, 'no outcome for an image that was never published');
  assert.deepEqual(r.exits, { student: 0, teachers: [0, 0] }, `every stage drains and exits 0 when stopped; stdout:\n${out.slice(-3000)}`);
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(code, 0, out.slice(-2000));
});
