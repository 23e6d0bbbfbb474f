// The student's learning-rate schedule: the from-scratch one, or a gentler one when it starts from a saved model.
import type { StudentStageOptions } from '../../topology/types.ts';
import { resolveLrSchedule, type LrSchedule } from '../../train/schedule.ts';

type ScheduleOptions = Pick<StudentStageOptions, 'learningRate' | 'warmupSteps' | 'steps' | 'initLearningRate' | 'initWarmupSteps'>;

/**
 * Warm-up then cosine over `steps` (constant when continuous). A student whose weights came from a saved model
 * (`initFrom`; a resumed run of one keeps that start) uses `initLearningRate` / `initWarmupSteps` where set: the
 * from-scratch peak can wash out what the saved model learned (docs/results.md, "A gentler schedule").
 */
export function studentSchedule(o: ScheduleOptions, startedFromModel: boolean): LrSchedule {
  const baseLr = startedFromModel ? (o.initLearningRate ?? o.learningRate) : o.learningRate;
  const warmupSteps = startedFromModel ? (o.initWarmupSteps ?? o.warmupSteps) : o.warmupSteps;
  return resolveLrSchedule({ baseLr, warmupSteps, totalSteps: o.steps, decay: o.steps > 0 ? 'cosine' : 'constant' });
}
