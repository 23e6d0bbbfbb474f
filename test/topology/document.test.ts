// Tests YAML parsing of topology files: syntax errors with file:line:col, duplicate keys, merge keys.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTopologyYaml } from '../../src/topology/document.ts';
import { TopologyError } from '../../src/topology/errors.ts';

function syntaxError(text: string): TopologyError {
  try {
    parseTopologyYaml(text, 'topologies/bad.yaml');
  } catch (err) {
    assert.ok(err instanceof TopologyError);
    return err;
  }
  assert.fail('expected a syntax error');
}

describe('parseTopologyYaml', () => {
  it('reports a syntax error once, with file, line and column', () => {
    const err = syntaxError('name: x\nstages:\n  - kind: teacher\n    options: {checkpoint: m}}\n');
    assert.equal(err.issues.length, 1);
    assert.match(err.message, /^topologies\/bad\.yaml:4:29: Unexpected flow-map-end token/);
    // The offending line is quoted under the message.
    assert.match(err.message, /\n {8}options: \{checkpoint: m\}\}\n/);
  });

  it('refuses duplicate keys at their position', () => {
    const err = syntaxError('name: x\nloss:\n  lambda: 1\n  lambda: 2\n');
    assert.match(err.message, /^topologies\/bad\.yaml:4:3: Map keys must be unique/);
  });

  it('hints at quoting ${…} inside flow collections', () => {
    const err = syntaxError('topics: {images: {partitions: ${P:-2}}}\n');
    assert.match(err.message, /^topologies\/bad\.yaml:1:\d+:/);
    assert.match(err.message, /quote values that use/);
  });

  it('parses merge keys so stages can share option blocks', () => {
    const doc = parseTopologyYaml('common: &c {batchSize: 4}\nopts:\n  <<: *c\n  steps: 2\n', 'x.yaml');
    assert.deepEqual(doc, { common: { batchSize: 4 }, opts: { batchSize: 4, steps: 2 } });
  });

  it('returns null for an empty document', () => {
    assert.equal(parseTopologyYaml('# nothing\n', 'x.yaml'), null);
  });
});
