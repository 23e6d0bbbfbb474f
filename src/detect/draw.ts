// Draws detections (box, class name, score) onto the original image with sharp and an SVG overlay.
import sharp from 'sharp';
import { escapeHtml } from '../report/escape.ts';
import type { Detection } from '../postprocess/detections.ts';

/** Distinct, readable box colours, cycled by class index. */
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4', '#469990'];

/** An SVG the size of the image with one labelled rectangle per detection. */
export function detectionsSvg(width: number, height: number, detections: readonly Detection[], classNames: readonly string[]): string {
  const stroke = Math.max(1, Math.round(Math.min(width, height) / 200));
  const font = Math.max(9, Math.round(Math.min(width, height) / 32));
  const shapes = detections.map((d) => {
    const [x1, y1, x2, y2] = d.box;
    const colour = PALETTE[d.classId % PALETTE.length];
    const label = `${classNames[d.classId] ?? `class ${d.classId}`} ${d.score.toFixed(2)}`;
    // The label sits above the box, or inside it when the box touches the top edge.
    const ty = y1 - font - 2 >= 0 ? y1 - 2 : y1 + font;
    return (
      `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${(x2 - x1).toFixed(1)}" height="${(y2 - y1).toFixed(1)}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>` +
      `<text x="${x1.toFixed(1)}" y="${ty.toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="${colour}" stroke="#000" stroke-width="0.4">${escapeHtml(label)}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
}

/** Returns `image` (any format sharp reads) as a JPEG with the detections drawn on it. */
export async function drawDetections(image: Uint8Array, detections: readonly Detection[], classNames: readonly string[]): Promise<Uint8Array> {
  const base = sharp(image).removeAlpha().toColourspace('srgb');
  const { width, height } = await base.metadata();
  if (!width || !height) throw new Error('image has no dimensions');
  const svg = Buffer.from(detectionsSvg(width, height, detections, classNames));
  const out = await base.composite([{ input: svg, top: 0, left: 0 }]).jpeg({ quality: 90 }).toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
