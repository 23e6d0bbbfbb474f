// Teacher throughput inside the cluster: the local-node overlay on the real node (scripts/k8s/cluster.sh start
// --node), two teacher pods (wasm, one thread each) labelling N images uploaded to the in-cluster S3, the student
// scaled to 0 so the teachers share the node only with Kafka, S3 and ingest (as in bench/pipeline.ts). Prints the
// teacher stage's images/s between its first and last outcome record (their Kafka timestamps: nothing polls during
// the run but a check every 5 s for the end).
//
//   npm run bench:k8s                    # starts the node when none runs, stops it afterwards
//   npm run bench:k8s -- --images 960
import { parseArgs } from 'node:util';
import { eventually } from '../test/helpers/eventually.ts';
import { kubectlOk, k8sTestEnv } from '../test/helpers/k8s.ts';
import { deployLocalNode, NAMESPACE, readTopics, TEACHERS, waitForReadyPods } from '../test/helpers/k8s_node.ts';

const { values } = parseArgs({ options: { images: { type: 'string', default: '480' } } });
const images = Number(values.images);
if (!Number.isInteger(images) || images < 2) throw new Error(`--images must be an integer ≥ 2, got ${values.images}`);
const WAIT_MS = 900_000;
const LABELED = 8; // the overlay's generated labeled split, published by its setup Job

const k8s = k8sTestEnv();
const deployment = await deployLocalNode(k8s, WAIT_MS);
try {
  await kubectlOk(k8s, ['scale', 'deployment', '-n', NAMESPACE, 'distillery-teacher', '--replicas=2']);
  await waitForReadyPods(k8s, TEACHERS, 2, WAIT_MS);
  // The reader runs in a stage pod: ingest-unlabeled's stays up.
  const reader = (await waitForReadyPods(k8s, 'app.kubernetes.io/component=ingest-unlabeled', 1, WAIT_MS))[0].name;
  // The labeled split first, so both teachers have loaded their model and joined the group before the run.
  await eventually('the labeled split labelled', async () => (await readTopics(k8s, reader)).committed === LABELED, { timeoutMs: WAIT_MS, intervalMs: 2000 });
  await kubectlOk(k8s, ['scale', 'deployment', '-n', NAMESPACE, 'distillery-student', '--replicas=0']);
  await waitForReadyPods(k8s, 'app.kubernetes.io/component=student', 0, WAIT_MS);

  console.error(`bench: uploading ${images} images to the in-cluster S3`);
  const keys = await deployment.uploadUnlabeled(images, 'bench');
  await eventually(`the teachers commit all ${images} images`, async () => (await readTopics(k8s, reader)).committed === LABELED + images, {
    timeoutMs: WAIT_MS,
    intervalMs: 5000,
  });
  const times = (await readTopics(k8s, reader, true)).outcomeTimes ?? {};
  const batch = keys.map((k) => times[k]).filter((t): t is number => t !== undefined);
  if (batch.length !== images) throw new Error(`${batch.length} of ${images} images have an outcome record`);
  const seconds = (Math.max(...batch) - Math.min(...batch)) / 1000;
  console.log(`teacher stage in the cluster (local node, 2 pods, wasm 1 thread each): ${images} images, ${((images - 1) / seconds).toFixed(1)} images/s`);
} finally {
  await deployment.teardown();
}
