// Ingest's resume point in the store (`<cursorPrefix>/<stage>.json`, by default `state/ingest/<stage>.json`): the last
// listed key and running counts.
import { z } from 'zod';
import type { ObjectStore } from '../../io/object_store.ts';
import { splitSchema } from '../../messages/image_ref.ts';
import { DEFAULT_INGEST_OPTIONS } from '../../topology/defaults.ts';

export const CURSOR_VERSION = 1;

const cursorSchema = z.object({
  v: z.literal(CURSOR_VERSION),
  stage: z.string().min(1),
  /** The listing the cursor belongs to; a cursor of another prefix is not reused. */
  prefix: z.string(),
  split: splitSchema,
  /** Last key handled (published or skipped) whose page was acked; listing resumes after it. */
  lastKey: z.string(),
  published: z.number().int().min(0),
  /** Objects that could not become ImageRefs (e.g. labeled images missing from the annotation file). */
  skipped: z.number().int().min(0),
  pages: z.number().int().min(0),
  updatedAt: z.string(),
});

export type IngestCursor = z.infer<typeof cursorSchema>;

/** The cursor's key: one object per stage name under the stage's `cursorPrefix`. */
export function cursorKey(stageName: string, cursorPrefix: string = DEFAULT_INGEST_OPTIONS.cursorPrefix): string {
  if (stageName.length === 0 || /[/\\]/.test(stageName)) throw new Error(`stage name ${JSON.stringify(stageName)} cannot name a cursor object`);
  const prefix = cursorPrefix.replace(/\/+$/, '');
  if (prefix.length === 0) throw new Error('an ingest cursorPrefix must name a store prefix (it is empty)');
  return `${prefix}/${stageName}.json`;
}

/** The stored cursor, or undefined when there is none. A cursor that does not parse is an error, not a fresh start. */
export async function readCursor(store: ObjectStore, stageName: string, cursorPrefix?: string): Promise<IngestCursor | undefined> {
  const key = cursorKey(stageName, cursorPrefix);
  if ((await store.head(key)) === undefined) return undefined;
  const text = new TextDecoder().decode(await store.get(key));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${key}: ingest cursor is not JSON (delete it to start over): ${(err as Error).message}`, { cause: err });
  }
  const parsed = cursorSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${key}: invalid ingest cursor (delete it to start over): ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export async function writeCursor(store: ObjectStore, cursor: IngestCursor, cursorPrefix?: string): Promise<void> {
  await store.put(cursorKey(cursor.stage, cursorPrefix), `${JSON.stringify(cursor, null, 2)}\n`, { contentType: 'application/json' });
}
