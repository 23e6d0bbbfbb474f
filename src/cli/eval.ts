// `distillery eval`: COCO bbox AP/AR of a results file against a COCO ground-truth file, like pycocotools.
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { evaluateCoco } from '../eval/coco_eval.ts';
import { formatCocoPerCategory, formatCocoSummary } from '../eval/coco_summary.ts';
import { CocoValidationError, parseCocoDetections, parseCocoGroundTruth } from '../eval/coco_types.ts';

interface EvalOptions {
  gt: string;
  detections: string;
  json?: boolean;
  perCategory?: boolean;
}

/** A user-facing failure: printed as one line, never with a stack. */
class EvalInputError extends Error {}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new EvalInputError(`cannot read ${what} file '${path}': ${reason}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EvalInputError(`${what} file '${path}' is not valid JSON: ${(err as Error).message}`);
  }
}

function validated<V>(path: string, what: string, parse: () => V): V {
  try {
    return parse();
  } catch (err) {
    if (err instanceof CocoValidationError) throw new EvalInputError(`${what} file '${path}': ${err.message}`);
    throw err;
  }
}

export function evalCommand(): Command {
  const command = new Command('eval')
    .description('COCO bbox evaluation (AP, AR; same numbers as pycocotools) of a detections file against ground truth')
    .requiredOption('--gt <file>', 'COCO ground-truth JSON (images, annotations, categories)')
    .requiredOption('--detections <file>', 'COCO results JSON: [{image_id, category_id, bbox: [x, y, w, h], score}]')
    .option('--json', 'print the metrics as JSON instead of the 12-line summary')
    .option('--per-category', 'also print AP per category');

  command.action(async (opts: EvalOptions) => {
    try {
      const gtJson = await readJson(opts.gt, 'ground truth');
      const dtJson = await readJson(opts.detections, 'detections');
      const gt = validated(opts.gt, 'ground truth', () => parseCocoGroundTruth(gtJson));
      const detections = validated(opts.detections, 'detections', () => parseCocoDetections(dtJson));
      const metrics = validated(opts.detections, 'detections', () => evaluateCoco(gt, detections));
      let text = opts.json ? JSON.stringify(metrics, null, 2) : formatCocoSummary(metrics);
      if (opts.perCategory && !opts.json) text += `\n\n${formatCocoPerCategory(metrics)}`;
      const write = command.configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
      write(`${text}\n`);
    } catch (err) {
      if (err instanceof EvalInputError) command.error(`error: ${oneLine(err.message)}`, { code: 'distillery.eval' });
      throw err;
    }
  });
  return command;
}
