// What a rendered strimzi overlay must wire for TLS + SCRAM Kafka access, as a list of gaps (empty = wired), so the
// deploy test can show both that the overlay holds and that each broken variant is caught.
import { posix } from 'node:path';
import { consumerGroupOf } from '../../src/topology/consumer_group.ts';
import type { CompiledTopology } from '../../src/topology/types.ts';
import { transactionalId } from '../../src/transport/kafka_transactions.ts';
import { podTemplate, WORKLOAD_KINDS, type Container, type K8sObject } from './k8s.ts';

interface Listener {
  name: string;
  port: number;
  tls: boolean;
  authentication?: { type: string };
}

interface Acl {
  type?: 'allow' | 'deny';
  resource: { type: string; name?: string; patternType?: 'literal' | 'prefix' };
  operations: string[];
}

interface KedaRef {
  parameter: string;
  name: string;
  key?: string;
  containerName?: string;
}

/** KEDA's kafka scaler spells SASL mechanisms with underscores. */
const KEDA_SASL: Record<string, string> = { 'scram-sha-512': 'scram_sha512', 'scram-sha-256': 'scram_sha256', plain: 'plaintext' };

/** Whether an allow rule grants `operation` on the resource (Kafka's literal/prefix matching; All covers every op). */
export function aclAllows(acls: Acl[], type: string, name: string | undefined, operation: string): boolean {
  return acls.some((acl) => {
    if ((acl.type ?? 'allow') !== 'allow' || acl.resource.type !== type) return false;
    if (!acl.operations.includes(operation) && !acl.operations.includes('All')) return false;
    if (type === 'cluster') return true;
    const pattern = acl.resource.name ?? '';
    if (name === undefined) return false;
    if (pattern === '*') return true;
    return (acl.resource.patternType ?? 'literal') === 'prefix' ? name.startsWith(pattern) : name === pattern;
  });
}

function one(objects: K8sObject[], kind: string, match: (o: K8sObject) => boolean = () => true): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && match(o));
}

/** Every gap between the rendered objects and a TLS + SCRAM-SHA-512 setup that the stages and KEDA can use. */
export function strimziSecurityGaps(objects: K8sObject[], topology: CompiledTopology): string[] {
  const gaps: string[] = [];
  const env = one(objects, 'ConfigMap', (o) => /^distillery-env-[a-z0-9]{10}$/.test(o.metadata.name))?.data ?? {};
  const kafka = one(objects, 'Kafka');
  if (!kafka) return ['no Kafka'];
  const cluster = kafka.metadata.name;
  const user = one(objects, 'KafkaUser', (o) => o.metadata.labels?.['strimzi.io/cluster'] === cluster);
  if (!user) return [`no KafkaUser of cluster ${cluster}`];
  const caSecret = `${cluster}-cluster-ca-cert`;

  // The transport: TLS + SCRAM-SHA-512 from the environment, on the listener that requires both.
  const transport = topology.transport;
  if (transport.kind !== 'kafka') return ['the topology transport is not kafka'];
  if (transport.ssl !== true) gaps.push('topology: transport.ssl is not true');
  if (transport.saslMechanism !== 'scram-sha-512') gaps.push(`topology: transport.saslMechanism is ${transport.saslMechanism}, not scram-sha-512`);
  const ports = new Set(transport.brokers.map((b) => Number(b.slice(b.lastIndexOf(':') + 1))));
  const kafkaSpec = (kafka.spec as { kafka: { listeners: Listener[]; authorization?: { type: string } } }).kafka;
  for (const port of ports) {
    const listener = kafkaSpec.listeners.find((l) => l.port === port);
    if (!listener) gaps.push(`brokers: no Kafka listener on port ${port}`);
    else if (!listener.tls || listener.authentication?.type !== 'scram-sha-512') gaps.push(`listener ${listener.name} (${port}): not TLS + scram-sha-512`);
  }
  for (const l of kafkaSpec.listeners) if (l.authentication === undefined) gaps.push(`listener ${l.name} (${l.port}): no authentication`);
  if (kafkaSpec.authorization?.type !== 'simple') gaps.push('Kafka: ACLs not enforced (authorization.type simple)');
  if (env.KAFKA_SASL_USERNAME !== user.metadata.name) gaps.push(`distillery-env: KAFKA_SASL_USERNAME is not the KafkaUser's name ${user.metadata.name}`);
  const caFile = env.KAFKA_SSL_CA_FILE ?? '';
  if (caFile === '') gaps.push('distillery-env: no KAFKA_SSL_CA_FILE');

  // Every stage pod: the password from the User Operator's Secret, the cluster CA mounted read-only at caFile.
  for (const object of objects.filter((o) => (WORKLOAD_KINDS as readonly string[]).includes(o.kind) && o.metadata.labels?.['distillery/stage'])) {
    const where = `${object.kind}/${object.metadata.name}`;
    const spec = podTemplate(object).spec;
    const container = spec.containers.find((c) => c.name === 'distillery') as Container;
    const password = container.env?.find((e) => e.name === 'KAFKA_SASL_PASSWORD')?.valueFrom?.secretKeyRef;
    if (password?.name !== user.metadata.name || password.key !== 'password') gaps.push(`${where}: KAFKA_SASL_PASSWORD not from Secret ${user.metadata.name} key password`);
    const volume = spec.volumes?.find((v) => v.secret?.secretName === caSecret);
    const item = volume?.secret?.items?.find((i) => i.key === 'ca.crt');
    const mount = container.volumeMounts?.find((m) => m.name === volume?.name);
    if (!volume || !mount) gaps.push(`${where}: Secret ${caSecret} not mounted`);
    else {
      if (mount.readOnly !== true) gaps.push(`${where}: ${caSecret} mounted writable`);
      if (posix.join(mount.mountPath, item?.path ?? 'ca.crt') !== caFile) gaps.push(`${where}: KAFKA_SSL_CA_FILE ${caFile} is not the mounted ca.crt`);
    }
  }

  // KEDA: same listener, same user, via a TriggerAuthentication.
  const scaled = one(objects, 'ScaledObject', (o) => o.metadata.name === 'distillery-teacher');
  const trigger = (scaled?.spec as { triggers: { metadata: Record<string, string>; authenticationRef?: { name: string } }[] } | undefined)?.triggers[0];
  if (trigger?.metadata.sasl !== KEDA_SASL['scram-sha-512']) gaps.push('ScaledObject: trigger sasl is not scram_sha512');
  if (trigger?.metadata.tls !== 'enable') gaps.push('ScaledObject: trigger tls is not enable');
  const auth = one(objects, 'TriggerAuthentication', (o) => o.metadata.name === trigger?.authenticationRef?.name);
  if (!auth) gaps.push('ScaledObject: no authenticationRef to a TriggerAuthentication');
  else {
    const refs = (auth.spec as { secretTargetRef?: KedaRef[] }).secretTargetRef ?? [];
    const envRefs = (auth.spec as { env?: KedaRef[] }).env ?? [];
    const secret = (parameter: string) => refs.find((r) => r.parameter === parameter);
    if (secret('password')?.name !== user.metadata.name || secret('password')?.key !== 'password') gaps.push('TriggerAuthentication: password not from the KafkaUser Secret');
    if (secret('ca')?.name !== caSecret || secret('ca')?.key !== 'ca.crt') gaps.push(`TriggerAuthentication: ca not from ${caSecret} ca.crt`);
    const username = envRefs.find((r) => r.parameter === 'username');
    if (username?.name !== 'KAFKA_SASL_USERNAME' || username.containerName !== 'distillery') gaps.push('TriggerAuthentication: username not from the container env KAFKA_SASL_USERNAME');
  }

  // The egress policy opens the listener's port (and not the old plaintext one).
  const egress = (one(objects, 'NetworkPolicy', (o) => o.metadata.name === 'distillery-stage-egress')?.spec as { egress: { ports: { port: number }[] }[] }).egress;
  const open = new Set(egress.flatMap((rule) => rule.ports.map((p) => p.port)));
  for (const port of ports) if (!open.has(port)) gaps.push(`NetworkPolicy: egress to Kafka port ${port} not allowed`);
  if (!ports.has(9092) && open.has(9092)) gaps.push('NetworkPolicy: egress still allows the plaintext port 9092');

  // The KafkaUser's ACLs: the topology's topics, the consuming stages' groups, the teacher's transactional ids.
  const userSpec = user.spec as { authentication?: { type: string }; authorization?: { type: string; acls: Acl[] } };
  if (userSpec.authentication?.type !== 'scram-sha-512') gaps.push('KafkaUser: authentication is not scram-sha-512');
  const acls = userSpec.authorization?.acls ?? [];
  for (const topic of Object.values(topology.topics)) {
    for (const op of ['Describe', 'Read', 'Write']) if (!aclAllows(acls, 'topic', topic.name, op)) gaps.push(`KafkaUser: no ${op} on topic ${topic.name}`);
  }
  for (const stage of topology.stages.filter((s) => s.kind === 'teacher' || s.kind === 'student')) {
    const group = consumerGroupOf(topology, stage.name);
    for (const op of ['Describe', 'Read']) if (!aclAllows(acls, 'group', group, op)) gaps.push(`KafkaUser: no ${op} on group ${group}`);
  }
  for (const teacher of topology.stages.filter((s) => s.kind === 'teacher')) {
    const images = topology.topics.images;
    for (let p = 0; p < images.partitions; p++) {
      const id = transactionalId(consumerGroupOf(topology, teacher.name), images.name, p);
      for (const op of ['Describe', 'Write']) if (!aclAllows(acls, 'transactionalId', id, op)) gaps.push(`KafkaUser: no ${op} on transactionalId ${id}`);
    }
  }
  if (!aclAllows(acls, 'cluster', undefined, 'IdempotentWrite')) gaps.push('KafkaUser: no IdempotentWrite on the cluster');
  return gaps;
}
