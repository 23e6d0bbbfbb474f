// Object store over an S3 bucket (AWS S3 or any S3-compatible server): what the distributed stages share.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type BucketLocationConstraint,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pLimit, { type LimitFunction } from 'p-limit';
import { ObjectNotFoundError, type ListOptions, type ListPage, type ObjectInfo, type ObjectStore, type PutOptions } from './object_store.ts';

const MIB = 1024 * 1024;
/** S3 refuses multipart parts below 5 MiB (except the last). */
export const MIN_PART_SIZE = 5 * MIB;
/** S3's hard cap on one ListObjectsV2 page. */
const MAX_LIST_KEYS = 1000;

export interface S3StoreOptions {
  bucket: string;
  /** Signing region; S3-compatible servers mostly accept any (`us-east-1`). */
  region: string;
  /** Custom endpoint (`http://127.0.0.1:7070`, MinIO, versitygw …); unset = AWS's endpoint for the region. */
  endpoint?: string;
  /** Path-style URLs (`host/bucket/key`); S3-compatible servers on a bare host:port need it. Default: true with a custom endpoint. */
  forcePathStyle?: boolean;
  /**
   * Explicit credentials, or a provider. Unset (the normal case) = the SDK's default chain: env
   * (AWS_ACCESS_KEY_ID/…), shared config/credentials files (AWS_PROFILE), web identity (IRSA), ECS/EC2 metadata.
   */
  credentials?: S3ClientConfig['credentials'];
  /**
   * PEM certificate(s) of a CA to trust for an https endpoint, on top of Node's own roots (a private CA, like the
   * one `services.sh` makes for the secured S3 server). openStore reads it from the file S3_CA_FILE names.
   */
  ca?: string;
  /** Requests in flight per store (a GET counts until its body is read). Default 16. */
  maxConcurrency?: number;
  /** Tries per request, first included, for the SDK's retry strategy. Default 5. */
  maxAttempts?: number;
  /** SDK retry mode. Default 'adaptive' (standard backoff plus client-side rate limiting once S3 throttles). */
  retryMode?: 'standard' | 'adaptive';
  /** Bodies larger than this go up as a multipart upload. Default 8 MiB. */
  multipartThreshold?: number;
  /** Multipart part size (≥ 5 MiB). Default 8 MiB. */
  partSize?: number;
  /** Parts of one multipart upload in flight at once (each also takes a slot of `maxConcurrency`). Default 4. */
  uploadQueueSize?: number;
  /** TCP connect timeout. Default 5 s. */
  connectionTimeoutMs?: number;
  /** A socket idle this long (server stalled mid-request/response) fails the attempt, which is then retried. Default 60 s. */
  socketTimeoutMs?: number;
  /**
   * 'when-supported' (default, the SDK's): CRC32 on every upload and verified on download, end-to-end integrity.
   * 'when-required': only where S3 demands one, for older S3-compatible servers that reject the newer checksum
   * headers (versitygw 1.8 accepts them).
   */
  checksums?: 'when-supported' | 'when-required';
  /** Use this client instead of building one (tests); the options above that configure a client are then ignored. */
  client?: S3Client;
}

export interface ResolvedS3StoreOptions {
  bucket: string;
  region: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  maxConcurrency: number;
  maxAttempts: number;
  retryMode: 'standard' | 'adaptive';
  multipartThreshold: number;
  partSize: number;
  uploadQueueSize: number;
  connectionTimeoutMs: number;
  socketTimeoutMs: number;
  checksums: 'when-supported' | 'when-required';
}

/** Fills in the defaults and checks the numbers, so a bad setting fails at start-up and not mid-run. */
export function resolveS3StoreOptions(options: S3StoreOptions): ResolvedS3StoreOptions {
  const resolved: ResolvedS3StoreOptions = {
    bucket: options.bucket,
    region: options.region,
    endpoint: options.endpoint === undefined || options.endpoint === '' ? undefined : options.endpoint,
    forcePathStyle: options.forcePathStyle ?? (options.endpoint !== undefined && options.endpoint !== ''),
    maxConcurrency: options.maxConcurrency ?? 16,
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: options.retryMode ?? 'adaptive',
    multipartThreshold: options.multipartThreshold ?? 8 * MIB,
    partSize: options.partSize ?? 8 * MIB,
    uploadQueueSize: options.uploadQueueSize ?? 4,
    connectionTimeoutMs: options.connectionTimeoutMs ?? 5000,
    socketTimeoutMs: options.socketTimeoutMs ?? 60_000,
    checksums: options.checksums ?? 'when-supported',
  };
  if (resolved.bucket.length === 0) throw new Error('S3Store: bucket is empty');
  if (resolved.region.length === 0) throw new Error('S3Store: region is empty');
  if (resolved.endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(resolved.endpoint)) {
    throw new Error(`S3Store: endpoint must be an http(s) URL, got ${JSON.stringify(redactUrl(resolved.endpoint))}`);
  }
  for (const name of ['maxConcurrency', 'maxAttempts', 'uploadQueueSize'] as const) {
    if (!Number.isInteger(resolved[name]) || resolved[name] < 1) throw new Error(`S3Store: ${name} must be an integer ≥ 1, got ${resolved[name]}`);
  }
  if (!Number.isInteger(resolved.partSize) || resolved.partSize < MIN_PART_SIZE) {
    throw new Error(`S3Store: partSize must be ≥ ${MIN_PART_SIZE} bytes (S3's minimum), got ${resolved.partSize}`);
  }
  if (!(resolved.multipartThreshold >= resolved.partSize)) {
    throw new Error(`S3Store: multipartThreshold (${resolved.multipartThreshold}) must be ≥ partSize (${resolved.partSize})`);
  }
  return resolved;
}

/** Which S3 operation failed (for messages and for callers that branch on it). */
export type S3Operation = 'get' | 'put' | 'head' | 'list' | 'delete' | 'ensureBucket';

/**
 * An S3 call failed after the SDK's retries. Carries the operation, bucket and key, the S3 error code and HTTP
 * status, and whether the failure is transient (`retriable`, read by our retry helpers). Never credentials: the
 * message is built from the server's error code and message only, and the SDK error is kept as `cause`.
 */
export class S3StoreError extends Error {
  readonly retriable: boolean;
  readonly code: string;
  readonly statusCode: number | undefined;

  constructor(
    readonly operation: S3Operation,
    readonly location: string,
    readonly bucket: string,
    readonly key: string | undefined,
    cause: unknown,
  ) {
    const info = describeCause(cause);
    const target = key === undefined ? location : `${location}/${key}`;
    const status = info.statusCode === undefined ? '' : ` (HTTP ${info.statusCode})`;
    const hint = hintFor(info.code);
    const message = hint ? `${info.message.replace(/\.+$/, '')}. ${hint}` : info.message;
    super(`S3 ${operation} ${target} failed: ${info.code}${status}: ${message}`, { cause });
    this.name = 'S3StoreError';
    this.code = info.code;
    this.statusCode = info.statusCode;
    this.retriable = info.retriable;
  }
}

export class S3Store implements ObjectStore {
  readonly options: ResolvedS3StoreOptions;
  /** The SDK client (exposed so tests and tools can add middleware or issue other commands). */
  readonly client: S3Client;
  private readonly limit: LimitFunction;
  private readonly location: string;
  private readonly ownsClient: boolean;
  /** Some request of this store has succeeded, so credentials and bucket are known good (see head()). */
  private confirmed = false;

  constructor(options: S3StoreOptions) {
    this.options = resolveS3StoreOptions(options);
    this.location = describeLocation(this.options);
    this.limit = pLimit(this.options.maxConcurrency);
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? createS3Client(this.options, options.credentials, options.ca);
    // Every command but GetObject takes a slot for its whole life, retries and backoff included; GetObject takes
    // its slot in get() so the slot also covers reading the body, which happens after the middleware returns.
    // Sitting at 'initialize' means multipart parts sent by lib-storage's Upload are bounded too.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await (context.commandName === 'GetObjectCommand' ? next(args) : this.limit(() => next(args)));
        this.confirmed = true;
        return out;
      },
      { step: 'initialize', name: 'distilleryConcurrencyLimit', override: true },
    );
  }

  /** `s3://bucket` on AWS; with a custom endpoint the bucket's URL there, so `${describe()}/${key}` names the object. */
  describe(): string {
    return this.location;
  }

  async get(key: string): Promise<Uint8Array> {
    checkKey(key);
    return this.limit(async () => {
      // The SDK retries the request, but a connection dropped while streaming the body surfaces only when we read
      // it, after the SDK is done; such reads are retried here with the same backoff shape (full jitter).
      for (let attempt = 1; ; attempt++) {
        // Failures of send() itself were already retried by the SDK; only body reads are retried here.
        let readingBody = false;
        try {
          const out = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
          if (out.Body === undefined) return new Uint8Array(0);
          readingBody = true;
          const bytes = await out.Body.transformToByteArray();
          if (out.ContentLength !== undefined && bytes.byteLength !== out.ContentLength) {
            throw Object.assign(new Error(`body truncated: got ${bytes.byteLength} of ${out.ContentLength} bytes`), { code: 'ETRUNCATED' });
          }
          return bytes;
        } catch (err) {
          if (isNotFound(err)) throw new ObjectNotFoundError(this.location, key);
          // A checksum mismatch (the SDK verifies downloads) is a corrupted transfer: fetching again is the fix.
          const transient = isNetworkError(err) || (err instanceof Error && /checksum mismatch/i.test(err.message));
          if (readingBody && transient && attempt < this.options.maxAttempts) {
            await sleep(Math.random() * Math.min(20_000, 100 * 2 ** attempt));
            continue;
          }
          throw new S3StoreError('get', this.location, this.options.bucket, key, err);
        }
      }
    });
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    checkKey(key);
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const params = { Bucket: this.options.bucket, Key: key, Body: bytes, ContentType: options.contentType };
    try {
      if (bytes.byteLength <= this.options.multipartThreshold) {
        await this.client.send(new PutObjectCommand({ ...params, ContentLength: bytes.byteLength }));
        return;
      }
      // Upload aborts the multipart upload on failure (leavePartsOnError false), so no orphaned parts are billed.
      const upload = new Upload({
        client: this.client,
        params,
        partSize: this.options.partSize,
        queueSize: this.options.uploadQueueSize,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      throw new S3StoreError('put', this.location, this.options.bucket, key, err);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, etag: unquote(out.ETag), lastModified: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (!isNotFound(err)) throw new S3StoreError('head', this.location, this.options.bucket, key, err);
    }
    // A HEAD response has no body, so its 404 cannot say what is missing: the key, the bucket (NoSuchBucket), or
    // — on versitygw — the caller's access key. Until some request has succeeded, a listing (which does carry an
    // error body) tells them apart: once per store, so a typo in the config is not read as "no such object".
    if (!this.confirmed) {
      await this.list(key, { maxKeys: 1 }).catch((err: unknown) => {
        throw new S3StoreError('head', this.location, this.options.bucket, key, err instanceof S3StoreError ? err.cause : err);
      });
    }
    return undefined;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    try {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.options.bucket,
          Prefix: prefix === '' ? undefined : prefix,
          // S3 ignores StartAfter once a continuation token is given: the token already encodes the position.
          StartAfter: options.startAfter === '' ? undefined : options.startAfter,
          ContinuationToken: options.continuationToken,
          MaxKeys: Math.min(MAX_LIST_KEYS, Math.max(1, options.maxKeys ?? MAX_LIST_KEYS)),
        }),
      );
      const objects: ObjectInfo[] = (out.Contents ?? [])
        .filter((o) => o.Key !== undefined)
        .map((o) => ({ key: o.Key as string, size: o.Size ?? 0, etag: unquote(o.ETag), lastModified: o.LastModified ?? new Date(0) }));
      return out.IsTruncated === true && out.NextContinuationToken !== undefined ? { objects, nextToken: out.NextContinuationToken } : { objects };
    } catch (err) {
      throw new S3StoreError('list', this.location, this.options.bucket, prefix === '' ? undefined : prefix, err);
    }
  }

  /** Deleting a missing key succeeds, as S3 itself does. */
  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw new S3StoreError('delete', this.location, this.options.bucket, key, err);
    }
  }

  /**
   * Creates the bucket when it does not exist (first use, tests). HeadBucket first, so a role allowed to use but
   * not to create the bucket still passes when it exists. Resolves to true when it created the bucket.
   */
  async ensureBucket(): Promise<boolean> {
    const { bucket, region } = this.options;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return false;
    } catch (err) {
      if (!isMissingBucket(err)) throw new S3StoreError('ensureBucket', this.location, bucket, undefined, err);
    }
    try {
      // us-east-1 is the default location and AWS rejects it spelled out.
      const configuration = region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint };
      await this.client.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: configuration }));
      return true;
    } catch (err) {
      // Another process created it between our HeadBucket and CreateBucket.
      if (err instanceof S3ServiceException && err.name === 'BucketAlreadyOwnedByYou') return false;
      throw new S3StoreError('ensureBucket', this.location, bucket, undefined, err);
    }
  }

  /** Closes the client's sockets (a store built around a caller's client leaves it open). */
  close(): void {
    if (this.ownsClient) this.client.destroy();
  }
}

/**
 * The SDK's retry strategy does the retrying: 'standard' retries throttling (429, SlowDown…), 5xx and transient
 * network errors (ECONNRESET, timeouts) with exponential backoff and full jitter (base 100 ms, 500 ms after a
 * throttle, cap 20 s), up to
 * `maxAttempts` tries, drawing on a retry-token bucket so a dead endpoint is not hammered; 'adaptive' adds a
 * client-side token-bucket rate limiter that slows all requests of this client after a throttling response.
 */
function createS3Client(options: ResolvedS3StoreOptions, credentials: S3ClientConfig['credentials'], ca: string | undefined): S3Client {
  // The SDK warns on Node < 22 about releases after January 2027; the project targets Node.js 20 (package.json engines) and pins
  // the SDK version in package.json, so the warning would only confuse users of every stage process.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const agent = { keepAlive: true, maxSockets: Math.max(50, options.maxConcurrency * 2) };
  return new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials,
    maxAttempts: options.maxAttempts,
    retryMode: options.retryMode,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
      httpAgent: new HttpAgent(agent),
      // An agent's `ca` replaces Node's roots: keep them and add the private CA.
      httpsAgent: new HttpsAgent(ca === undefined ? agent : { ...agent, ca: [...rootCertificates, ca] }),
    },
    requestChecksumCalculation: options.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: options.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  });
}

function describeLocation(options: ResolvedS3StoreOptions): string {
  if (options.endpoint === undefined) return `s3://${options.bucket}`;
  // Only protocol and host: an endpoint URL could carry user info, which must not reach logs.
  const url = new URL(options.endpoint);
  return options.forcePathStyle ? `${url.protocol}//${url.host}/${options.bucket}` : `${url.protocol}//${options.bucket}.${url.host}`;
}

function redactUrl(text: string): string {
  return text.replace(/\/\/[^@/]*@/, '//***@');
}

function checkKey(key: string): void {
  if (key.length === 0) throw new Error('invalid object key "": S3 keys are non-empty');
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

/**
 * A missing key: NoSuchKey, or 'NotFound' (the SDK's name for a bodiless 404, i.e. HEAD). Not any 404: a missing
 * bucket must not read as a missing object, and versitygw answers an unknown access key with 404 XAdminUserNotFound.
 */
function isNotFound(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.name === 'NotFound');
}

function isMissingBucket(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchBucket' || err.name === 'NotFound' || statusOf(err) === 404);
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ETRUNCATED', 'ERR_STREAM_PREMATURE_CLOSE']);

function isNetworkError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const name = (err as { name?: unknown }).name;
  const message = (err as { message?: unknown }).message;
  return name === 'TimeoutError' || (typeof message === 'string' && /^(aborted|socket hang up)$/i.test(message));
}

const THROTTLING_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests', 'RequestThrottled']);
// XAdminUserNotFound: versitygw's 404 for an access key it does not know (AWS says 403 InvalidAccessKeyId).
const CREDENTIAL_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'ExpiredToken', 'InvalidToken', 'AuthorizationHeaderMalformed', 'XAdminUserNotFound']);

interface CauseInfo {
  code: string;
  statusCode: number | undefined;
  message: string;
  retriable: boolean;
}

function describeCause(err: unknown): CauseInfo {
  if (err instanceof S3ServiceException) {
    const statusCode = statusOf(err);
    const retriable = THROTTLING_CODES.has(err.name) || statusCode === 429 || (statusCode !== undefined && statusCode >= 500) || err.$retryable !== undefined;
    // Errors without a body (HEAD) come back as Unknown/UnknownError; the status is then all there is to say.
    const bodiless = err.name === 'Unknown' || err.name === 'UnknownError';
    const code = bodiless ? (statusCode === 403 ? 'Forbidden' : `HTTP${statusCode ?? ''}`) : err.name;
    const message = bodiless || !err.message || err.message === 'UnknownError' ? '(no error details in the response)' : err.message;
    return { code, statusCode, message, retriable };
  }
  if (err instanceof Error) {
    const rawCode = (err as { code?: unknown }).code;
    const code = typeof rawCode === 'string' ? rawCode : err.name;
    const statusCode = statusOf(err);
    const retriable = isNetworkError(err) || (statusCode !== undefined && statusCode >= 500);
    return { code, statusCode, message: err.message, retriable };
  }
  return { code: 'Error', statusCode: undefined, message: String(err), retriable: false };
}

function hintFor(code: string): string | undefined {
  if (CREDENTIAL_CODES.has(code)) {
    return 'Check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the pod role), the region and the bucket policy';
  }
  if (code === 'CredentialsProviderError') return 'No AWS credentials found: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a web identity (IRSA)';
  if (code === 'NoSuchBucket') return 'Create the bucket first (S3Store.ensureBucket) or fix config.store.bucket';
  if (code === 'ECONNREFUSED') return 'Is the S3 endpoint up? (bash scripts/services/services.sh status)';
  return undefined;
}
