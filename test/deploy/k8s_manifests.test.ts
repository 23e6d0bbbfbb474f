// deploy/k8s on a real API server: every overlay applies (server dry-run, then for real) and the rendered objects
// hold the deployment's rules (pod security, probes, resources, labels, autoscaling bounds, grace, network policy).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadTopology } from '../../src/topology/index.ts';
import type { CompiledTopology } from '../../src/topology/types.ts';
import {
  installCrds,
  k8sTestEnv,
  kubectl,
  kubectlOk,
  parseObjects,
  podTemplate,
  WORKLOAD_KINDS,
  yamlFiles,
  type Container,
  type K8sObject,
  type K8sTestEnv,
} from '../helpers/k8s.ts';
import { strimziSecurityGaps } from '../helpers/strimzi_security.ts';

const K8S_DIR = fileURLToPath(new URL('../../deploy/k8s/', import.meta.url));
const OVERLAYS = ['dev', 'strimzi', 'gpu'] as const;
type Overlay = (typeof OVERLAYS)[number];

const STAGE_ARGS = (stage: string): string[] => ['run', stage, '--topology', '/etc/distillery/topology.yaml'];
const METRICS_PORT = 9464;
const STANDARD_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by'];

interface Rendered {
  overlay: Overlay;
  dir: string;
  namespace: string;
  objects: K8sObject[];
  topology: CompiledTopology;
}

function find(rendered: Rendered, kind: string, name: string): K8sObject {
  const object = rendered.objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(object, `${rendered.overlay}: no ${kind}/${name}`);
  return object;
}

/** Generated ConfigMaps/Secrets carry a content hash suffix: find them by their generator name. */
function generated(rendered: Rendered, kind: string, prefix: string): K8sObject {
  const object = rendered.objects.find((o) => o.kind === kind && new RegExp(`^${prefix}-[a-z0-9]{10}$`).test(o.metadata.name));
  assert.ok(object, `${rendered.overlay}: no generated ${kind} ${prefix}-<hash>`);
  return object;
}

function workloads(rendered: Rendered): K8sObject[] {
  return rendered.objects.filter((o) => (WORKLOAD_KINDS as readonly string[]).includes(o.kind));
}

/** The stage workloads (labelled distillery/stage), with their one stage container. */
function stages(rendered: Rendered): { object: K8sObject; stage: string; container: Container }[] {
  return workloads(rendered)
    .filter((o) => o.metadata.labels?.['distillery/stage'] !== undefined)
    .map((object) => {
      const container = podTemplate(object).spec.containers.find((c) => c.name === 'distillery');
      assert.ok(container, `${object.kind}/${object.metadata.name}: no container named distillery`);
      return { object, stage: object.metadata.labels?.['distillery/stage'] as string, container };
    });
}

function allContainers(object: K8sObject): Container[] {
  const spec = podTemplate(object).spec;
  return [...(spec.initContainers ?? []), ...spec.containers];
}

async function render(k8s: K8sTestEnv, overlay: Overlay, scratch: string): Promise<Rendered> {
  const dir = join(K8S_DIR, 'overlays', overlay);
  const objects = parseObjects(await kubectlOk(k8s, ['kustomize', dir]));
  const namespaces = objects.filter((o) => o.kind === 'Namespace');
  assert.equal(namespaces.length, 1, `${overlay}: exactly one Namespace`);
  const namespace = namespaces[0].metadata.name;
  // The topology the pods mount, loaded by distillery's own loader with the environment the pods get.
  const rendered: Rendered = { overlay, dir, namespace, objects, topology: undefined as unknown as CompiledTopology };
  const file = join(scratch, `${overlay}-topology.yaml`);
  await writeFile(file, generated(rendered, 'ConfigMap', 'distillery-topology').data?.['topology.yaml'] ?? '');
  const env = generated(rendered, 'ConfigMap', 'distillery-env').data ?? {};
  rendered.topology = await loadTopology(file, { env });
  return rendered;
}

describe('deploy/k8s manifests on a real API server', () => {
  let k8s: K8sTestEnv;
  let scratch: string;
  const rendered = new Map<Overlay, Rendered>();
  const get = (overlay: Overlay): Rendered => rendered.get(overlay) as Rendered;

  before(async () => {
    k8s = k8sTestEnv();
    scratch = await mkdtemp(join(tmpdir(), 'distillery-k8s-'));
    const crds = [...(await Promise.all(k8s.crdDirs.map(yamlFiles))).flat(), ...(await yamlFiles(join(K8S_DIR, 'crds', 'strimzi')))];
    await installCrds(k8s, crds);
    for (const overlay of OVERLAYS) rendered.set(overlay, await render(k8s, overlay, scratch));
  });

  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  for (const overlay of OVERLAYS) {
    it(`${overlay}: applies with --dry-run=server, then for real, with no pod-security warning`, async () => {
      const r = get(overlay);
      // The namespace first: a server dry run does not create it, and every other object lives in it.
      const namespace = r.objects.find((o) => o.kind === 'Namespace') as K8sObject;
      await kubectlOk(k8s, ['apply', '-f', '-'], stringify(namespace));

      const dry = await kubectl(k8s, ['apply', '-k', r.dir, '--dry-run=server']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.doesNotMatch(dry.stderr, /Warning|PodSecurity/, 'the restricted profile warns about no workload');
      assert.equal(dry.stdout.trim().split('\n').length, r.objects.length, dry.stdout);
      assert.match(dry.stdout, /\(server dry run\)/);

      const real = await kubectl(k8s, ['apply', '-k', r.dir]);
      assert.equal(real.code, 0, real.stderr);
      assert.doesNotMatch(real.stderr, /Warning|PodSecurity/);
      // Every rendered object is now stored, in the overlay's namespace.
      const stored = JSON.parse(await kubectlOk(k8s, ['get', '-k', r.dir, '-o', 'json'])) as { items: K8sObject[] };
      assert.equal(stored.items.length, r.objects.length);
      for (const item of stored.items.filter((o) => o.kind !== 'Namespace')) assert.equal(item.metadata.namespace, r.namespace, `${item.kind}/${item.metadata.name}`);
      // What is stored is what the manifests say: a server-side diff finds nothing (exit 0; 1 = differences).
      const diff = await kubectl(k8s, ['diff', '-k', r.dir]);
      assert.equal(diff.code, 0, `${diff.stdout}${diff.stderr}`);
    });
  }

  it('the API server refuses broken objects (the dry runs validate for real)', async () => {
    const r = get('dev');
    const ns = ['-n', r.namespace];
    // CRD schema: KEDA's ScaledObject with a string where an integer belongs.
    const scaled = structuredClone(find(r, 'ScaledObject', 'distillery-teacher'));
    (scaled.spec as Record<string, unknown>).maxReplicaCount = 'two';
    const badCrd = await kubectl(k8s, ['apply', '--dry-run=server', ...ns, '-f', '-'], stringify(scaled));
    assert.notEqual(badCrd.code, 0);
    assert.match(badCrd.stderr, /maxReplicaCount/);
    // Strict field validation: a misspelt field in a Strimzi KafkaTopic.
    const topic = structuredClone(find(get('strimzi'), 'KafkaTopic', 'distillery-images'));
    (topic.spec as Record<string, unknown>).partition = 2;
    const badField = await kubectl(k8s, ['apply', '--dry-run=server', '-n', get('strimzi').namespace, '-f', '-'], stringify(topic));
    assert.notEqual(badField.code, 0);
    assert.match(badField.stderr, /unknown field "spec.partition"/);
    // Core validation: a Deployment whose selector does not match its pods.
    const teacher = structuredClone(find(r, 'Deployment', 'distillery-teacher'));
    (teacher.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels['app.kubernetes.io/component'] = 'nobody';
    const badSelector = await kubectl(k8s, ['apply', '--dry-run=server', ...ns, '-f', '-'], stringify(teacher));
    assert.notEqual(badSelector.code, 0);
    assert.match(badSelector.stderr, /selector. does not match template .labels/);
    // KEDA's TriggerAuthentication CRD: a misspelt field is refused (strimzi's is stored by the apply test).
    const auth = structuredClone(find(get('strimzi'), 'TriggerAuthentication', 'distillery-kafka'));
    (auth.spec as Record<string, unknown>).secretTargetRefs = (auth.spec as Record<string, unknown>).secretTargetRef;
    const badAuth = await kubectl(k8s, ['apply', '--dry-run=server', '-n', get('strimzi').namespace, '-f', '-'], stringify(auth));
    assert.notEqual(badAuth.code, 0);
    assert.match(badAuth.stderr, /unknown field "spec.secretTargetRefs"/);
    // Pod Security admission: the namespace enforces the restricted profile on pods.
    // (The namespace's own service account: no controller manager creates `default` at level 1.)
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'root-pod' },
      spec: { serviceAccountName: 'distillery', automountServiceAccountToken: false, containers: [{ name: 'c', image: 'distillery:0.1.0' }] },
    };
    const badPod = await kubectl(k8s, ['apply', '--dry-run=server', ...ns, '-f', '-'], stringify(pod));
    assert.notEqual(badPod.code, 0);
    assert.match(badPod.stderr, /violates PodSecurity "restricted/);
  });

  for (const overlay of OVERLAYS) {
    it(`${overlay}: every container runs restricted (non-root, read-only root, no escalation, no capabilities, RuntimeDefault)`, () => {
      for (const object of workloads(get(overlay))) {
        const { spec } = podTemplate(object);
        const where = `${overlay} ${object.kind}/${object.metadata.name}`;
        assert.equal(spec.securityContext?.runAsNonRoot, true, where);
        assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', where);
        const tmp = spec.volumes?.find((v) => v.emptyDir !== undefined);
        for (const c of allContainers(object)) {
          const at = `${where} container ${c.name}`;
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, at);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, at);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], at);
          assert.equal(c.securityContext?.capabilities?.add, undefined, at);
          assert.ok(tmp && c.volumeMounts?.some((m) => m.name === tmp.name && m.mountPath === '/tmp'), `${at}: an emptyDir at /tmp`);
          assert.ok(c.resources?.requests?.cpu !== undefined && c.resources.requests.memory !== undefined, `${at}: cpu and memory requests`);
          assert.ok(c.resources?.limits?.memory !== undefined, `${at}: a memory limit`);
        }
      }
    });

    it(`${overlay}: stage pods run the agreed command and probe /healthz and /readyz on the metrics port`, () => {
      const r = get(overlay);
      const found = stages(r);
      assert.deepEqual(found.map((s) => s.stage).sort(), r.topology.stages.map((s) => s.name).sort(), 'one workload per topology stage');
      for (const { object, stage, container } of found) {
        const where = `${overlay} ${object.kind}/${object.metadata.name}`;
        assert.deepEqual(container.command, ['node', '/app/bin/distillery.js'], where);
        assert.deepEqual(container.args, STAGE_ARGS(stage), where);
        assert.match(container.image, /^distillery:0\.1\.0(-gpu)?$/, where);
        assert.deepEqual(container.ports?.find((p) => p.name === 'metrics')?.containerPort, METRICS_PORT, where);
        assert.equal(get(overlay).topology.observability.port, METRICS_PORT, `${where}: the topology serves probes on the probed port`);
        assert.deepEqual(container.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' }, where);
        assert.deepEqual(container.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' }, where);
        assert.ok(container.env?.some((e) => e.name === 'HOME' && e.value === '/tmp'), `${where}: HOME=/tmp`);
        const mounts = podTemplate(object).spec.volumes?.find((v) => v.name === 'topology')?.configMap?.name ?? '';
        assert.match(mounts, /^distillery-topology-/, `${where}: mounts the topology ConfigMap`);
      }
    });

    it(`${overlay}: standard labels on every object and pod, selectors on stable labels only`, () => {
      for (const object of get(overlay).objects) {
        if (object.kind === 'Namespace') continue;
        for (const label of STANDARD_LABELS) assert.ok(object.metadata.labels?.[label], `${overlay} ${object.kind}/${object.metadata.name}: ${label}`);
      }
      for (const object of workloads(get(overlay))) {
        const labels = podTemplate(object).metadata.labels ?? {};
        for (const label of [...STANDARD_LABELS, 'app.kubernetes.io/component', 'app.kubernetes.io/version']) {
          assert.ok(labels[label], `${overlay} ${object.kind}/${object.metadata.name} pods: ${label}`);
        }
        const selector = (object.spec?.selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels ?? {};
        assert.equal(selector['app.kubernetes.io/version'], undefined, 'a version in a selector would block upgrades');
      }
    });

    it(`${overlay}: the KEDA ScaledObject scales the teacher on its group's lag up to the images topic's partitions`, () => {
      const r = get(overlay);
      const spec = find(r, 'ScaledObject', 'distillery-teacher').spec as {
        scaleTargetRef: { name: string };
        minReplicaCount: number;
        maxReplicaCount: number;
        triggers: { type: string; metadata: Record<string, string> }[];
      };
      const teacher = r.topology.stages.find((s) => s.kind === 'teacher');
      assert.ok(teacher);
      assert.equal(spec.maxReplicaCount, r.topology.topics.images.partitions);
      assert.ok(spec.minReplicaCount >= 1 && spec.minReplicaCount <= spec.maxReplicaCount);
      const target = find(r, 'Deployment', spec.scaleTargetRef.name);
      assert.equal(target.metadata.labels?.['distillery/stage'], teacher.name);
      assert.equal(target.spec?.replicas, undefined, 'KEDA owns the teacher replica count');
      const [trigger] = spec.triggers;
      assert.equal(trigger.type, 'kafka');
      assert.equal(trigger.metadata.consumerGroup, teacher.name);
      assert.equal(trigger.metadata.topic, r.topology.topics.images.name);
      const env = generated(r, 'ConfigMap', 'distillery-env').data ?? {};
      const brokers = env[trigger.metadata.bootstrapServersFromEnv];
      assert.ok(brokers, `bootstrapServersFromEnv names a distillery-env key`);
      // KEDA's operator resolves the address from its own namespace: it must be a full Service name or external.
      for (const broker of brokers.split(',')) assert.match(broker, /^[^.:]+\.[^:]+:\d+$/, `${broker}: not a bare in-namespace name`);
    });

    it(`${overlay}: grace period covers each stage's drain; the student is one Recreate replica`, () => {
      const r = get(overlay);
      for (const { object } of stages(r)) {
        const template = podTemplate(object);
        const drain = Number(template.metadata.annotations?.['distillery/drain-seconds']);
        assert.ok(Number.isFinite(drain) && drain > 0, `${object.metadata.name}: distillery/drain-seconds`);
        assert.ok((template.spec.terminationGracePeriodSeconds ?? 30) >= drain, `${object.metadata.name}: grace ≥ drain`);
      }
      const student = find(r, 'Deployment', 'distillery-student').spec as { replicas: number; strategy: { type: string } };
      assert.equal(student.replicas, 1);
      assert.equal(student.strategy.type, 'Recreate');
      assert.equal(find(r, 'Job', 'distillery-ingest-labeled').kind, 'Job');
      const watcher = r.topology.stages.find((s) => s.name === 'ingest-unlabeled');
      assert.equal(watcher?.kind === 'ingest' && watcher.options.watch, true, 'the Deployment ingest watches');
      assert.ok(r.objects.some((o) => o.kind === 'PodDisruptionBudget'));
    });

    it(`${overlay}: a default-deny NetworkPolicy covers every distillery pod; stages get DNS, Kafka and S3 out`, () => {
      const r = get(overlay);
      const policies = r.objects.filter((o) => o.kind === 'NetworkPolicy');
      const deny = policies.find((p) => p.metadata.name === 'distillery-default-deny');
      assert.ok(deny);
      const spec = deny.spec as { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: unknown; egress?: unknown };
      assert.deepEqual([...spec.policyTypes].sort(), ['Egress', 'Ingress']);
      assert.equal(spec.ingress, undefined);
      assert.equal(spec.egress, undefined);
      for (const { object } of stages(r)) {
        const labels = podTemplate(object).metadata.labels ?? {};
        for (const [k, v] of Object.entries(spec.podSelector.matchLabels)) assert.equal(labels[k], v, `${object.metadata.name} is denied by default`);
      }
      const egress = (policies.find((p) => p.metadata.name === 'distillery-stage-egress')?.spec as { egress: { ports: { port: number }[] }[] }).egress;
      const ports = egress.flatMap((rule) => rule.ports.map((p) => p.port));
      assert.ok(ports.includes(53), 'DNS');
      const brokers = generated(r, 'ConfigMap', 'distillery-env').data?.KAFKA_BROKERS ?? '';
      for (const broker of brokers.split(',')) assert.ok(ports.includes(Number(broker.split(':').at(-1))), `Kafka ${broker}`);
      assert.ok(ports.includes(overlay === 'dev' ? 7070 : 443), 'S3');
    });
  }

  it('gpu: teacher and student request a GPU with the GPU image and tensorflow backend; ingest stays on CPU', () => {
    const r = get('gpu');
    for (const { stage, object, container } of stages(r)) {
      const gpu = container.resources?.limits?.['nvidia.com/gpu'];
      if (stage === 'teacher' || stage === 'student') {
        assert.equal(gpu, 1, stage);
        assert.equal(container.image, 'distillery:0.1.0-gpu', stage);
        assert.ok(container.env?.some((e) => e.name === 'DISTILLERY_BACKEND' && e.value === 'tensorflow'), stage);
        assert.ok(podTemplate(object).spec.tolerations?.some((t) => t.key === 'nvidia.com/gpu'), stage);
        assert.ok(podTemplate(object).spec.nodeSelector, stage);
      } else {
        assert.equal(gpu, undefined, stage);
        assert.equal(container.image, 'distillery:0.1.0', stage);
      }
    }
    for (const overlay of ['dev', 'strimzi'] as const) {
      for (const { container } of stages(get(overlay))) assert.equal(container.resources?.limits?.['nvidia.com/gpu'], undefined);
    }
  });

  it('strimzi: KafkaTopics match the topology (names, partitions) and the stages use the Strimzi bootstrap', () => {
    const r = get('strimzi');
    const topics = r.objects.filter((o) => o.kind === 'KafkaTopic').map((o) => o.spec as { topicName: string; partitions: number });
    for (const topic of Object.values(r.topology.topics)) {
      assert.equal(topics.find((t) => t.topicName === topic.name)?.partitions, topic.partitions, topic.name);
    }
    assert.ok(r.objects.some((o) => o.kind === 'Kafka' && o.apiVersion === 'kafka.strimzi.io/v1'));
    assert.ok(r.objects.some((o) => o.kind === 'KafkaNodePool'));
    assert.ok(r.objects.some((o) => o.kind === 'KafkaUser'));
    assert.ok(!r.objects.some((o) => o.kind === 'StatefulSet'), 'no plain Kafka');
    assert.equal(r.topology.transport.kind === 'kafka' && r.topology.transport.brokers[0], 'distillery-kafka-bootstrap.distillery.svc:9094');
  });

  it('strimzi: stages and KEDA use the TLS + SCRAM-SHA-512 listener with the KafkaUser Secret, the cluster CA and ACLs', () => {
    const r = get('strimzi');
    assert.deepEqual(strimziSecurityGaps(r.objects, r.topology), []);
  });

  it('strimzi: every broken variant of the Kafka security wiring is caught', () => {
    const r = get('strimzi');
    type Mutate = (objects: K8sObject[], topology: CompiledTopology) => void;
    const of = (objects: K8sObject[], kind: string, name?: string): K8sObject =>
      objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name || o.metadata.name.startsWith(`${name}-`))) as K8sObject;
    const stagePod = (objects: K8sObject[]) => podTemplate(of(objects, 'Deployment', 'distillery-teacher')).spec;
    const acls = (objects: K8sObject[]) => (of(objects, 'KafkaUser').spec as { authorization: { acls: { resource: { type: string; name?: string } }[] } }).authorization.acls;
    const variants: [string, RegExp, Mutate][] = [
      ['plaintext topology', /transport.ssl is not true/, (_o, t) => t.transport.kind === 'kafka' && delete t.transport.ssl],
      ['no SASL in the topology', /saslMechanism is undefined/, (_o, t) => t.transport.kind === 'kafka' && delete t.transport.saslMechanism],
      ['the listener without TLS', /listener scram \(9094\): not TLS/, (o) => {
        ((of(o, 'Kafka').spec as { kafka: { listeners: { tls: boolean }[] } }).kafka.listeners[0].tls = false);
      }],
      ['an anonymous listener beside it', /listener plain \(9092\): no authentication/, (o) => {
        (of(o, 'Kafka').spec as { kafka: { listeners: unknown[] } }).kafka.listeners.push({ name: 'plain', port: 9092, type: 'internal', tls: false });
      }],
      ['the password not from the KafkaUser Secret', /KAFKA_SASL_PASSWORD not from Secret distillery/, (o) => {
        const env = stagePod(o).containers[0].env ?? [];
        (env.find((e) => e.name === 'KAFKA_SASL_PASSWORD') as { valueFrom: { secretKeyRef: { key: string } } }).valueFrom.secretKeyRef.key = 'sasl.jaas.config';
      }],
      ['the CA mounted writable', /distillery-cluster-ca-cert mounted writable/, (o) => {
        for (const m of stagePod(o).containers[0].volumeMounts ?? []) delete m.readOnly;
      }],
      ['KAFKA_SSL_CA_FILE elsewhere', /KAFKA_SSL_CA_FILE \/tmp\/ca.crt is not the mounted ca.crt/, (o) => {
        (of(o, 'ConfigMap', 'distillery-env').data as Record<string, string>).KAFKA_SSL_CA_FILE = '/tmp/ca.crt';
      }],
      ['KEDA without a TriggerAuthentication', /no authenticationRef/, (o) => {
        delete (of(o, 'ScaledObject').spec as { triggers: { authenticationRef?: unknown }[] }).triggers[0].authenticationRef;
      }],
      ['KEDA over plaintext', /trigger tls is not enable/, (o) => {
        delete (of(o, 'ScaledObject').spec as { triggers: { metadata: Record<string, string> }[] }).triggers[0].metadata.tls;
      }],
      ['egress to the old port', /egress to Kafka port 9094 not allowed/, (o) => {
        const policy = of(o, 'NetworkPolicy', 'distillery-stage-egress').spec as { egress: { ports: { port: number }[] }[] };
        for (const rule of policy.egress) for (const port of rule.ports) if (port.port === 9094) port.port = 9092;
      }],
      ['no transactional-id ACL', /no Write on transactionalId teacher-distillery.images-1/, (o) => {
        const list = acls(o);
        list.splice(list.findIndex((a) => a.resource.type === 'transactionalId'), 1);
      }],
      ['an ACL for the wrong group', /no Read on group student/, (o) => {
        (acls(o).find((a) => a.resource.type === 'group' && a.resource.name === 'student') as { resource: { name: string } }).resource.name = 'students';
      }],
      ['no IdempotentWrite', /no IdempotentWrite on the cluster/, (o) => {
        const list = acls(o);
        list.splice(list.findIndex((a) => a.resource.type === 'cluster'), 1);
      }],
    ];
    for (const [name, expected, mutate] of variants) {
      const objects = structuredClone(r.objects);
      const topology = structuredClone(r.topology);
      mutate(objects, topology);
      const gaps = strimziSecurityGaps(objects, topology);
      assert.ok(gaps.some((g) => expected.test(g)), `${name}: ${JSON.stringify(gaps)}`);
    }
  });

  it('dev and gpu: the same topology connects in plaintext without credentials (KAFKA_SSL, KAFKA_SASL_MECHANISM unset)', () => {
    for (const overlay of ['dev', 'gpu'] as const) {
      const r = get(overlay);
      assert.equal(r.topology.transport.kind, 'kafka');
      if (r.topology.transport.kind !== 'kafka') continue;
      assert.equal(r.topology.transport.ssl, undefined, overlay);
      assert.equal(r.topology.transport.saslMechanism, undefined, overlay);
      assert.ok(!r.objects.some((o) => o.kind === 'TriggerAuthentication'), overlay);
    }
  });

  it('dev: Kafka and the S3 server run in the namespace; the S3 credentials are the marked dev-only ones', () => {
    const r = get('dev');
    const sets = r.objects.filter((o) => o.kind === 'StatefulSet').map((o) => allContainers(o)[0].image);
    assert.deepEqual(sets.sort(), ['distillery/kafka:3.9.1', 'distillery/versitygw:1.8.0']);
    const secret = generated(r, 'Secret', 'distillery-s3').data ?? {};
    for (const value of Object.values(secret)) assert.match(Buffer.from(value, 'base64').toString(), /^dev-only-/);
    assert.equal(r.topology.store.kind === 's3' && r.topology.store.endpoint, 'http://s3.distillery-dev.svc:7070');
  });
});
