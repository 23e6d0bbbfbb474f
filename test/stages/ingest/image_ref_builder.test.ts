// Tests for listed object → ImageRef: unlabeled ids and sizes, labeled ground truth, unannotated labeled objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObjectInfo } from '../../../src/io/object_store.ts';
import { imageRefSchema } from '../../../src/messages/image_ref.ts';
import { buildAnnotationIndex } from '../../../src/stages/ingest/annotations.ts';
import { buildImageRef } from '../../../src/stages/ingest/image_ref_builder.ts';

const info = (key: string): ObjectInfo => ({ key, size: 1234, etag: `etag-${key}`, lastModified: new Date(0) });

const annotations = buildAnnotationIndex(
  {
    images: [{ id: 5, file_name: 'images/5.jpg', width: 64, height: 32 }],
    annotations: [{ id: 1, image_id: 5, category_id: 9, bbox: [1, 2, 3, 4] }],
    categories: [{ id: 9 }, { id: 4 }],
  },
  'c/annotations.json',
);

test('unlabeled objects are keyed by object key, sized from annotations when listed, never given ground truth', () => {
  const plain = buildImageRef(info('u/1.jpg'), { bucket: 'b', split: 'unlabeled' });
  assert.deepEqual(plain, { ok: true, ref: { v: 1, bucket: 'b', key: 'u/1.jpg', etag: 'etag-u/1.jpg', size: 1234, split: 'unlabeled', imageId: 'u/1.jpg' } });
  const listed = buildImageRef(info('c/images/5.jpg'), { bucket: 'b', split: 'unlabeled', annotations });
  assert.ok(listed.ok);
  assert.equal(listed.ref.imageId, 'c/images/5.jpg');
  assert.equal(listed.ref.width, 64);
  assert.equal(listed.ref.gt, undefined);
  const unlisted = buildImageRef(info('c/images/6.jpg'), { bucket: 'b', split: 'unlabeled', annotations });
  assert.ok(unlisted.ok, 'unlabeled images missing from the annotations are still published');
});

test('labeled objects carry the COCO id and corner-box ground truth with mapped class ids', () => {
  const out = buildImageRef(info('c/images/5.jpg'), { bucket: 'b', split: 'labeled', annotations });
  assert.ok(out.ok);
  assert.deepEqual(out.ref.gt, [{ box: [1, 2, 4, 6], classId: 1 }]);
  assert.equal(out.ref.imageId, '5');
  assert.deepEqual([out.ref.width, out.ref.height], [64, 32]);
  assert.equal(imageRefSchema.safeParse(out.ref).success, true);
});

test('a labeled or test object missing from the annotations is reported, not published', () => {
  for (const split of ['labeled', 'test'] as const) {
    const out = buildImageRef(info('c/images/7.jpg'), { bucket: 'b', split, annotations });
    assert.deepEqual(out, { ok: false, key: 'c/images/7.jpg', reason: 'unannotated', message: 'c/images/7.jpg is not in c/annotations.json' });
  }
  assert.throws(() => buildImageRef(info('x.jpg'), { bucket: 'b', split: 'labeled' }), /labeled split needs an annotation file/);
});
