// The root logger redacts secret-bearing fields wherever a config or error object carries them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/util/logger.ts';

test('passwords, secret keys, tokens and authorization headers are redacted at any depth pino paths name', async () => {
  let out = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const log = createLogger({ level: 'debug', destination });
  const secret = 'S3cr3t-value-that-must-not-leak';
  log.debug({ sasl: { mechanism: 'scram-sha-512', username: 'distillery', password: secret } }, 'kafka config');
  log.debug({ client: { config: { password: secret } }, credentials: { secretAccessKey: secret } }, 'nested');
  log.debug({ request: { headers: { authorization: `AWS4-HMAC-SHA256 Credential=AK/${secret}` } } }, 'request');
  log.debug({ password: secret, secretAccessKey: secret, sessionToken: secret }, 'top level');
  await new Promise((r) => setImmediate(r));
  assert.equal(out.trim().split('\n').length, 4);
  assert.ok(!out.includes(secret), out);
  assert.match(out, /"username":"distillery"/, 'non-secret fields stay');
  assert.match(out, /\[redacted\]/);
});
