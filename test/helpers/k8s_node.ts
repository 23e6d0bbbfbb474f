// Helpers for the real node (scripts/k8s/cluster.sh start --node): the local-node overlay deployed with volumes,
// pods, port-forwards, metrics through the API server's proxy, and the pipeline's topics read from inside a pod.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCorpus } from '../../src/corpus/index.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { listAll } from '../../src/io/object_store.ts';
import { S3Store } from '../../src/io/s3_store.ts';
import { eventually } from './eventually.ts';
import { installCrds, kubectl, kubectlOk, yamlFiles, type K8sTestEnv } from './k8s.ts';
import { parsePrometheus, type PromSample } from './prometheus.ts';

export const OVERLAY = fileURLToPath(new URL('../../deploy/k8s/overlays/local-node', import.meta.url));
export const NAMESPACE = 'distillery-dev';
/** The dev overlay's S3 root key pair (deploy/k8s/overlays/dev, dev only, in the repository on purpose). */
const DEV_S3 = { accessKeyId: 'dev-only-access-key', secretAccessKey: 'dev-only-secret-key-not-a-secret' };
const UNLABELED_PREFIX = 'corpus/unlabeled/images/';

export const TEACHERS = 'app.kubernetes.io/component=teacher';

export interface PodInfo {
  name: string;
  ready: boolean;
  /** Being deleted (graceful termination under way): no longer counts as a replica. */
  terminating: boolean;
}

export async function listPods(k8s: K8sTestEnv, selector: string): Promise<PodInfo[]> {
  interface Item {
    metadata: { name: string; deletionTimestamp?: string };
    status: { conditions?: { type: string; status: string }[] };
  }
  const out = JSON.parse(await kubectlOk(k8s, ['get', 'pods', '-n', NAMESPACE, '-l', selector, '-o', 'json'])) as { items: Item[] };
  return out.items.map((p) => ({
    name: p.metadata.name,
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    terminating: p.metadata.deletionTimestamp !== undefined,
  }));
}

/** Waits until exactly `count` pods of the selector are Ready and none is terminating; returns them. */
export async function waitForReadyPods(k8s: K8sTestEnv, selector: string, count: number, timeoutMs: number): Promise<PodInfo[]> {
  let pods: PodInfo[] = [];
  await eventually(`${count} ready pod(s) ${selector}`, async () => {
    pods = await listPods(k8s, selector);
    return pods.length === count && pods.every((p) => p.ready && !p.terminating);
  }, { timeoutMs, intervalMs: 1000 });
  return pods;
}

export interface PortForward {
  port: number;
  close(): void;
}

/** `kubectl port-forward` of a Service or pod to a free port on 127.0.0.1 (through the kubelet's stream server). */
export function portForward(k8s: K8sTestEnv, target: string, remotePort: number): Promise<PortForward> {
  const child = spawn(k8s.kubectl, ['port-forward', '-n', NAMESPACE, '--address', '127.0.0.1', target, `:${remotePort}`], {
    env: { ...process.env, KUBECONFIG: k8s.kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) resolve({ port: Number(match[1]), close: () => child.kill('SIGTERM') });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`kubectl port-forward ${target} exited ${code}: ${output}`)));
  });
}

/** Prometheus text of `path` on a pod or Service port, fetched through the API server's proxy. */
export async function scrape(k8s: K8sTestEnv, target: `pods/${string}` | `services/${string}`, port: string | number): Promise<PromSample[]> {
  const text = await kubectlOk(k8s, ['get', '--raw', `/api/v1/namespaces/${NAMESPACE}/${target}:${port}/proxy/metrics`]);
  return parsePrometheus(text);
}

/** ImageRefs the teacher pods consumed and committed, summed over the pods running now. */
export async function teacherConsumed(k8s: K8sTestEnv): Promise<number> {
  const pods = (await listPods(k8s, TEACHERS)).filter((p) => p.ready && !p.terminating);
  let total = 0;
  for (const pod of pods) {
    const samples = await scrape(k8s, `pods/${pod.name}`, 9464);
    total += samples.filter((s) => s.name === 'distillery_images_consumed_total').reduce((sum, s) => sum + s.value, 0);
  }
  return total;
}

// ------------------------------------------------------------------------------------------- Kafka, in a pod

/**
 * Run by `node` inside a stage pod with the image's compiled code and the pod's topology and environment: Kafka
 * advertises `kafka.<namespace>.svc`, which only the cluster's DNS resolves. Prints one `RESULT {...}` line: the
 * images topic's size, the teacher group's committed offsets and, for `outcomes`, the keys on every topic as a
 * read_committed consumer sees them.
 */
const IN_POD_READER = `
const { loadTopology } = await import('/app/dist/topology/index.js');
const { openTransport } = await import('/app/dist/transport/open_transport.js');
const { readAllMessages } = await import('/app/dist/transport/transport.js');
const { createLogger } = await import('/app/dist/util/logger.js');
const { decodeImageRef } = await import('/app/dist/messages/image_ref.js');
const topology = await loadTopology('/etc/distillery/topology.yaml');
const transport = openTransport(topology.transport, { logger: createLogger({ level: 'error' }) });
const topic = (name) => topology.topics[name].name;
try {
  const result = {};
  result.images = (await transport.topicOffsets(topic('images'))).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
  result.committed = (await transport.groupOffsets('teacher', topic('images'))).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  if (process.env.READ_OUTCOMES === '1') {
    result.keys = {};
    // Outcomes are keyed by the image's id, which for a labeled image is its COCO id: read it from each ImageRef.
    result.keys.images = (await readAllMessages(transport, topic('images'), { idleMs: 2000 })).map((m) => decodeImageRef(m.value).imageId);
    result.outcomeTimes = {};
    for (const name of ['samples', 'rejected', 'dlq']) {
      const messages = await readAllMessages(transport, topic(name), { idleMs: 2000 });
      result.keys[name] = messages.map((m) => m.key);
      for (const m of messages) result.outcomeTimes[m.key] = Number(m.timestamp);
    }
  }
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');
} finally {
  await transport.close();
}
`;

export interface TopicState {
  /** Messages on the images topic (ingest is not transactional: one offset per ImageRef). */
  images: number;
  /** The teacher group's committed offsets on it, summed. */
  committed: number;
  /** Image ids: of each ImageRef on the images topic, and the keys of the outcome topics. */
  keys?: { images: string[]; samples: string[]; rejected: string[]; dlq: string[] };
  /** Kafka timestamp (ms) of each outcome record, by image id: when the teacher produced it. */
  outcomeTimes?: Record<string, number>;
}

export async function readTopics(k8s: K8sTestEnv, pod: string, outcomes = false): Promise<TopicState> {
  const out = await kubectlOk(
    k8s,
    ['exec', '-i', '-n', NAMESPACE, pod, '-c', 'distillery', '--', 'env', `READ_OUTCOMES=${outcomes ? 1 : 0}`, 'node', '--input-type=module', '-'],
    IN_POD_READER,
  );
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`the in-pod reader printed no RESULT line:\n${out}`);
  return JSON.parse(line.slice('RESULT '.length)) as TopicState;
}

// ------------------------------------------------------------------------------------------- the deployment

export interface LocalNodeDeployment {
  /** The in-cluster S3 bucket, through a port-forward of the `s3` Service. */
  store: S3Store;
  /** Unlabeled images generated on the host, uploaded by `uploadUnlabeled`. */
  uploadUnlabeled(count: number, tag: string): Promise<string[]>;
  /** Keys under a prefix of the in-cluster bucket. */
  list(prefix: string): Promise<string[]>;
  teardown(): Promise<void>;
}

/** hostPath PersistentVolumes bound ahead to the StatefulSets' claims (the node has no provisioner). */
async function createVolumes(k8s: K8sTestEnv, dir: string, tag: string): Promise<string[]> {
  const names: string[] = [];
  for (const [claim, size] of [['data-kafka-0', '5Gi'], ['data-s3-0', '10Gi']] as const) {
    const path = join(dir, claim);
    await mkdir(path, { recursive: true });
    // The servers run as non-root users and the kubelet applies no fsGroup to hostPath volumes.
    await chmod(path, 0o777);
    const name = `distillery-${tag}-${claim}`;
    names.push(name);
    const pv = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, labels: { 'app.kubernetes.io/part-of': 'distillery-test' } },
      spec: {
        capacity: { storage: size },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        claimRef: { namespace: NAMESPACE, name: claim },
        hostPath: { path, type: 'Directory' },
      },
    };
    await kubectlOk(k8s, ['create', '-f', '-'], JSON.stringify(pv));
  }
  return names;
}

/**
 * Applies the local-node overlay (CRDs and volumes first) and waits until Kafka, S3, the setup Job, ingest, one
 * teacher and the student run. Fails when the namespace exists already: it may be someone's.
 */
export async function deployLocalNode(k8s: K8sTestEnv, timeoutMs: number): Promise<LocalNodeDeployment> {
  const existing = await kubectl(k8s, ['get', 'namespace', NAMESPACE]);
  if (existing.code === 0) throw new Error(`namespace ${NAMESPACE} exists: delete it first (kubectl delete namespace ${NAMESPACE})`);
  const tag = Date.now().toString(36);
  const dir = await mkdtemp(join(tmpdir(), 'distillery-node-'));
  const crds = (await Promise.all(k8s.crdDirs.map(yamlFiles))).flat();
  await installCrds(k8s, crds);
  const volumes = await createVolumes(k8s, join(dir, 'volumes'), tag);
  let forward: PortForward | undefined;

  const teardown = async (): Promise<void> => {
    forward?.close();
    // The stages first, so they drain (the student's last checkpoint) while Kafka and S3 still run; then the rest,
    // while the kubelet runs (pod volumes and networks go through it); then the volumes.
    await kubectl(k8s, ['delete', 'deployments,jobs', '--all', '-n', NAMESPACE, '--cascade=foreground', '--wait=true', '--timeout=180s']);
    await kubectl(k8s, ['delete', 'namespace', NAMESPACE, '--wait=true', '--timeout=180s']);
    await kubectl(k8s, ['delete', 'pv', ...volumes, '--wait=true', '--timeout=60s']);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await kubectlOk(k8s, ['apply', '-k', OVERLAY]);
    await waitForReadyPods(k8s, 'app.kubernetes.io/name=kafka', 1, timeoutMs);
    await waitForReadyPods(k8s, 'app.kubernetes.io/name=versitygw', 1, timeoutMs);
    await kubectlOk(k8s, ['wait', '-n', NAMESPACE, '--for=condition=Complete', 'job/distillery-ingest-labeled', `--timeout=${Math.round(timeoutMs / 1000)}s`]);
    for (const component of ['ingest-unlabeled', 'teacher', 'student']) {
      await waitForReadyPods(k8s, `app.kubernetes.io/component=${component}`, 1, timeoutMs);
    }
    forward = await portForward(k8s, 'service/s3', 7070);
    const store = new S3Store({ bucket: 'distillery', region: 'us-east-1', endpoint: `http://127.0.0.1:${forward.port}`, forcePathStyle: true, credentials: DEV_S3 });
    const local = new LocalStore({ root: join(dir, 'generated') });
    let generated = 0;
    return {
      store,
      teardown,
      list: async (prefix) => {
        const keys: string[] = [];
        for await (const info of listAll(store, prefix)) keys.push(info.key);
        return keys;
      },
      uploadUnlabeled: async (count, batch) => {
        generated += 1;
        const prefix = `batch-${generated}`;
        await generateCorpus(local, { prefix, seed: generated, images: { labeled: 0, test: 0, unlabeled: count }, workers: 0 });
        const keys: string[] = [];
        for await (const info of listAll(local, `${prefix}/unlabeled/images/`)) {
          const key = `${UNLABELED_PREFIX}${batch}-${info.key.slice(info.key.lastIndexOf('/') + 1)}`;
          await store.put(key, await local.get(info.key));
          keys.push(key);
        }
        return keys;
      },
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

