// Level 2 of the deployment tests: the local-node overlay on a real node (kubelet + containerd running our images).
// Kafka and S3 run as StatefulSets, the stages as Deployments from distillery:0.1.0; images uploaded to the in-cluster
// S3 come out as exactly one sample or rejection each, through a teacher scale-up and a teacher pod deleted mid-run.
// Needs the node: `npm run test:k8s` (scripts/k8s/test_node.sh) starts it; not part of scripts/test.sh's default list.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kubectlOk, k8sTestEnv, type K8sTestEnv } from '../../helpers/k8s.ts';
import {
  deployLocalNode,
  listPods,
  NAMESPACE,
  readTopics,
  scrape,
  TEACHERS,
  teacherConsumed,
  waitForReadyPods,
  type LocalNodeDeployment,
} from '../../helpers/k8s_node.ts';
import { eventually } from '../../helpers/eventually.ts';
import { sampleValue } from '../../helpers/prometheus.ts';

/** The labeled split the overlay's setup Job generates (deploy/k8s/overlays/local-node: --labeled 8). */
const LABELED = 8;
const FIRST_BATCH = 24;
/** Large enough that the teachers are still at work when one of them is deleted. */
const SECOND_BATCH = 240;
const WAIT_MS = 600_000;

describe('the pipeline on a real node (local-node overlay)', { timeout: 2_400_000 }, () => {
  let k8s: K8sTestEnv;
  let deployment: LocalNodeDeployment | undefined;
  const uploaded: string[] = [];

  const student = async (): Promise<string> => (await waitForReadyPods(k8s, 'app.kubernetes.io/component=student', 1, WAIT_MS))[0].name;
  /** Until the teacher group has committed every ImageRef on the images topic and there are `images` of them. */
  const allLabeled = async (images: number): Promise<void> => {
    const pod = await student();
    await eventually(`the teachers commit all ${images} images`, async () => {
      const state = await readTopics(k8s, pod);
      return state.images === images && state.committed === images;
    }, { timeoutMs: WAIT_MS, intervalMs: 2000 });
  };

  before(async () => {
    k8s = k8sTestEnv();
    const nodes = await kubectlOk(k8s, ['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}']);
    assert.ok(nodes.trim().length > 0, 'these tests need a node: npm run test:k8s (scripts/k8s/cluster.sh start --node)');
    deployment = await deployLocalNode(k8s, WAIT_MS);
  });

  after(async () => {
    await deployment?.teardown();
  });

  it('cluster DNS resolves the Kafka Service to its ClusterIP inside a stage pod', async () => {
    const clusterIp = (await kubectlOk(k8s, ['get', 'service', '-n', NAMESPACE, 'kafka', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const resolved = await kubectlOk(k8s, ['exec', '-n', NAMESPACE, await student(), '-c', 'distillery', '--', 'getent', 'hosts', `kafka.${NAMESPACE}.svc`]);
    assert.equal(resolved.trim().split(/\s+/)[0], clusterIp, resolved);
  });

  it('labels the uploaded images and the labeled split, and the student checkpoints to S3', async () => {
    const d = deployment as LocalNodeDeployment;
    uploaded.push(...(await d.uploadUnlabeled(FIRST_BATCH, 'first')));
    // ingest-unlabeled watches the prefix and publishes the new keys; the setup Job published the labeled split.
    await allLabeled(LABELED + FIRST_BATCH);
    await eventually('a student checkpoint in S3', async () => (await d.list('runs/latest/student/')).includes('runs/latest/student/latest.json'), {
      timeoutMs: WAIT_MS,
      intervalMs: 2000,
    });
    const latest = JSON.parse(new TextDecoder().decode(await d.store.get('runs/latest/student/latest.json'))) as { step?: number };
    assert.ok(typeof latest.step === 'number' && latest.step >= 5, JSON.stringify(latest));
  });

  it('scales the teachers to 2, loses nothing when one is deleted mid-run: one outcome per image, read_committed', async () => {
    const d = deployment as LocalNodeDeployment;
    await kubectlOk(k8s, ['scale', 'deployment', '-n', NAMESPACE, 'distillery-teacher', '--replicas=2']);
    const teachers = await waitForReadyPods(k8s, TEACHERS, 2, WAIT_MS);
    const before = LABELED + FIRST_BATCH;
    const total = before + SECOND_BATCH;
    uploaded.push(...(await d.uploadUnlabeled(SECOND_BATCH, 'second')));
    // As soon as ingest has published the batch: the teachers are labelling it (the batch takes them many seconds).
    const pod = await student();
    let atDelete = { images: 0, committed: 0 };
    await eventually('ingest publishes the second batch', async () => {
      atDelete = await readTopics(k8s, pod);
      return atDelete.images === total;
    }, { timeoutMs: WAIT_MS, intervalMs: 500 });
    await kubectlOk(k8s, ['delete', 'pod', '-n', NAMESPACE, teachers[0].name, '--wait=false']);
    // The Deployment replaces it; its partitions move to the survivor meanwhile.
    await eventually('a replacement teacher', async () => (await listPods(k8s, TEACHERS)).some((p) => !teachers.some((t) => t.name === p.name)), {
      timeoutMs: WAIT_MS,
      intervalMs: 1000,
    });
    await allLabeled(total);
    assert.ok(atDelete.committed < total, `images were still to label when the teacher was deleted (${atDelete.committed}/${total} committed)`);

    const state = await readTopics(k8s, pod, true);
    const keys = state.keys as NonNullable<typeof state.keys>;
    assert.equal(keys.images.length, total, 'each ImageRef published once');
    assert.equal(new Set(keys.images).size, total);
    const outcomes = [...keys.samples, ...keys.rejected, ...keys.dlq];
    assert.equal(outcomes.length, total, `one outcome per image (samples ${keys.samples.length}, rejected ${keys.rejected.length}, dlq ${keys.dlq.length})`);
    assert.deepEqual(new Set(outcomes), new Set(keys.images), 'every image has its outcome, none twice');
    assert.equal(keys.dlq.length, 0, 'no image dead-lettered');
    // An unlabeled image's id is its S3 key: each upload went through.
    assert.deepEqual(new Set(uploaded.filter((k) => !outcomes.includes(k))), new Set(), 'every uploaded image has an outcome');
  });

  it('serves /metrics through the metrics Service and each teacher pod', async () => {
    const viaService = await scrape(k8s, 'services/distillery-metrics', 'metrics');
    assert.ok(viaService.some((s) => s.name.startsWith('distillery_')), 'a distillery metric through the Service');
    const teachers = await waitForReadyPods(k8s, TEACHERS, 2, WAIT_MS);
    for (const teacher of teachers) {
      // A counter with labels appears once it counts, and the replacement may have found the batch done: the
      // process metrics are always there.
      const samples = await scrape(k8s, `pods/${teacher.name}`, 9464);
      assert.notEqual(sampleValue(samples, 'distillery_process_cpu_seconds_total'), undefined, teacher.name);
    }
    // The survivor and the replacement labelled part of the second batch between them (the deleted pod's count left with it).
    assert.ok((await teacherConsumed(k8s)) > 0);
  });
});
