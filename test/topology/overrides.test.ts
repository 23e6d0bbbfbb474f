// Tests --set overrides on the raw document: paths, stages by name, YAML-typed values, clear errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RawValue } from '../../src/topology/document.ts';
import { TopologyError } from '../../src/topology/errors.ts';
import { applyOverrides } from '../../src/topology/overrides.ts';

const raw = (): RawValue => ({
  name: 't',
  stages: [
    { name: 'student', kind: 'student', options: { steps: 10 } },
    { kind: 'teacher', options: { checkpoint: 'm' } },
  ],
});

describe('applyOverrides', () => {
  it('sets nested fields, addressing stages by name, with YAML-typed values', () => {
    const out = applyOverrides(raw(), [
      'stages.student.options.steps=50',
      'stages.student.options.labeledOnly=true',
      'model.anchors.ratios=[0.5, 1]',
      'config.store.root=other',
      'stages.teacher.options.checkpoint=models/t2',
    ]) as { [k: string]: RawValue };
    const stages = out.stages as { options: Record<string, RawValue> }[];
    assert.equal(stages[0].options.steps, 50);
    assert.equal(stages[0].options.labeledOnly, true);
    // The unnamed teacher is addressed by its default name, its kind.
    assert.equal(stages[1].options.checkpoint, 'models/t2');
    assert.deepEqual(out.model, { anchors: { ratios: [0.5, 1] } });
    assert.deepEqual(out.config, { store: { root: 'other' } });
  });

  it('addresses list elements by index and applies overrides in order', () => {
    const out = applyOverrides(raw(), ['stages.1.parallelism=2', 'stages.1.parallelism=3']) as { stages: { parallelism?: number }[] };
    assert.equal(out.stages[1].parallelism, 3);
  });

  it('does not modify its input', () => {
    const input = raw();
    applyOverrides(input, ['stages.student.options.steps=1', 'name=other']);
    assert.deepEqual(input, raw());
  });

  it('keeps ${VAR} and empty values as strings', () => {
    const out = applyOverrides(raw(), ['description=${DESC:-x}', 'name=']) as Record<string, RawValue>;
    assert.equal(out.description, '${DESC:-x}');
    assert.equal(out.name, '');
  });

  it('fails with the expression and the reason', () => {
    const cases: [string, RegExp][] = [
      ['stages.studnt.options.steps=5', /^--set: stages\.studnt\.options\.steps=5: stages has no element named "studnt" \(names: student, teacher\)/],
      ['name.first=x', /name is "t", not a mapping or list/],
      ['steps', /expected path=value/],
      ['=5', /expected path=value/],
      ['a..b=1', /empty path segment/],
    ];
    for (const [expr, pattern] of cases) {
      assert.throws(() => applyOverrides(raw(), [expr]), (err: unknown) => err instanceof TopologyError && pattern.test(err.message), expr);
    }
  });
});
