// Learning-rate schedule: linear warm-up, then cosine decay to a floor or a constant rate.

export type LrDecay = 'cosine' | 'constant';

export interface LrSchedule {
  baseLr: number;
  /** Steps of linear warm-up from baseLr / warmupSteps to baseLr (0 = none). */
  warmupSteps: number;
  /** Length of the whole run; cosine decay reaches its floor at this step. 0 = open-ended (constant only). */
  totalSteps: number;
  decay: LrDecay;
  /** Cosine floor as a share of baseLr. */
  finalLrRatio: number;
}

export type LrScheduleOptions = Partial<LrSchedule> & { baseLr: number };

/** Fills defaults (no warm-up, cosine to 0 when totalSteps is set, else constant) and validates. */
export function resolveLrSchedule(options: LrScheduleOptions): LrSchedule {
  const totalSteps = options.totalSteps ?? 0;
  const s: LrSchedule = {
    baseLr: options.baseLr,
    warmupSteps: options.warmupSteps ?? 0,
    totalSteps,
    decay: options.decay ?? (totalSteps > 0 ? 'cosine' : 'constant'),
    finalLrRatio: options.finalLrRatio ?? 0,
  };
  if (!(Number.isFinite(s.baseLr) && s.baseLr > 0)) throw new RangeError(`learning rate must be > 0, got ${s.baseLr}`);
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0) throw new RangeError(`warmupSteps must be an integer >= 0, got ${s.warmupSteps}`);
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 0) throw new RangeError(`totalSteps must be an integer >= 0, got ${s.totalSteps}`);
  if (!(s.finalLrRatio >= 0 && s.finalLrRatio <= 1)) throw new RangeError(`finalLrRatio must be in [0, 1], got ${s.finalLrRatio}`);
  if (s.decay !== 'cosine' && s.decay !== 'constant') throw new RangeError(`decay must be 'cosine' or 'constant', got '${String(s.decay)}'`);
  if (s.decay === 'cosine' && s.totalSteps === 0) throw new RangeError('cosine decay needs totalSteps > 0 (use constant decay for open-ended training)');
  return s;
}

/**
 * The learning rate of the step that runs after `step` steps have completed (0-based). Warm-up
 * starts at baseLr / warmupSteps rather than 0 so that the very first step already moves the weights.
 */
export function learningRateAt(schedule: LrSchedule, step: number): number {
  const { baseLr, warmupSteps, totalSteps, decay, finalLrRatio } = schedule;
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  if (decay === 'constant') return baseLr;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - warmupSteps) / span));
  const floor = baseLr * finalLrRatio;
  return floor + (baseLr - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
