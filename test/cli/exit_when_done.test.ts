import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

const MODULE = new URL('../../src/cli/exit_when_done.ts', import.meta.url).href;

/** Runs a small script in its own Node process (under tsx) and returns how it ended. */
function runScript(body: string): Promise<{ code: number | null; stderr: string }> {
  const script = `import { exitWhenDone } from ${JSON.stringify(MODULE)};\n${body}`;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 60_000 }, (_err, _stdout, stderr) =>
      resolve({ code: child.exitCode, stderr }),
    );
  });
}

test('a handle left open after the command finished does not keep the process alive; the message names it', { timeout: 90_000 }, async () => {
  const { code, stderr } = await runScript(`
import net from 'node:net';
net.createServer().listen(0, '127.0.0.1'); // a socket a library forgot to close
exitWhenDone(3, { graceMs: 200 });`);
  assert.equal(code, 3, 'the command\'s own exit code');
  assert.match(stderr, /the command finished but .*TCPServerWrap.* still held the process; exiting with 3/);
});

test('a process with nothing left open ends on its own, with its code and without the message', { timeout: 90_000 }, async () => {
  const { code, stderr } = await runScript(`exitWhenDone(0, { graceMs: 60_000 });`);
  assert.equal(code, 0);
  assert.doesNotMatch(stderr, /still held/);
});
