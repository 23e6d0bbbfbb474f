// After each rolling evaluation: promote the student to `<checkpoint prefix>/best/` when its test AP beats every earlier one.
import type { CategoryMap } from '../../eval/coco_categories.ts';
import type { ObjectStore } from '../../io/object_store.ts';
import type { Detector } from '../../model/detector.ts';
import { modelCost } from '../../model/flops.ts';
import { buildModelCard, type TeacherLineage } from '../../model/model_card.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import { readBestCard, saveBestModel } from '../../train/best_model.ts';
import type { EvalRecord } from '../../train/history.ts';
import type { ObjectiveConfig } from '../../train/objective.ts';
import type { Logger } from '../../util/logger.ts';

export interface BestPromoterOptions {
  store: ObjectStore;
  checkpointPrefix: string;
  thresholds: ThresholdConfig;
  loss: ObjectiveConfig;
  evalAnnotations: string;
  categories: CategoryMap | undefined;
  logger: Logger;
}

export class BestPromoter {
  /** AP of the current best; read from best/model-card.json on first use, so a resumed run keeps its best. */
  private bestAp: number | undefined;

  constructor(private readonly o: BestPromoterOptions) {}

  /** Saves `detector` as best/ when `record.AP` beats the best so far; true when it did. */
  async consider(record: EvalRecord, detector: Detector, lineage: { offsets: Record<string, string>; teachers: TeacherLineage[]; initFrom?: string }): Promise<boolean> {
    if (this.bestAp === undefined) {
      const card = await readBestCard(this.o.store, this.o.checkpointPrefix);
      this.bestAp = card?.evaluation?.AP ?? -Infinity;
    }
    if (!(record.AP > this.bestAp)) return false;
    const card = buildModelCard({
      format: 'layers-model',
      detector: detector.config,
      cost: modelCost(detector.model),
      checkpoint: `${this.o.store.describe().replace(/\/+$/, '')}/${this.o.checkpointPrefix}`,
      step: record.step,
      teachers: lineage.teachers,
      initFrom: lineage.initFrom,
      thresholds: this.o.thresholds,
      loss: this.o.loss,
      offsets: lineage.offsets,
      evaluation: { ...record, annotations: this.o.evalAnnotations },
      categories: this.o.categories,
    });
    const dir = await saveBestModel(this.o.store, this.o.checkpointPrefix, detector, card);
    this.o.logger.info({ step: record.step, AP: record.AP, previous: Number.isFinite(this.bestAp) ? this.bestAp : null, dir }, 'best model promoted');
    this.bestAp = record.AP;
    return true;
  }
}
