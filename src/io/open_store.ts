// Builds the object store a topology's `config.store` names: one factory for the embedded runner and stage processes.
import { readFileSync } from 'node:fs';
import type { StoreConfig } from '../topology/types.ts';
import { LocalStore } from './local_store.ts';
import type { ObjectStore } from './object_store.ts';
import { S3Store, type S3StoreOptions } from './s3_store.ts';

/** Client tuning that is not part of the topology (the location, region and addressing are). */
export type S3Tuning = Omit<S3StoreOptions, 'bucket' | 'region' | 'endpoint' | 'forcePathStyle'>;

export interface OpenStoreOptions {
  /** Applied when the config is an S3 store (concurrency, retries, multipart sizes, credentials for tests). */
  s3?: S3Tuning;
}

/**
 * A LocalStore rooted at `config.root` (as given: relative roots resolve against the working directory, as the
 * embedded runner always did), or an S3Store on the configured bucket with credentials from the default AWS chain.
 * Opening does no I/O; the first request reports an unreachable endpoint or missing bucket.
 */
export function openStore(config: Extract<StoreConfig, { kind: 'local' }>, options?: OpenStoreOptions): LocalStore;
export function openStore(config: Extract<StoreConfig, { kind: 's3' }>, options?: OpenStoreOptions): S3Store;
export function openStore(config: StoreConfig, options?: OpenStoreOptions): ObjectStore;
export function openStore(config: StoreConfig, options: OpenStoreOptions = {}): ObjectStore {
  switch (config.kind) {
    case 'local':
      return new LocalStore({ root: config.root });
    case 's3':
      return new S3Store({
        ...options.s3,
        bucket: config.bucket,
        region: config.region,
        endpoint: config.endpoint,
        forcePathStyle: config.forcePathStyle,
        ...caFromEnv(),
      });
  }
}

/** S3_CA_FILE: a PEM file of a private CA the S3 endpoint's certificate is signed by (NODE_EXTRA_CA_CERTS works too). */
function caFromEnv(env: NodeJS.ProcessEnv = process.env): { ca?: string } {
  const file = env.S3_CA_FILE;
  if (file === undefined || file === '') return {};
  try {
    return { ca: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new Error(`S3_CA_FILE=${file}: cannot read the CA certificate: ${(err as Error).message}`, { cause: err });
  }
}
