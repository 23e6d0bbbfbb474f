// The student's learning-rate schedule: the from-scratch one, or a gentler one when it starts from a saved model.
import type { StudentStageOptions } from '../../topology/types.ts';
import { resolveLrSchedule, type LrSchedule } from '../../train/schedule.ts';

type ScheduleOptions = Pick<StudentStageOptions, 'learningRate' | 'warmupSteps' | 'steps' | 'initLearningRate' | 'initWarmupSteps'>;

/**
 * Warm-up then cosine over `steps` (constant when continuous). A student whose weights came from a saved model
 * (`initFrom`; a resumed run of one keeps that start) uses `initLearningRate` / `initWarmupSteps` where set: a fine-tune
 * need not want the from-scratch peak (the main job's baseline-started student did best at 2e-3 of 3e-4, 1e-3 and 2e-3;
 * docs/results.md, "Batch size and the learning rate of the baseline-started student").
 */
export function studentSchedule(o: ScheduleOptions, startedFromModel: boolean): LrSchedule {
  const baseLr = startedFromModel ? (o.initLearningRate ?? o.learningRate) : o.learningRate;
  const warmupSteps = startedFromModel ? (o.initWarmupSteps ?? o.warmupSteps) : o.warmupSteps;
  return resolveLrSchedule({ baseLr, warmupSteps, totalSteps: o.steps, decay: o.steps > 0 ? 'cosine' : 'constant' });
}
