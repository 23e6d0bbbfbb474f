// Test helpers for the real S3 server: environment, a fresh bucket per test file, and a fault-injecting proxy.
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AbortMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { S3Store, type S3StoreOptions } from '../../src/io/s3_store.ts';

export interface S3TestEnv {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const HOW_TO_START =
  'start the services and export their settings:\n' +
  '  bash scripts/services/services.sh start\n' +
  '  eval "$(bash scripts/services/services.sh env)"\n' +
  '(or point S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY at any S3-compatible server)';

/** The S3 server the tests use. Missing settings fail the tests (never skip them): the test runner always sets them. */
export function s3TestEnv(env: NodeJS.ProcessEnv = process.env): S3TestEnv {
  const missing = ['S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not set: these tests need a real S3 server; ${HOW_TO_START}`);
  return {
    endpoint: env.S3_ENDPOINT as string,
    region: env.AWS_REGION || 'us-east-1',
    accessKeyId: env.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
  };
}

/** `distillery-test-<hex>`: unique per call, within S3's naming rules. */
export function uniqueBucketName(prefix = 'distillery-test'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every object, aborts unfinished multipart uploads, then deletes the bucket. Missing bucket = done. */
export async function emptyAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  const limit = pLimit(8);
  try {
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      await Promise.all((page.Contents ?? []).map((o) => limit(() => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key })))));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    await Promise.all(
      (uploads.Uploads ?? []).map((u) => limit(() => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })))),
    );
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if ((err as { name?: unknown }).name === 'NoSuchBucket') return;
    throw err;
  }
}

export interface TestBucket {
  readonly env: S3TestEnv;
  readonly name: string;
  /** A store on the bucket (credentials from the default chain, i.e. the environment); closed after the file. */
  store(options?: Partial<S3StoreOptions>): S3Store;
}

/**
 * Registers before/after hooks for the calling test file: a fresh bucket created before its tests, emptied and
 * deleted after them. Without S3_ENDPOINT every test of the file fails with how to start the services.
 */
export function useTestBucket(): TestBucket {
  let state: { env: S3TestEnv; name: string; admin: S3Store } | undefined;
  const stores: S3Store[] = [];
  const ready = (): { env: S3TestEnv; name: string; admin: S3Store } => {
    if (state === undefined) throw new Error('test bucket not created (before hook did not run or failed)');
    return state;
  };
  before(async () => {
    const env = s3TestEnv();
    const name = uniqueBucketName();
    const admin = new S3Store({ bucket: name, region: env.region, endpoint: env.endpoint, forcePathStyle: true });
    await admin.ensureBucket();
    state = { env, name, admin };
  });
  after(async () => {
    for (const s of stores) s.close();
    if (state === undefined) return;
    await emptyAndDeleteBucket(state.admin.client, state.name);
    state.admin.close();
  });
  return {
    get env() {
      return ready().env;
    },
    get name() {
      return ready().name;
    },
    store(options: Partial<S3StoreOptions> = {}): S3Store {
      const { env, name } = ready();
      const store = new S3Store({ bucket: name, region: env.region, endpoint: env.endpoint, forcePathStyle: true, ...options });
      stores.push(store);
      return store;
    },
  };
}

/** What the proxy does with one request. */
export type Fault =
  | { kind: 'pass' }
  /** Answer with an S3-style XML error instead of forwarding. */
  | { kind: 'error'; status: number; code: string }
  /** Forward, then send the headers and half the body and drop the connection. */
  | { kind: 'cut-body' }
  /** Drop the connection without answering. */
  | { kind: 'reset' }
  /** Hold the request this long before forwarding it (a hung server, as the client sees it). */
  | { kind: 'delay'; ms: number };

export interface ProxiedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: use as the store's endpoint. */
  readonly endpoint: string;
  readonly requests: ProxiedRequest[];
  /** Most requests in flight at once since the last reset (arrival → response finished). */
  readonly peakInFlight: number;
  /** Decides the fault per request (default: pass everything). */
  setFaults(decide: (request: ProxiedRequest, index: number) => Fault): void;
  reset(): void;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of the S3 server that can fail chosen requests and counts concurrency. Headers go through
 * untouched (Host included), so SigV4 signatures made for the proxy's address still verify at the server.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  let decide: (request: ProxiedRequest, index: number) => Fault = () => ({ kind: 'pass' });
  let requests: ProxiedRequest[] = [];
  let inFlight = 0;
  let peak = 0;

  const server = http.createServer((req, res) => {
    const request: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/' };
    const fault = decide(request, requests.length);
    requests.push(request);
    inFlight++;
    peak = Math.max(peak, inFlight);
    let done = false;
    const finish = (): void => {
      if (!done) inFlight--;
      done = true;
    };
    res.on('finish', finish);
    res.on('close', finish);

    if (fault.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault.kind === 'error') {
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message></Error>`;
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (fault.kind === 'delay') {
      req.pause();
      const timer = setTimeout(() => forward(req, res, { kind: 'pass' }), fault.ms);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    forward(req, res, fault);
  });

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, fault: { kind: 'pass' } | { kind: 'cut-body' }): void => {
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        if (fault.kind === 'pass') {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
        });
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get peakInFlight() {
      return peak;
    },
    setFaults(fn) {
      decide = fn;
    },
    reset() {
      requests = [];
      peak = inFlight;
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
