// Tests ${VAR} / ${VAR:-default} substitution: shell semantics, escapes, errors naming the variable and the field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { substituteEnv, substituteString } from '../../src/topology/env.ts';
import { IssueList } from '../../src/topology/errors.ts';

describe('substituteString', () => {
  it('substitutes set variables and uses defaults for unset or empty ones', () => {
    const env = { A: 'x', EMPTY: '' };
    assert.equal(substituteString('p/${A}/q', env).value, 'p/x/q');
    assert.equal(substituteString('${MISSING:-d}', env).value, 'd');
    assert.equal(substituteString('${EMPTY:-d}', env).value, 'd');
    assert.equal(substituteString('${A:-d}', env).value, 'x');
    // Without a default, a set-but-empty variable is the empty string (it is set).
    assert.equal(substituteString('[${EMPTY}]', env).value, '[]');
    assert.equal(substituteString('${A}${A}-${B:-1:2}', env).value, 'xx-1:2');
  });

  it('reports unset variables without default and malformed expressions', () => {
    const r = substituteString('${NOPE}/${1BAD}/${OK:-y}/${unclosed', {});
    assert.deepEqual(r.missing, ['NOPE']);
    assert.deepEqual(r.malformed, ['${1BAD}', '${unclosed']);
  });

  it('keeps $${ as a literal ${', () => {
    assert.equal(substituteString('cost $${A} ${A}', { A: '1' }).value, 'cost ${A} 1');
  });

  it('flags strings that are one whole expression', () => {
    assert.equal(substituteString('${A:-}', {}).whole, true);
    assert.equal(substituteString('x${A:-}', {}).whole, false);
    assert.equal(substituteString('${A}${B}', { A: '', B: '' }).whole, false);
  });
});

describe('substituteEnv', () => {
  it('substitutes every string value, not keys, and leaves other types alone', () => {
    const issues = new IssueList();
    const out = substituteEnv({ '${K}': '${V:-v}', n: 3, b: true, list: ['${V:-a}', 1], nested: { s: 'x${V:-y}' } }, {}, issues);
    assert.deepEqual(out, { '${K}': 'v', n: 3, b: true, list: ['a', 1], nested: { s: 'xy' } });
    assert.equal(issues.empty, true);
  });

  it('drops a mapping value that was only an expression and came out empty', () => {
    const issues = new IssueList();
    const out = substituteEnv({ store: { endpoint: '${S3_ENDPOINT:-}', region: '${R:-us-east-1}', literal: '' } }, {}, issues);
    assert.deepEqual(out, { store: { region: 'us-east-1', literal: '' } });
    const set = substituteEnv({ endpoint: '${S3_ENDPOINT:-}' }, { S3_ENDPOINT: 'http://h:1' }, issues);
    assert.deepEqual(set, { endpoint: 'http://h:1' });
  });

  it('names the variable and the field path of each missing variable', () => {
    const issues = new IssueList();
    substituteEnv({ stages: [{ options: { prefix: '${PREFIX}' } }], config: { transport: { brokers: ['${B1}', 'ok:1'] } } }, {}, issues);
    assert.deepEqual(
      issues.items.map((i) => i.where),
      ['stages[0].options.prefix', 'config.transport.brokers[0]'],
    );
    assert.match(issues.items[0].message, /PREFIX is not set/);
    assert.match(issues.items[1].message, /B1 is not set/);
  });
});
