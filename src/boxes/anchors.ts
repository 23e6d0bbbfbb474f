// Anchor generation: the [x1, y1, x2, y2] anchors of every pyramid level, in the detector's output order.
import { anchorScales, anchorsPerLocation, type AnchorConfig } from './anchor_config.ts';

/** A contiguous run of anchors in the flattened anchor axis (one pyramid level). */
export interface LevelRange {
  /** Index of the level's first anchor. */
  offset: number;
  /** Number of anchors in the level. */
  count: number;
}

export interface AnchorLevel extends LevelRange {
  level: number;
  stride: number;
  gridHeight: number;
  gridWidth: number;
}

export interface AnchorSet {
  /** [numAnchors * 4] boxes `[x1, y1, x2, y2]` in input pixels. */
  boxes: Float32Array;
  numAnchors: number;
  anchorsPerLocation: number;
  levels: AnchorLevel[];
  /** levels.length + 1 cumulative offsets: level i spans [levelOffsets[i], levelOffsets[i+1]). */
  levelOffsets: number[];
  inputHeight: number;
  inputWidth: number;
}

/**
 * Feature-map size of a level: ceil(size / stride), which is what a chain of stride-2 'same'-padded
 * convolutions produces (ceil(ceil(n/2)/2) = ceil(n/4)).
 */
export function gridSize(level: number, inputHeight: number, inputWidth: number): { gridHeight: number; gridWidth: number } {
  const stride = 2 ** level;
  return { gridHeight: Math.ceil(inputHeight / stride), gridWidth: Math.ceil(inputWidth / stride) };
}

/** Number of anchors of each level, in `config.levels` order. */
export function anchorsPerLevel(config: AnchorConfig, inputHeight: number, inputWidth: number): number[] {
  checkInputSize(inputHeight, inputWidth);
  const perLocation = anchorsPerLocation(config);
  return config.levels.map((level) => {
    const { gridHeight, gridWidth } = gridSize(level, inputHeight, inputWidth);
    return gridHeight * gridWidth * perLocation;
  });
}

/** Total anchors per image. */
export function totalAnchors(config: AnchorConfig, inputHeight: number, inputWidth: number): number {
  return anchorsPerLevel(config, inputHeight, inputWidth).reduce((a, b) => a + b, 0);
}

/**
 * The width/height of the A anchor shapes at one position, ratio-major (for each ratio, for each
 * scale), with ratio = height / width and area (sizeFactor · stride · scale)².
 */
export function anchorShapes(config: AnchorConfig, stride: number): { width: number; height: number }[] {
  const shapes: { width: number; height: number }[] = [];
  for (const ratio of config.ratios) {
    for (const scale of anchorScales(config)) {
      const size = config.sizeFactor * stride * scale;
      const root = Math.sqrt(ratio);
      shapes.push({ width: size / root, height: size * root });
    }
  }
  return shapes;
}

/**
 * Generates all anchors. Order = the detector's output order: level by level (config.levels order),
 * within a level row-major over (y, x), within a position the A shapes of `anchorShapes`. Anchor
 * centres sit at ((x + 0.5)·stride, (y + 0.5)·stride); anchors are not clipped to the image.
 */
export function generateAnchors(config: AnchorConfig, inputHeight: number, inputWidth: number): AnchorSet {
  checkInputSize(inputHeight, inputWidth);
  const perLocation = anchorsPerLocation(config);
  const levels: AnchorLevel[] = [];
  let offset = 0;
  for (const level of config.levels) {
    const { gridHeight, gridWidth } = gridSize(level, inputHeight, inputWidth);
    const count = gridHeight * gridWidth * perLocation;
    levels.push({ level, stride: 2 ** level, gridHeight, gridWidth, offset, count });
    offset += count;
  }
  const boxes = new Float32Array(offset * 4);
  for (const lv of levels) {
    const shapes = anchorShapes(config, lv.stride);
    let k = lv.offset * 4;
    for (let y = 0; y < lv.gridHeight; y++) {
      const cy = (y + 0.5) * lv.stride;
      for (let x = 0; x < lv.gridWidth; x++) {
        const cx = (x + 0.5) * lv.stride;
        for (const { width, height } of shapes) {
          boxes[k++] = cx - width / 2;
          boxes[k++] = cy - height / 2;
          boxes[k++] = cx + width / 2;
          boxes[k++] = cy + height / 2;
        }
      }
    }
  }
  return {
    boxes,
    numAnchors: offset,
    anchorsPerLocation: perLocation,
    levels,
    levelOffsets: [...levels.map((l) => l.offset), offset],
    inputHeight,
    inputWidth,
  };
}

function checkInputSize(inputHeight: number, inputWidth: number): void {
  if (!Number.isInteger(inputHeight) || !Number.isInteger(inputWidth) || inputHeight < 1 || inputWidth < 1) {
    throw new RangeError(`input size must be positive integers, got ${inputHeight}×${inputWidth}`);
  }
}
