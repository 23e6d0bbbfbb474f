import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorpusOptionsError, DEFAULT_CORPUS_CONFIG, resolveCorpusOptions, type CorpusOptions } from '../../src/corpus/options.ts';

test('defaults: 300 / 200 / 3000 images, 30 % empty unlabeled images, objects 12–88 px at 128', () => {
  const { config, workers, concurrency, ifExists } = resolveCorpusOptions();
  assert.deepEqual(config, DEFAULT_CORPUS_CONFIG);
  assert.deepEqual(config.images, { labeled: 300, test: 200, unlabeled: 3000 });
  assert.equal(config.emptyShare, 0.3);
  assert.ok(workers >= 1 && concurrency >= 2 * workers);
  assert.equal(ifExists, 'reuse');
});

test('partial nested options merge with the defaults; undefined means default', () => {
  const { config, workers, concurrency } = resolveCorpusOptions({ images: { unlabeled: 10, test: undefined }, imageSize: { max: 200 }, seed: 9, workers: 0 });
  assert.deepEqual(config.images, { labeled: 300, test: 200, unlabeled: 10 });
  assert.deepEqual(config.imageSize, { min: 96, max: 200 });
  assert.equal(config.seed, 9);
  assert.equal(workers, 0);
  assert.equal(concurrency, 4);
});

test('invalid options are rejected with every offending field named', () => {
  const bad = (options: CorpusOptions, ...fields: string[]) => {
    assert.throws(
      () => resolveCorpusOptions(options),
      (err: unknown) => {
        assert.ok(err instanceof CorpusOptionsError, String(err));
        for (const f of fields) assert.ok(err.issues.some((i) => i.startsWith(`${f}:`)), `${f} not in ${JSON.stringify(err.issues)}`);
        return true;
      },
    );
  };
  bad({ images: { labeled: -1 } }, 'images.labeled');
  bad({ images: { test: 1.5 }, emptyShare: 2 }, 'images.test', 'emptyShare');
  bad({ imageSize: { min: 300, max: 200 } }, 'imageSize');
  bad({ objectSize: { max: 200 } }, 'objectSize.max');
  bad({ prefix: '/abs' }, 'prefix');
  bad({ prefix: 'a/../b' }, 'prefix');
  bad({ images: { labeled: 0, test: 0, unlabeled: 0 } }, 'images');
  bad({ seed: -1 }, 'seed');
  bad({ jpegQuality: 0 }, 'jpegQuality');
  bad({ workers: -1, concurrency: 0 }, 'workers', 'concurrency');
  bad({ ifExists: 'overwrite' as 'replace' }, 'ifExists');
  bad({ labeled: 5 } as CorpusOptions, '(root)');
});
