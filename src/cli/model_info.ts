// `distillery model info`: parameters and FLOPs per image of the teacher and student presets (or a saved model);
// `distillery model resize`: a saved model at another input size.
import { Command, Option } from 'commander';
import { initBackend } from '../backend/backend.ts';
import { LocalStore } from '../io/local_store.ts';
import { buildDetector, disposeLayersModel, type Detector } from '../model/detector.ts';
import { PRESETS, totalAnchors, type PresetName } from '../model/detector_config.ts';
import { modelCost } from '../model/flops.ts';
import { resizeDetector } from '../model/resize.ts';
import { loadDetector } from '../model/store_io.ts';
import { positiveInteger, positiveNumber } from './args.ts';

export interface ModelInfoRow {
  name: string;
  inputSize: number;
  anchors: number;
  parameters: number;
  flopsPerImage: number;
  byPart: Record<string, number>;
}

export function describeDetector(detector: Detector): ModelInfoRow {
  const cost = modelCost(detector.model);
  return {
    name: detector.config.name,
    inputSize: detector.config.inputSize,
    anchors: totalAnchors(detector.config),
    parameters: cost.parameters,
    flopsPerImage: cost.flopsPerImage,
    byPart: cost.byPart,
  };
}

export function formatModelInfo(rows: ModelInfoRow[]): string {
  const lines = [`${'model'.padEnd(14)}${'input'.padStart(7)}${'anchors'.padStart(9)}${'params'.padStart(11)}${'MFLOP/img'.padStart(11)}  by part (MFLOP)`];
  for (const r of rows) {
    const parts = Object.entries(r.byPart)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)}`)
      .join(', ');
    lines.push(
      `${r.name.padEnd(14)}${String(r.inputSize).padStart(7)}${String(r.anchors).padStart(9)}${r.parameters.toLocaleString('en-US').padStart(11)}${(r.flopsPerImage / 1e6).toFixed(1).padStart(11)}  ${parts}`,
    );
  }
  if (rows.length >= 2) {
    const ratios = rows.slice(1).map((r) => `${rows[0].name}/${r.name}: ${(rows[0].flopsPerImage / r.flopsPerImage).toFixed(2)}x`);
    lines.push(`FLOPs ratio ${ratios.join(', ')}`);
  }
  return lines.join('\n');
}

export function modelCommand(): Command {
  const model = new Command('model').description('inspect detector architectures and checkpoints');
  model
    .command('info')
    .description('print parameters and FLOPs per image of the default teacher and student, or of a saved model')
    .addOption(new Option('--preset <name>', 'only this preset').choices(Object.keys(PRESETS)))
    .option('--store <dir>', 'local object-store directory holding --checkpoint')
    .option('--checkpoint <prefix>', 'key prefix of a saved model (model.json) inside --store')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { preset?: PresetName; store?: string; checkpoint?: string; json?: boolean }) => {
      await initBackend();
      const rows: ModelInfoRow[] = [];
      if (opts.checkpoint !== undefined) {
        const loaded = await loadDetector(new LocalStore({ root: opts.store ?? '.' }), opts.checkpoint);
        rows.push(describeDetector(loaded));
        disposeLayersModel(loaded.model);
      } else {
        const names = opts.preset ? [opts.preset] : (Object.keys(PRESETS) as PresetName[]);
        for (const name of names) {
          const detector = buildDetector(PRESETS[name]);
          rows.push(describeDetector(detector));
          disposeLayersModel(detector.model);
        }
      }
      process.stdout.write(`${opts.json ? JSON.stringify(rows, null, 2) : formatModelInfo(rows)}\n`);
    });
  model
    .command('resize')
    .description(
      'write a saved model at another input size with the same weights (e.g. to fine-tune a teacher at a higher resolution); ' +
        'the anchors scale with the size unless --anchor-size-factor is given',
    )
    .requiredOption('--checkpoint <prefix>', 'key prefix of the saved model (model.json) inside --store')
    .requiredOption('--out <prefix>', 'key prefix to write the resized model.json to (must not exist)')
    .requiredOption('--input-size <px>', 'the new input size (a multiple of the largest stride)', positiveInteger)
    .option('--anchor-size-factor <f>', "anchor base size ÷ stride (default: the saved model's × new size ÷ old size)", positiveNumber)
    .option('--store <dir>', 'local object-store directory', '.')
    .action(async (opts: { checkpoint: string; out: string; inputSize: number; anchorSizeFactor?: number; store: string }) => {
      await initBackend();
      const store = new LocalStore({ root: opts.store });
      const config = await resizeDetector(store, opts.checkpoint, opts.out, { inputSize: opts.inputSize, anchorSizeFactor: opts.anchorSizeFactor });
      process.stdout.write(
        `wrote ${store.describe()}/${opts.out}: '${config.name}' at input ${config.inputSize} px, anchor size factor ${config.anchorSizeFactor}, ` +
          `${totalAnchors(config)} anchors (train or run it with --set model.inputSize=${config.inputSize} --set model.anchors.sizeFactor=${config.anchorSizeFactor})\n`,
      );
    });
  return model;
}

