// Test helpers for a real Kubernetes API server: kubectl runs, CRD installation, and the rendered manifests' types.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface K8sTestEnv {
  kubectl: string;
  kubeconfig: string;
  /** Directories of CRD files the manifests need (KEDA's, prometheus-operator's ServiceMonitor), from install.sh. */
  crdDirs: string[];
}

const HOW_TO_START =
  'run the file through scripts/test.sh (it starts a local API server), or start one and export its settings:\n' +
  '  bash scripts/k8s/install.sh && bash scripts/k8s/cluster.sh start\n' +
  '  eval "$(bash scripts/k8s/cluster.sh env)"';

/** The cluster the tests use. Missing settings fail the tests (never skip them): the test runner always sets them. */
export function k8sTestEnv(env: NodeJS.ProcessEnv = process.env): K8sTestEnv {
  const names = ['KUBECONFIG', 'DISTILLERY_KUBECTL', 'DISTILLERY_KEDA_CRDS', 'DISTILLERY_PROMETHEUS_CRDS'];
  const missing = names.filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not set: these tests need a Kubernetes API server; ${HOW_TO_START}`);
  return {
    kubectl: env.DISTILLERY_KUBECTL as string,
    kubeconfig: env.KUBECONFIG as string,
    crdDirs: [env.DISTILLERY_KEDA_CRDS as string, env.DISTILLERY_PROMETHEUS_CRDS as string],
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the test cluster; never throws on a non-zero exit (negative cases read stderr). */
export function kubectl(k8s: K8sTestEnv, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      k8s.kubectl,
      args,
      { env: { ...process.env, KUBECONFIG: k8s.kubeconfig }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: err && code === 1 && !stderr ? String(err.message) : stderr });
      },
    );
    // kubectl may exit without reading stdin (most commands never do): writing to its closed pipe then fails with
    // EPIPE, an 'error' event that would otherwise fail the test on its own. The exit code and stderr tell the outcome.
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    if (input === undefined) child.stdin?.end();
    else child.stdin?.end(input);
  });
}

/** kubectl that must succeed: its stdout, or an error carrying the command and its stderr. */
export async function kubectlOk(k8s: K8sTestEnv, args: string[], input?: string): Promise<string> {
  const result = await kubectl(k8s, args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

/**
 * Creates each CRD that the cluster lacks and waits until all are served. An existing CRD is left alone: with a
 * KUBECONFIG from the environment this may be someone's cluster, whose operators own their CRDs' versions.
 */
export async function installCrds(k8s: K8sTestEnv, files: string[]): Promise<void> {
  for (const file of files) {
    const result = await kubectl(k8s, ['create', '-f', file]);
    if (result.code !== 0 && !/AlreadyExists|already exists/.test(result.stderr)) {
      throw new Error(`kubectl create -f ${file} exited ${result.code}:\n${result.stderr}`);
    }
  }
  await kubectlOk(k8s, ['wait', '--for=condition=Established', '--timeout=60s', ...files.flatMap((f) => ['-f', f])]);
}

/** The .yaml files of a directory, sorted. */
export async function yamlFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.yaml')).sort();
  return names.map((n) => join(dir, n));
}

// ------------------------------------------------------------------------------------- rendered objects

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** One Kubernetes object as kustomize renders it; `spec` and `data` are read through the typed views below. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

export interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; emptyDir?: Record<string, unknown>; configMap?: { name: string }; secret?: { secretName: string; items?: { key: string; path: string }[] } }[];
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; effect?: string }[];
}

export interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'Job'] as const;

/** The pod template of a Deployment, StatefulSet or Job. */
export function podTemplate(object: K8sObject): PodTemplate {
  const template = object.spec?.template as PodTemplate | undefined;
  if (!template?.spec?.containers) throw new Error(`${object.kind}/${object.metadata.name} has no pod template`);
  return template;
}

/** Parses `kubectl kustomize` output (a multi-document YAML stream). */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`rendered manifests are not YAML: ${doc.errors[0].message}`);
    return doc.toJS() as K8sObject;
  });
}
