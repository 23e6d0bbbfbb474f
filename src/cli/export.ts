// `distillery export`: writes a student checkpoint as a self-contained TF.js graph model plus model-card.json.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, initBackend, type BackendName } from '../backend/backend.ts';
import { resolveLocation } from '../detect/sources.ts';
import { exportStudent, type ExportResult } from '../export/export_model.ts';
import { LocalStore } from '../io/local_store.ts';
import { openStore } from '../io/open_store.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { loadTopology } from '../topology/index.ts';
import type { CompiledTopology } from '../topology/types.ts';
import type { TrainCommandIo } from './train.ts';

export interface ExportFlags {
  checkpoint: string;
  out: string;
  topology?: string;
  eval?: boolean;
  test?: string;
  backend?: BackendName;
}

/** The test split to evaluate on: --test (a local file, else a key of the topology's store), else the topology student's evalAnnotations. */
async function testSplit(flags: ExportFlags, topology: CompiledTopology | undefined, store: ObjectStore | undefined): Promise<{ store: ObjectStore; key: string } | undefined> {
  if (flags.test !== undefined) {
    const local = await stat(flags.test).then((s) => s.isFile(), () => false);
    if (!local && store !== undefined) return { store, key: flags.test };
    // Images are read relative to the annotation file's folder, so the store is rooted there.
    return { store: new LocalStore({ root: path.resolve(path.dirname(flags.test)) }), key: path.basename(flags.test) };
  }
  const student = topology?.stages.find((s) => s.kind === 'student');
  if (student?.kind === 'student' && student.options.evalAnnotations.length > 0 && store !== undefined) return { store, key: student.options.evalAnnotations };
  return undefined;
}

export async function runExport(flags: ExportFlags, io: TrainCommandIo): Promise<ExportResult> {
  await initBackend(flags.backend);
  const topology = flags.topology === undefined ? undefined : await loadTopology(flags.topology);
  const store = topology === undefined ? undefined : openStore(topology.store);
  try {
    const source = await resolveLocation(flags.checkpoint, store);
    const test = await testSplit(flags, topology, store);
    const result = await exportStudent(source.store, source.prefix, new LocalStore({ root: path.resolve(flags.out) }), '', {
      testAnnotations: test,
      forceEval: flags.eval,
      thresholds: topology?.thresholds,
      loss: topology?.loss,
    });
    const c = result.card;
    const ap = c.evaluation === null ? 'not evaluated (pass --test or --topology)' : `AP ${c.evaluation.AP.toFixed(3)} / AP50 ${c.evaluation.AP50.toFixed(3)} on ${c.evaluation.images} images`;
    io.stdout.write(
      `exported '${c.name}' step ${c.source.step} (${c.parameters.toLocaleString('en-US')} parameters, ${(c.flopsPerImage / 1e6).toFixed(1)} MFLOPs/image) as a TF.js graph model to ${flags.out}: ${ap}\n`,
    );
    return result;
  } finally {
    await store?.close?.();
  }
}

export function exportCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('export')
    .description('write a student checkpoint as a TF.js graph model (tf.loadGraphModel, browsers and Node) with model-card.json')
    .requiredOption('--checkpoint <dir|prefix>', 'checkpoint prefix (latest.json), one step-<n> folder, or best/; a local directory, or a key prefix of --topology\'s store')
    .requiredOption('--out <dir>', 'output directory: model.json, weight shards, model-card.json')
    .option('--topology <file>', 'read --checkpoint from this topology\'s store; its student\'s test split and thresholds fill the card')
    .option('--test <coco.json>', 'test split to evaluate on (local file, or a key of --topology\'s store) when the checkpoint has no AP for its step')
    .option('--eval', 'evaluate even when the checkpoint already has an AP for its step')
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKEND_NAMES))
    .action(async (flags: ExportFlags) => {
      await runExport(flags, io);
    });
}
