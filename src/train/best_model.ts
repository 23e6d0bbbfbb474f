// `<checkpoint prefix>/best/`: the model with the highest test AP so far and its card, replaced so a reader never sees half of one.
import { joinKey, listAll, type ListOptions, type ObjectStore, type PutOptions } from '../io/object_store.ts';
import type { Detector } from '../model/detector.ts';
import { MODEL_CARD_FILE, parseModelCard, type ModelCard } from '../model/model_card.ts';
import { saveDetector } from '../model/store_io.ts';

export const BEST_DIR = 'best';

/**
 * Layout: `best/step-<n>-shard1of1.bin` (weights, named by step), `best/model-card.json`, then `best/model.json`
 * (the manifest, pointing at its step's shards), written last. model.json is one object put, so a reader sees the
 * old model or the new one, never a mix; the previous step's shards are kept for readers that loaded the old
 * model.json a moment ago, older ones are deleted. Returns the folder key.
 */
export async function saveBestModel(store: ObjectStore, checkpointPrefix: string, detector: Detector, card: ModelCard): Promise<string> {
  const dir = joinKey(checkpointPrefix, BEST_DIR);
  const previous = await readBestCard(store, checkpointPrefix).catch(() => undefined);
  const shardPrefix = `step-${card.source.step}`;
  // saveDetector writes the shards, then model.json; the card goes in between so the manifest stays the last write.
  const cardFirst = new BeforeWrite(store, joinKey(dir, 'model.json'), () => store.put(joinKey(dir, MODEL_CARD_FILE), JSON.stringify(card, null, 2), { contentType: 'application/json' }));
  await saveDetector(detector, cardFirst, dir, { step: card.source.step }, { shardPrefix });
  const keep = new Set([shardPrefix, previous === undefined ? '' : `step-${previous.source.step}`]);
  for await (const obj of listAll(store, `${dir}/step-`)) {
    const m = /\/(step-\d+)-shard\d+of\d+\.bin$/.exec(obj.key);
    if (m !== null && !keep.has(m[1])) await store.delete(obj.key);
  }
  return dir;
}

/** The card of the current best model, or undefined when none was promoted yet. */
export async function readBestCard(store: ObjectStore, checkpointPrefix: string): Promise<ModelCard | undefined> {
  const key = joinKey(checkpointPrefix, BEST_DIR, MODEL_CARD_FILE);
  if ((await store.head(key)) === undefined) return undefined;
  return parseModelCard(JSON.parse(new TextDecoder().decode(await store.get(key))), `${store.describe()}/${key}`);
}

/** Delegates to a store, running `before` once just ahead of the first put of `key`. */
class BeforeWrite implements ObjectStore {
  private pending = true;
  constructor(
    private readonly store: ObjectStore,
    private readonly key: string,
    private readonly before: () => Promise<void>,
  ) {}
  async put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void> {
    if (key === this.key && this.pending) {
      await this.before();
      this.pending = false;
    }
    await this.store.put(key, body, options);
  }
  get = (key: string): Promise<Uint8Array> => this.store.get(key);
  head = (key: string): ReturnType<ObjectStore['head']> => this.store.head(key);
  list = (prefix: string, options?: ListOptions): ReturnType<ObjectStore['list']> => this.store.list(prefix, options);
  delete = (key: string): Promise<void> => this.store.delete(key);
  describe = (): string => this.store.describe();
}
