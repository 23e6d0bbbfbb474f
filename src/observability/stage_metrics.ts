// What a stage records: its events and timings, with the `stage` label already bound (stages never see prom-client).
import { DLQ_HEADERS } from '../messages/dlq.ts';
import type { OutgoingMessage } from '../transport/transport.ts';
import type { Instruments, TeacherStep } from './metrics.ts';

/** The loss and throughput figures of one student step (a StepRecord fits). */
export interface StudentStepFigures {
  step: number;
  lr: number;
  focal: number;
  distillation: number;
  localization: number;
  total: number;
  /** Wall time of the step. */
  ms: number;
}

export class StageMetrics {
  private readonly labels: { stage: string };

  constructor(
    readonly stage: string,
    private readonly m: Instruments,
  ) {
    this.labels = { stage };
  }

  imagesProduced(count: number): void {
    this.m.imagesProduced.inc(this.labels, count);
  }

  imagesConsumed(count: number): void {
    this.m.imagesConsumed.inc(this.labels, count);
  }

  sample(): void {
    this.m.samples.inc(this.labels);
  }

  rejected(reason: string): void {
    this.m.rejected.inc({ ...this.labels, reason });
  }

  /** A record built by buildDlqRecord: its reason header (e.g. bad-magic), else its error class. */
  dlq(record: OutgoingMessage): void {
    const headers = record.headers ?? {};
    const reason = headers[DLQ_HEADERS.errorReason] ?? headers[DLQ_HEADERS.errorClass] ?? 'unknown';
    this.m.dlq.inc({ ...this.labels, reason });
  }

  samplesConsumed(count: number): void {
    this.m.samplesConsumed.inc(this.labels, count);
  }

  teacherStep(step: TeacherStep, seconds: number): void {
    this.m.teacherStep.observe({ ...this.labels, step }, seconds);
  }

  /** Times `work` as one observation of `step` (failures too: a slow failing fetch is still latency). */
  async time<T>(step: TeacherStep, work: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      this.teacherStep(step, (performance.now() - t0) / 1000);
    }
  }

  studentStep(figures: StudentStepFigures, batchSize: number): void {
    const { m, labels } = this;
    m.studentLoss.set({ ...labels, term: 'focal' }, figures.focal);
    m.studentLoss.set({ ...labels, term: 'distillation' }, figures.distillation);
    m.studentLoss.set({ ...labels, term: 'localization' }, figures.localization);
    m.studentLoss.set({ ...labels, term: 'total' }, figures.total);
    m.studentLearningRate.set(labels, figures.lr);
    if (figures.ms > 0) m.studentSamplesPerSecond.set(labels, batchSize / (figures.ms / 1000));
    m.studentSteps.inc(labels);
    m.studentStep.set(labels, figures.step);
  }

  studentEvaluation(figures: { AP: number; AP50: number }): void {
    this.m.studentAp.set(this.labels, figures.AP);
    this.m.studentAp50.set(this.labels, figures.AP50);
  }
}
