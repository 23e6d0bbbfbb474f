// Text renderings of COCO metrics: pycocotools' 12-line summary and a per-category AP table.
import { AREA_LABELS, IOU_THRESHOLDS, MAX_DETS, type CocoMetrics, type CocoStatName } from './coco_eval.ts';

/**
 * Python's `'{:0.3f}'.format(x)`. JS `toFixed` rounds exact binary ties (odd multiples of 1/16, the
 * only doubles that sit exactly halfway at 3 decimals) away from zero; Python rounds them to even.
 */
export function formatFixed3(x: number): string {
  const scaled = x * 16;
  if (Number.isInteger(scaled) && !Number.isInteger(x * 8)) {
    const thousandths = Math.round(x * 1000 - 0.5); // x*1000 = n + 0.5 exactly: n is the lower neighbour
    const even = thousandths % 2 === 0 ? thousandths : thousandths + 1;
    return (even / 1000).toFixed(3);
  }
  return x.toFixed(3);
}

const LINES: readonly { name: CocoStatName; ap: boolean; iou?: number; area: number; maxDet: number }[] = [
  { name: 'AP', ap: true, area: 0, maxDet: 2 },
  { name: 'AP50', ap: true, iou: 0.5, area: 0, maxDet: 2 },
  { name: 'AP75', ap: true, iou: 0.75, area: 0, maxDet: 2 },
  { name: 'APs', ap: true, area: 1, maxDet: 2 },
  { name: 'APm', ap: true, area: 2, maxDet: 2 },
  { name: 'APl', ap: true, area: 3, maxDet: 2 },
  { name: 'AR1', ap: false, area: 0, maxDet: 0 },
  { name: 'AR10', ap: false, area: 0, maxDet: 1 },
  { name: 'AR100', ap: false, area: 0, maxDet: 2 },
  { name: 'ARs', ap: false, area: 1, maxDet: 2 },
  { name: 'ARm', ap: false, area: 2, maxDet: 2 },
  { name: 'ARl', ap: false, area: 3, maxDet: 2 },
];

/** The 12 lines `COCOeval.summarize()` prints, joined with '\n' (no trailing newline). */
export function formatCocoSummary(metrics: Readonly<Record<CocoStatName, number>>): string {
  const allIou = `${IOU_THRESHOLDS[0].toFixed(2)}:${IOU_THRESHOLDS[IOU_THRESHOLDS.length - 1].toFixed(2)}`;
  return LINES.map(({ name, ap, iou, area, maxDet }) => {
    const title = (ap ? 'Average Precision' : 'Average Recall').padEnd(18);
    const type = ap ? '(AP)' : '(AR)';
    const iouStr = (iou === undefined ? allIou : iou.toFixed(2)).padEnd(9);
    const areaStr = AREA_LABELS[area].padStart(6);
    const maxDets = String(MAX_DETS[maxDet]).padStart(3);
    return ` ${title} ${type} @[ IoU=${iouStr} | area=${areaStr} | maxDets=${maxDets} ] = ${formatFixed3(metrics[name])}`;
  }).join('\n');
}

/** One line per category: id, name, gt count, AP, AP50, AP75, AR100 (`-1.000` when it has no gt). */
export function formatCocoPerCategory(metrics: Pick<CocoMetrics, 'perCategory'>): string {
  const nameWidth = Math.max(8, ...metrics.perCategory.map((c) => c.name.length));
  const header = `${'id'.padStart(6)}  ${'category'.padEnd(nameWidth)}  ${'gt'.padStart(6)}  ${['AP', 'AP50', 'AP75', 'AR100'].map((h) => h.padStart(6)).join('  ')}`;
  const rows = metrics.perCategory.map((c) => {
    const values = [c.AP, c.AP50, c.AP75, c.AR100].map((v) => formatFixed3(v).padStart(6)).join('  ');
    return `${String(c.categoryId).padStart(6)}  ${c.name.padEnd(nameWidth)}  ${String(c.numGt).padStart(6)}  ${values}`;
  });
  return [header, ...rows].join('\n');
}
