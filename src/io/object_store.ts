// The object-store interface every stage reads and writes through (local directory now, S3 later).

/** Metadata of one stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Content hash or version tag; changes whenever the object's bytes change. */
  etag: string;
  lastModified: Date;
}

export interface ListOptions {
  /** Resume after this key (exclusive); listings are in ascending key order. */
  startAfter?: string;
  /** Opaque token from a previous page. */
  continuationToken?: string;
  /** Page size; stores may return fewer. */
  maxKeys?: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Present when more objects follow; pass it back as `continuationToken`. */
  nextToken?: string;
}

export interface PutOptions {
  contentType?: string;
}

/** Thrown by `get` when the key does not exist, so callers can tell "missing" from "failed". */
export class ObjectNotFoundError extends Error {
  readonly retriable = false;
  constructor(
    readonly store: string,
    readonly key: string,
  ) {
    super(`object not found: ${key} in ${store}`);
    this.name = 'ObjectNotFoundError';
  }
}

export interface ObjectStore {
  get(key: string): Promise<Uint8Array>;
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  /** Metadata, or undefined when the key does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
  delete(key: string): Promise<void>;
  /** Human-readable location for logs, e.g. `file:///data/store` or `s3://bucket`. */
  describe(): string;
  /** Releases connections (S3's sockets); the store cannot be used afterwards. Optional: a directory holds none. */
  close?(): void | Promise<void>;
}

/** Iterates over every object under a prefix, following pagination. */
export async function* listAll(store: ObjectStore, prefix: string, options: ListOptions = {}): AsyncGenerator<ObjectInfo> {
  let token = options.continuationToken;
  for (;;) {
    const page = await store.list(prefix, { ...options, continuationToken: token });
    yield* page.objects;
    if (page.nextToken === undefined) return;
    token = page.nextToken;
  }
}

/** Joins key segments with single slashes. */
export function joinKey(...parts: string[]): string {
  return parts
    .filter((p) => p.length > 0)
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}
