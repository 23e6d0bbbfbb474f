// A short, readable picture of a compiled topology, printed at start-up (the Storm Flux / Redpanda `describe`).
import type { TopicRole } from '../messages/topics.ts';
import type { DetectorConfig } from '../model/detector_config.ts';
import type { ObjectiveConfig } from '../train/objective.ts';
import { formatDuration } from './duration.ts';
import type { CompiledTopology, StageConfig, StoreConfig, TransportConfig } from './types.ts';

const ARROW = ' ─▶ ';

/**
 * E.g. `ingest-unlabeled ×1 ─▶ [distillery.images ×2] ─▶ teacher ×1 ─▶ [distillery.samples ×2] ─▶ student ×1`,
 * then one line per stage, the runtime (backend, store, transport), model, thresholds and loss.
 */
export function describeTopology(t: CompiledTopology): string {
  const lines: string[] = [];
  const title = t.description !== '' ? `topology ${t.name} (${t.source}): ${t.description.trim()}` : `topology ${t.name} (${t.source})`;
  lines.push(title);
  lines.push(`  flow:       ${flowLine(t)}`);
  const teachers = t.stages.filter((s) => s.kind === 'teacher');
  if (teachers.length > 0) {
    const names = teachers.map((s) => s.name).join(' + ');
    lines.push(`              ${names}${ARROW}${topic(t, 'rejected')} (no hard label)  ·  any stage${ARROW}${topic(t, 'dlq')}`);
  }
  lines.push('  stages:');
  const width = Math.max(...t.stages.map((s) => s.name.length));
  for (const stage of t.stages) {
    lines.push(`    ${stage.name.padEnd(width)}  ${stage.kind.padEnd(7)} ×${stage.parallelism}  ${stageSummary(t, stage)}`);
  }
  lines.push(`  runtime:    backend ${t.backend} · store ${describeStore(t.store)} · transport ${describeTransport(t.transport)} · runDir ${t.runDir} · metrics ${t.observability.port === 0 ? 'off' : `${t.observability.host}:${t.observability.port}`}`);
  lines.push(`  model:      ${t.student.numClasses} classes, ${t.student.inputSize} px input, ${describeAnchors(t)}`);
  lines.push(`              ${describeDetector('teacher', t.teacher)}; ${describeDetector('student', t.student)}`);
  const th = t.thresholds;
  lines.push(
    `  thresholds: candidate ${th.candidate} · top-k/level ${th.topKPerLevel} · NMS IoU ${th.nmsIou} · max ${th.maxDetections} detections · hard label τ ${th.hardLabel} · soft ε ${th.softEpsilon}`,
  );
  lines.push(`  loss:       ${describeLoss(t.loss)}`);
  return lines.join('\n');
}

function flowLine(t: CompiledTopology): string {
  const group = (kind: StageConfig['kind']): string =>
    t.stages
      .filter((s) => s.kind === kind)
      .map((s) => `${s.name} ×${s.parallelism}`)
      .join(' + ');
  const ingest = group('ingest');
  const teacher = group('teacher');
  const student = group('student');
  const parts: string[] = [];
  // Stages outside this file (another topology, an external producer) are shown as such rather than hidden.
  if (ingest !== '' || teacher !== '') parts.push(ingest || '(external producer)', topic(t, 'images'), teacher || '(no consumer)');
  if (teacher !== '' || student !== '') {
    if (parts.length === 0) parts.push('(external producer)');
    parts.push(topic(t, 'samples'), student || '(no consumer)');
  }
  return parts.join(ARROW);
}

function topic(t: CompiledTopology, role: TopicRole): string {
  return `[${t.topics[role].name} ×${t.topics[role].partitions}]`;
}

function stageSummary(t: CompiledTopology, stage: StageConfig): string {
  switch (stage.kind) {
    case 'ingest': {
      const o = stage.options;
      const parts = [`${o.prefix} (${o.split}${o.annotations ? `, annotations ${o.annotations}` : ''})`];
      if (o.watch) parts.push(`watching every ${formatDuration(o.watchIntervalMs)}`);
      if (o.limit > 0) parts.push(`first ${o.limit} images`);
      return `${parts.join(', ')} → ${stage.output}`;
    }
    case 'teacher': {
      const o = stage.options;
      return `${stage.input} → checkpoint ${o.checkpoint}, batch ${o.batchSize} (wait ≤ ${formatDuration(o.maxBatchWaitMs)}), ${o.fetchConcurrency} fetches${o.inferenceThread ? ', inference thread' : ''}${o.filter ? '' : ', filter off'}${idle(t, stage)}`;
    }
    case 'student': {
      const o = stage.options;
      const mix = o.labeledOnly ? 'labeled only' : `${Math.round(o.labeledFraction * 100)}% labeled`;
      const steps = o.steps > 0 ? `${o.steps} steps` : 'until stopped';
      const evaluation = o.evalEvery > 0 ? `eval every ${o.evalEvery} on ${o.evalAnnotations}` : 'no eval';
      const init = o.initFrom === undefined ? '' : `, starting from ${o.initFrom} unless checkpointed`;
      const initLr = o.initFrom === undefined || o.initLearningRate === undefined ? '' : ` (${o.initLearningRate} from the saved model)`;
      return `${stage.input} → ${steps}, batch ${o.batchSize} (${mix}), lr ${o.learningRate}${initLr}${init}${o.trainingThread ? (o.trainingReplicas > 1 ? `, ${o.trainingReplicas} training threads` : ', training thread') + (o.trainingBackend ? ` on ${o.trainingBackend}` : '') : ''}, checkpoint every ${o.checkpointEvery} to ${o.checkpointPrefix}, ${evaluation}${idle(t, stage)}`;
    }
  }
}

// More consumers than partitions leaves some without work: worth saying at start-up, not worth refusing.
function idle(t: CompiledTopology, stage: StageConfig & { input: TopicRole }): string {
  const partitions = t.topics[stage.input].partitions;
  return stage.parallelism > partitions ? ` (${stage.parallelism - partitions} idle: ${partitions} partition(s))` : '';
}

function describeStore(store: StoreConfig): string {
  if (store.kind === 'local') return `local ${store.root}/`;
  const where = [store.endpoint, store.region, store.forcePathStyle ? 'path-style' : undefined].filter((x) => x !== undefined);
  return `s3://${store.bucket} (${where.join(', ')})`;
}

function describeTransport(transport: TransportConfig): string {
  if (transport.kind === 'memory') return `memory (capacity ${transport.capacity})`;
  return `kafka ${transport.brokers.join(',')} (client ${transport.clientId})`;
}

function describeAnchors(t: CompiledTopology): string {
  const a = t.anchors;
  const levels = a.levels.length > 1 ? `P${a.levels[0]}–P${a.levels[a.levels.length - 1]}` : `P${a.levels[0]}`;
  return `anchors ${levels}, ratios ${a.ratios.join('/')} × ${a.scalesPerOctave} scales, size ${a.sizeFactor}×stride`;
}

function describeDetector(role: string, d: DetectorConfig): string {
  const name = d.name === role ? role : `${role} "${d.name}"`;
  return `${name} (stem ${d.stemChannels}, stages ${d.stageChannels.join('-')} ×${d.blocksPerStage}, FPN ${d.fpnChannels}, head depth ${d.headDepth})`;
}

function describeLoss(l: ObjectiveConfig): string {
  const focal = `FL(α ${l.focalAlpha}, γ ${l.focalGamma})`;
  const loc = `L_loc(smooth-L1 β ${l.smoothL1Beta})`;
  const distill: Record<ObjectiveConfig['distillation'], string> = {
    adl: `ADL(β ${l.adlBeta}, γ ${l.adlGamma}, θ ${l.adlTheta})`,
    kld: `KLD(θ ${l.adlTheta})`,
    fdl: `FDL(γ ${l.adlGamma}, θ ${l.adlTheta})`,
    none: '',
  };
  return l.distillation === 'none' ? `${focal} + ${loc} (no distillation)` : `${focal} + ${l.lambda}·${distill[l.distillation]} + ${loc}`;
}
