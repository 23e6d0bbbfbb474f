// The report's image grid: per test image, ground truth / teacher / baseline / distilled boxes drawn in SVG.
import { escapeHtml } from './escape.ts';
import type { GridImage, ImageGrid, ReportBox } from './types.ts';

export const DEFAULT_GRID_MIN_SCORE = 0.3;
export const DEFAULT_GRID_MAX_IMAGES = 12;

export const GRID_COLUMNS = [
  { key: 'groundTruth', label: 'ground truth' },
  { key: 'teacher', label: 'teacher' },
  { key: 'baseline', label: 'baseline student' },
  { key: 'distilled', label: 'distilled student' },
] as const satisfies readonly { key: keyof GridImage; label: string }[];

// Tableau 10: distinct hues that survive greyscale printing reasonably.
const PALETTE = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];

export function classColor(classId: number): string {
  const i = Number.isInteger(classId) ? classId : 0;
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** Black or white, whichever reads better on `hex` (WCAG relative luminance). */
export function textColorOn(hex: string): string {
  const channel = (i: number): number => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
  return lum > 0.4 ? '#111' : '#fff';
}

export function className(names: readonly string[], classId: number): string {
  return names[classId] ?? `class ${classId}`;
}

/** Displayed width of one cell in CSS px; label sizes are set in image pixels to look this size on screen. */
const CELL_CSS_PX = 232;
const LABEL_FONT_CSS_PX = 10.5;

/** Box labels longer than this are cut with an ellipsis (the class legend above the grid has the full names). */
const LABEL_MAX_CHARS = 16;

export function shorten(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

function n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function finiteBox(b: ReportBox): boolean {
  return b.box.length === 4 && b.box.every(Number.isFinite);
}

/** Boxes of one cell that are drawn, lowest score first so the best ones end up on top. */
export function visibleBoxes(boxes: readonly ReportBox[], minScore: number): { shown: ReportBox[]; hidden: number } {
  const valid = boxes.filter(finiteBox);
  const shown = valid.filter((b) => b.score === undefined || b.score >= minScore);
  shown.sort((a, b) => (a.score ?? Infinity) - (b.score ?? Infinity));
  return { shown, hidden: boxes.length - shown.length };
}

function boxSvg(b: ReportBox, img: GridImage, names: readonly string[]): string {
  const color = classColor(b.classId);
  // Image px per CSS px: the cell is square and the image fits it by its long side.
  const unit = Math.max(img.width, img.height) / CELL_CSS_PX;
  const font = LABEL_FONT_CSS_PX * unit;
  const [x1, y1, x2, y2] = b.box;
  const name = shorten(className(names, b.classId), LABEL_MAX_CHARS);
  const label = b.score === undefined ? name : `${name} ${b.score.toFixed(2)}`;
  const labelW = (label.length * 0.6 + 0.6) * font;
  const labelH = font * 1.35;
  // Above the box when it fits, else just inside its top edge; never past the image's right edge.
  const ly = y1 - labelH >= 0 ? y1 - labelH : Math.max(0, y1);
  const lx = Math.max(0, Math.min(x1, img.width - labelW));
  return (
    `<g class="det" data-class="${b.classId}">` +
    `<rect x="${n(x1)}" y="${n(y1)}" width="${n(Math.max(0, x2 - x1))}" height="${n(Math.max(0, y2 - y1))}" fill="none" stroke="${color}" stroke-width="2" vector-effect="non-scaling-stroke"/>` +
    `<rect x="${n(lx)}" y="${n(ly)}" width="${n(labelW)}" height="${n(labelH)}" fill="${color}" fill-opacity="0.85"/>` +
    `<text x="${n(lx + 0.3 * font)}" y="${n(ly + labelH / 2)}" dominant-baseline="central" font-size="${n(font)}" fill="${textColorOn(color)}">${escapeHtml(label)}</text>` +
    `</g>`
  );
}

/** The column header names the model, so the caption only counts (hidden ones too: a crowd of low scores matters). */
function cellCaption(shown: number, hidden: number, isGroundTruth: boolean, minScore: number): string {
  const noun = isGroundTruth ? (shown === 1 ? 'object' : 'objects') : shown === 1 ? 'detection' : 'detections';
  const extra = hidden > 0 ? ` <span class="muted">+${hidden} &lt; ${minScore.toFixed(2)}</span>` : '';
  return `<figcaption>${shown} ${noun}${extra}</figcaption>`;
}

function cellSvg(img: GridImage, href: string, boxes: readonly ReportBox[], names: readonly string[], label: string): string {
  const w = n(img.width);
  const h = n(img.height);
  return (
    // Square cells (the viewBox is centred in them) keep rows of mixed aspect ratios the same height.
    `<svg class="cell" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeHtml(`${label}: ${img.id}`)}">` +
    `<image href="${href}" x="0" y="0" width="${w}" height="${h}" preserveAspectRatio="none"/>` +
    // A nested viewport clips boxes and labels to the image instead of the whole (square) cell.
    `<svg x="0" y="0" width="${w}" height="${h}" overflow="hidden">${boxes.map((b) => boxSvg(b, img, names)).join('')}</svg>` +
    `</svg>`
  );
}

function checkImage(img: GridImage): void {
  if (!(img.width > 0) || !(img.height > 0)) throw new RangeError(`grid image ${img.id}: width and height must be positive, got ${img.width}×${img.height}`);
}

/** The class legend and one row per image (at most `maxImages`), as an HTML fragment. */
export function renderImageGrid(grid: ImageGrid): string {
  const minScore = grid.minScore ?? DEFAULT_GRID_MIN_SCORE;
  const maxImages = grid.maxImages ?? DEFAULT_GRID_MAX_IMAGES;
  const images = grid.images.slice(0, Math.max(0, maxImages));
  if (images.length === 0) return '<p class="muted">No test images were recorded for this run.</p>';

  const usedClasses = new Set<number>();
  for (const img of images) for (const { key } of GRID_COLUMNS) for (const b of img[key]) usedClasses.add(b.classId);
  const legendIds = [...new Set([...grid.classNames.keys(), ...usedClasses])].sort((a, b) => a - b);
  const legend = legendIds
    .map((id) => `<span class="swatch"><i style="background:${classColor(id)}"></i>${escapeHtml(className(grid.classNames, id))}</span>`)
    .join('');

  const header = GRID_COLUMNS.map((c) => `<div class="grid-head">${escapeHtml(c.label)}</div>`).join('');
  const rows = images.map((img) => {
    checkImage(img);
    const href = `data:${img.mime ?? 'image/jpeg'};base64,${Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength).toString('base64')}`;
    const cells = GRID_COLUMNS.map(({ key, label }) => {
      const isGt = key === 'groundTruth';
      const { shown, hidden } = visibleBoxes(img[key], isGt ? -Infinity : minScore);
      return `<figure>${cellSvg(img, href, shown, grid.classNames, label)}${cellCaption(shown.length, hidden, isGt, minScore)}</figure>`;
    });
    return `<div class="grid-row"><div class="row-caption">${escapeHtml(img.id)} <span class="muted">${img.width}×${img.height}</span></div>${cells.join('')}</div>`;
  });
  const note =
    `Showing ${images.length} of ${grid.images.length} test image${grid.images.length === 1 ? '' : 's'}; ` +
    `detections with score ≥ ${minScore.toFixed(2)} are drawn.`;
  return `<p class="legend-line">${legend}</p><p class="muted">${escapeHtml(note)}</p><div class="image-grid"><div class="grid-row grid-header">${header}</div>${rows.join('')}</div>`;
}
