// Benchmark: how many cores the embedded pipeline keeps busy, with the teacher's inference and the student's training
// inline or each in a thread of its own.
//
// Each mode runs in a child process of its own (a fresh TensorFlow context): the embedded topology over the corpus in
// data/ (the default corpus, generated as `npm start` does when it is missing), a fixed student step budget, no periodic
// evaluation (it pauses training), checkpoints under runs/bench-cores-<mode>/. Printed per mode: process CPU ÷ wall
// (every thread), the busy shares of the main thread, the teacher's inference thread and the student's training thread, teacher images/s, student steps/s, the
// seconds the student waited for samples and the steps short of fresh unlabeled samples (starved), and the
// 1-minute load average before and after (the machine may be shared: compare modes of one run).
//
// Modes: inline (both models on the main thread), thread (the teacher's inference in its thread), threads (the student's
// training in its own thread too), replicas (the student's training in two data-parallel training threads).
//
//   node --import tsx bench/embedded_cores.ts [--steps 200] [--modes inline,thread,threads,replicas] [--set field=value …] [--json]
//
// --set overrides topology fields as `distillery run --set` does (e.g. --set model.student.preset=student, the default
// student of the figures in docs/benchmarks.md measured before student-large became the default).
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runSelf } from './run_self.ts';
import { initBackend } from '../src/backend/backend.ts';
import { BUNDLED_TEACHER_DIR, ensureCorpus, ensureTeacher, resetIngestCursors, stageOf } from '../src/runner/main_job.ts';
import { openStore, runEmbedded } from '../src/runner/embedded.ts';
import { pipelineUse, type PipelineUse } from '../src/runner/pipeline_use.ts';
import { loadTopology } from '../src/topology/index.ts';
import { createLogger } from '../src/util/logger.ts';

/**
 * inline: both models on the main thread; thread: the teacher's inference in its thread; threads: the student's
 * training too; replicas: the student's training in two data-parallel training threads.
 */
const MODES = ['inline', 'thread', 'threads', 'replicas'] as const;
type Mode = (typeof MODES)[number];

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '200' },
    modes: { type: 'string', default: 'inline,thread,threads,replicas' },
    mode: { type: 'string' },
    topology: { type: 'string', default: 'topologies/embedded.yaml' },
    set: { type: 'string', multiple: true, default: [] },
    json: { type: 'boolean', default: false },
  },
});

interface ModeResult {
  mode: Mode;
  backend: string;
  loadBefore: number;
  loadAfter: number;
  studentStepsPerSecond: number;
  use: PipelineUse;
}

async function runMode(mode: Mode): Promise<ModeResult> {
  const loadBefore = os.loadavg()[0];
  const runId = `bench-cores-${mode}`;
  const overrides = [
    `stages.student.options.steps=${values.steps}`,
    'stages.student.options.evalEvery=0',
    `stages.student.options.checkpointPrefix=runs/${runId}/student`,
    `stages.teacher.options.inferenceThread=${mode !== 'inline'}`,
    `stages.student.options.trainingThread=${mode === 'threads' || mode === 'replicas'}`,
    `stages.student.options.trainingReplicas=${mode === 'replicas' ? 2 : 1}`,
    ...values.set,
  ];
  const topology = await loadTopology(values.topology, { env: { ...process.env, DISTILLERY_RUN_ID: runId }, overrides });
  const backend = await initBackend(topology.backend, { reason: topology.backendReason });
  const store = openStore(topology);
  await ensureCorpus(store, {}, { stdout: process.stderr, stderr: process.stderr });
  await ensureTeacher(store, stageOf(topology, 'teacher').options.checkpoint, BUNDLED_TEACHER_DIR, values.topology);
  await resetIngestCursors(topology, store, { stdout: process.stdout, stderr: process.stderr });
  // A leftover checkpoint would resume at its step: every run starts from scratch.
  for (const prefix of [`runs/${runId}/student/`]) {
    for (;;) {
      const page = await store.list(prefix);
      if (page.objects.length === 0) break;
      for (const o of page.objects) await store.delete(o.key);
    }
  }
  const result = await runEmbedded({ topology, store, logger: createLogger({ level: 'warn' }) });
  await result.transport.close();
  const use = pipelineUse(topology, result);
  return { mode, backend: backend.name, loadBefore, loadAfter: os.loadavg()[0], studentStepsPerSecond: use.studentSteps / use.wallSeconds, use };
}

function child(mode: Mode): Promise<ModeResult> {
  return runSelf<ModeResult>(import.meta.url, ['--mode', mode, '--steps', values.steps, '--topology', values.topology, ...values.set.flatMap((o) => ['--set', o])], `${mode} run`);
}

if (values.mode !== undefined) {
  if (!MODES.includes(values.mode as Mode)) throw new Error(`--mode must be one of ${MODES.join(', ')}`);
  process.stdout.write(`${JSON.stringify(await runMode(values.mode as Mode))}\n`);
} else {
  const modes = values.modes.split(',').map((m) => m.trim()) as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`--modes: '${m}' is not one of ${MODES.join(', ')}`);
  const results: ModeResult[] = [];
  for (const m of modes) {
    process.stderr.write(`bench: ${m}, ${values.steps} student steps (load average ${os.loadavg()[0].toFixed(1)})\n`);
    results.push(await child(m));
  }
  if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    const lines = [
      '| mode | cores used (CPU ÷ wall) | main thread busy | inference thread busy | training thread busy | teacher images/s | student steps/s | student waited s | starved steps | wall s | load avg before → after |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const r of results) {
      const u = r.use;
      const share = (busy: number | undefined): string => (busy === undefined ? '—' : `${(busy * 100).toFixed(0)}%`);
      lines.push(
        `| ${r.mode} | ${u.cores.toFixed(2)} | ${share(u.mainThreadBusy)} | ${share(u.teacherThreadBusy)} | ${share(u.studentThreadBusy)} | ${u.teacherImagesPerSecond.toFixed(1)} | ${r.studentStepsPerSecond.toFixed(2)} | ` +
          `${u.studentWaitSeconds.toFixed(1)} | ${u.whileLabelling.starvedSteps} / ${u.whileLabelling.steps} | ${u.wallSeconds.toFixed(0)} | ${r.loadBefore.toFixed(1)} → ${r.loadAfter.toFixed(1)} |`,
      );
    }
    lines.push('', `${values.steps} student steps each, backend ${results[0]?.backend}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
