// What the embedded pipeline kept busy: cores used, the teacher's labelling rate, the student's idle and starved steps.
import type { StageCounters } from '../stages/stage.ts';
import type { CompiledTopology } from '../topology/types.ts';
import type { EmbeddedRunResult } from './embedded.ts';

export interface PipelineUse {
  wallSeconds: number;
  cpuSeconds: number;
  /** Process CPU ÷ wall over the run. */
  cores: number;
  /** Share of the wall time the main thread (ingest, the student, the teacher's I/O and encoding) was busy. */
  mainThreadBusy: number;
  /** Share of its time the teacher's inference thread was busy (undefined when inference runs on the main thread). */
  teacherThreadBusy?: number;
  /** Share of its time the student's training thread was busy (undefined when training runs on the main thread). */
  studentThreadBusy?: number;
  /** Images the teacher stages consumed, per second until they drained the images topic (else over the run). */
  teacherImagesPerSecond: number;
  teacherImages: number;
  studentSteps: number;
  /** Seconds the student waited with less than a batch buffered. */
  studentWaitSeconds: number;
  /** Until the teacher drained the images topic (the run when it never did): steps, and steps short of fresh unlabeled samples. */
  whileLabelling: { seconds: number; steps: number; starvedSteps: number; drained: boolean };
}

type UseInput = Pick<EmbeddedRunResult, 'counters' | 'usage' | 'teacherDrained'>;

export function pipelineUse(topology: CompiledTopology, run: UseInput): PipelineUse {
  const names = (kind: 'teacher' | 'student'): Set<string> => new Set(topology.stages.filter((s) => s.kind === kind).map((s) => s.name));
  const sum = (counters: Record<string, StageCounters>, kind: 'teacher' | 'student', counter: string): number =>
    Object.entries(counters)
      .filter(([name]) => names(kind).has(name.split('#')[0]))
      .reduce((s, [, c]) => s + (c[counter] ?? 0), 0);
  const atDrain = run.teacherDrained?.counters ?? run.counters;
  const labellingSeconds = run.teacherDrained?.seconds ?? run.usage.wallSeconds;
  const teacherImages = sum(atDrain, 'teacher', 'consumed');
  return {
    wallSeconds: run.usage.wallSeconds,
    cpuSeconds: run.usage.cpuSeconds,
    cores: run.usage.cores,
    mainThreadBusy: run.usage.threadBusy,
    teacherThreadBusy: Object.entries(atDrain).find(([name, c]) => names('teacher').has(name.split('#')[0]) && c.inferenceThreadBusy !== undefined)?.[1].inferenceThreadBusy,
    studentThreadBusy: Object.entries(run.counters).find(([name, c]) => names('student').has(name.split('#')[0]) && c.trainingThreadBusy !== undefined)?.[1].trainingThreadBusy,
    teacherImages,
    teacherImagesPerSecond: labellingSeconds > 0 ? teacherImages / labellingSeconds : 0,
    studentSteps: sum(run.counters, 'student', 'steps'),
    studentWaitSeconds: sum(run.counters, 'student', 'waitSeconds'),
    whileLabelling: {
      seconds: labellingSeconds,
      steps: sum(atDrain, 'student', 'steps'),
      starvedSteps: sum(atDrain, 'student', 'starvedSteps'),
      drained: run.teacherDrained !== undefined,
    },
  };
}

export function formatPipelineUse(u: PipelineUse, cores: number): string {
  const w = u.whileLabelling;
  const until = w.drained ? `until the teacher drained the images (${w.seconds.toFixed(0)} s)` : `over the run (the teacher did not drain the images)`;
  return (
    `pipeline used ${u.cores.toFixed(2)} of ${cores} cores (CPU ${u.cpuSeconds.toFixed(0)} s over ${u.wallSeconds.toFixed(0)} s wall); ` +
    `main thread busy ${percent(u.mainThreadBusy)}${u.teacherThreadBusy === undefined ? '' : `, teacher inference thread busy ${percent(u.teacherThreadBusy)}`}` +
    `${u.studentThreadBusy === undefined ? '' : `, student training thread busy ${percent(u.studentThreadBusy)}`}; ` +
    `teacher ${u.teacherImagesPerSecond.toFixed(1)} images/s (${u.teacherImages} images); student ${u.studentSteps} steps, waited ${u.studentWaitSeconds.toFixed(1)} s for samples; ` +
    `${until} ${w.starvedSteps} of ${w.steps} steps were short of fresh unlabeled samples (starved)`
  );
}

function percent(share: number): string {
  return `${(share * 100).toFixed(0)}%`;
}
