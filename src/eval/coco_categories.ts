// COCO category ids ↔ 0-based detector class indices (class k = the k-th category id in ascending order).
import type { CocoCategory } from './coco_types.ts';

export interface CategoryMap {
  /** Class index → COCO category id, ascending. */
  categoryIds: readonly number[];
  /** Class index → category name (the id as text when the file has none). */
  names: readonly string[];
  numClasses: number;
  /** COCO category id → class index; throws for an id that is not a category. */
  classOf(categoryId: number): number;
}

/**
 * Builds the mapping from a COCO `categories` list. Sorting by id (not file order) makes the mapping
 * the same for every split of a dataset and for files written by other tools.
 */
export function categoryMap(categories: readonly CocoCategory[]): CategoryMap {
  if (categories.length === 0) throw new Error('COCO file has no categories: cannot map classes');
  const sorted = [...categories].sort((a, b) => a.id - b.id);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].id === sorted[i - 1].id) throw new Error(`duplicate COCO category id ${sorted[i].id}`);
  }
  const index = new Map(sorted.map((c, i) => [c.id, i]));
  return {
    categoryIds: sorted.map((c) => c.id),
    names: sorted.map((c) => c.name ?? String(c.id)),
    numClasses: sorted.length,
    classOf(categoryId: number): number {
      const k = index.get(categoryId);
      if (k === undefined) throw new RangeError(`category id ${categoryId} is not one of [${sorted.map((c) => c.id).join(', ')}]`);
      return k;
    },
  };
}

/** True when two maps assign the same category ids to the same class indices (e.g. labeled and test splits). */
export function sameCategories(a: CategoryMap, b: CategoryMap): boolean {
  return a.categoryIds.length === b.categoryIds.length && a.categoryIds.every((id, i) => id === b.categoryIds[i]);
}
