// COCO category ids ↔ the model's 0-based contiguous class indices (sorted category-id order); shared with student/eval.
import type { CocoCategory } from '../../eval/coco_types.ts';

/** Both directions of the mapping: `classOf.get(categoryId)` and `categoryIds[classIndex]`. */
export interface CategoryIndex {
  /** COCO category id → class index. */
  classOf: ReadonlyMap<number, number>;
  /** Class index → COCO category id, ascending. */
  categoryIds: readonly number[];
}

/**
 * Maps COCO category ids to class indices 0…K−1 in ascending id order, so ids {1, 3, 7} become 0, 1, 2 whatever
 * order the file lists them in. Every stage that turns class indices back into COCO ids must use this.
 * Throws on duplicate ids (a COCO file with them is ambiguous).
 */
export function categoryIndex(categories: readonly Pick<CocoCategory, 'id'>[]): CategoryIndex {
  const categoryIds = categories.map((c) => c.id).sort((a, b) => a - b);
  categoryIds.forEach((id, i) => {
    if (i > 0 && categoryIds[i - 1] === id) throw new Error(`duplicate COCO category id ${id}`);
  });
  return { classOf: new Map(categoryIds.map((id, i) => [id, i])), categoryIds };
}
