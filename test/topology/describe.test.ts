// Tests the start-up description: the flow through topics, every stage and topic, runtime, thresholds and loss.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileTopology, loadTopology } from '../../src/topology/compile.ts';
import { describeTopology } from '../../src/topology/describe.ts';
import type { CompiledTopology } from '../../src/topology/types.ts';

function compile(text: string): CompiledTopology {
  return compileTopology(text, 'topologies/t.yaml', { env: {} });
}

describe('describeTopology', () => {
  for (const file of ['topologies/embedded.yaml', 'topologies/distributed.yaml']) {
    it(`mentions every stage, topic and setting of ${file}`, async () => {
      const t = await loadTopology(file, { env: {} });
      const text = describeTopology(t);
      assert.ok(text.includes(t.name) && text.includes(file));
      for (const stage of t.stages) {
        assert.match(text, new RegExp(`\\n    ${stage.name} +${stage.kind} +×${stage.parallelism}  `), stage.name);
      }
      for (const topic of Object.values(t.topics)) assert.ok(text.includes(`[${topic.name} ×${topic.partitions}]`), topic.name);
      assert.ok(text.includes(`backend ${t.backend}`));
      assert.ok(text.includes(`transport ${t.transport.kind}`));
      assert.ok(text.includes(`hard label τ ${t.thresholds.hardLabel}`));
      assert.ok(text.includes(`${t.loss.lambda}·ADL(β ${t.loss.adlBeta}, γ ${t.loss.adlGamma}, θ ${t.loss.adlTheta})`));
    });
  }

  it('draws the flow through the topics with partitions and parallelism', () => {
    const t = compile(`
topics: {images: {partitions: 2}, samples: {name: s.topic, partitions: 3}}
config: {store: {kind: s3, bucket: bkt, endpoint: 'http://h:9000'}, transport: {kind: kafka, brokers: [a:1]}}
stages:
  - {name: ingest-unlabeled, kind: ingest, options: {prefix: u/, split: unlabeled}}
  - {name: teacher, kind: teacher, options: {checkpoint: m}}
  - {name: student, kind: student, options: {checkpointPrefix: c, evalEvery: 0, steps: 5}}
`);
    const text = describeTopology(t);
    assert.ok(text.includes('ingest-unlabeled ×1 ─▶ [distillery.images ×2] ─▶ teacher ×1 ─▶ [s.topic ×3] ─▶ student ×1'), text);
    assert.ok(text.includes('store s3://bkt (http://h:9000, us-east-1, path-style)'), text);
    assert.ok(text.includes('transport kafka a:1 (client distillery)'), text);
    assert.ok(text.includes('metrics 0.0.0.0:9464'), text);
    assert.ok(describeTopology({ ...t, observability: { host: '0.0.0.0', port: 0 } }).includes('metrics off'));
    assert.ok(text.includes('5 steps'), text);
    assert.ok(text.includes('no eval'), text);
  });

  it('shows stages outside the file and idle consumers', () => {
    const t = compile(`
topics: {samples: {partitions: 1}}
stages:
  - {kind: teacher, parallelism: 3, options: {checkpoint: m}}
`);
    const text = describeTopology(t);
    assert.ok(text.includes('(external producer) ─▶ [distillery.images ×1] ─▶ teacher ×3 ─▶ [distillery.samples ×1] ─▶ (no consumer)'), text);
    assert.ok(text.includes('(2 idle: 1 partition(s))'), text);
  });

  it('describes the loss that will be trained', () => {
    const none = describeTopology(compile(`loss: {distillation: none}\nstages: [{kind: teacher, options: {checkpoint: m}}]\n`));
    assert.match(none, /loss: +FL\(α 0\.25, γ 2\) \+ L_loc\(smooth-L1 β 0\.11\) \(no distillation\)/);
    const kld = describeTopology(compile(`loss: {distillation: kld, lambda: 0.5}\nstages: [{kind: teacher, options: {checkpoint: m}}]\n`));
    assert.ok(kld.includes('0.5·KLD(θ 1.8)'), kld);
  });
});
