// The two image distributions of the corpus: "target" (labeled and test splits) and "shifted" (unlabeled split).
import type { DistractorKind } from './shapes.ts';

export type Range = readonly [number, number];
export type DomainName = 'target' | 'shifted';

/** Everything that differs between the two distributions; the scene sampler reads nothing else. */
export interface DomainStyle {
  name: DomainName;
  background: {
    fill: Readonly<Record<'solid' | 'linear' | 'radial', number>>;
    texture: Readonly<Record<'none' | 'noise' | 'stripes' | 'checker', number>>;
    /** HSL lightness / saturation of the background's base colour. */
    lightness: Range;
    saturation: Range;
    /** Lightness difference between the two ends of a gradient. */
    gradientSpan: Range;
    /** Texture amplitude in 0–255 units. */
    textureAmplitude: Range;
  };
  objects: {
    /** Weights of 1, 2, 3, … objects in a non-empty image. */
    countWeights: readonly number[];
    lightness: Range;
    saturation: Range;
    /** Share of objects coloured close to the background behind them. */
    lowContrastShare: number;
    outlineShare: number;
    shadeShare: number;
    stripesShare: number;
    translucentShare: number;
    /** Share of objects placed next to an earlier one so that they overlap. */
    occludeShare: number;
    /** Share of objects allowed to extend past the image border. */
    truncateShare: number;
  };
  clutter: {
    /** Distractors drawn under the objects. */
    under: Range;
    /** Thin strokes and dots drawn over the objects (they occlude a little). */
    over: Range;
    kinds: Readonly<Record<DistractorKind, number>>;
    lightness: Range;
    saturation: Range;
  };
  noiseSigma: Range;
  /** Probability of 1 and of 2 blur passes. */
  blur: readonly [number, number];
}

/** Light, mostly neutral studio backgrounds; saturated objects; little clutter and noise. */
export const TARGET_DOMAIN: DomainStyle = {
  name: 'target',
  background: {
    fill: { solid: 0.3, linear: 0.45, radial: 0.25 },
    texture: { none: 0.35, noise: 0.5, stripes: 0.1, checker: 0.05 },
    lightness: [0.5, 0.92],
    saturation: [0, 0.35],
    gradientSpan: [0.05, 0.3],
    textureAmplitude: [4, 18],
  },
  objects: {
    countWeights: [3, 4, 4, 3, 2, 1],
    lightness: [0.25, 0.65],
    saturation: [0.4, 1],
    lowContrastShare: 0.12,
    outlineShare: 0.3,
    shadeShare: 0.5,
    stripesShare: 0.05,
    translucentShare: 0.05,
    occludeShare: 0.25,
    truncateShare: 0.08,
  },
  clutter: {
    under: [0, 4],
    over: [0, 2],
    kinds: { blob: 3, ring: 2, cross: 2, bar: 2, star: 1, stroke: 3, dots: 1 },
    lightness: [0.2, 0.8],
    saturation: [0.1, 0.8],
  },
  noiseSigma: [1.5, 6],
  blur: [0.15, 0.05],
};

/**
 * Darker, saturated and busier: stripes and checkers are common, more distractors, more noise and blur,
 * paler objects. Ranges overlap the target's so a target-trained teacher still finds most objects.
 */
export const SHIFTED_DOMAIN: DomainStyle = {
  name: 'shifted',
  background: {
    fill: { solid: 0.2, linear: 0.4, radial: 0.4 },
    texture: { none: 0.15, noise: 0.4, stripes: 0.25, checker: 0.2 },
    lightness: [0.12, 0.6],
    saturation: [0.2, 0.75],
    gradientSpan: [0.1, 0.4],
    textureAmplitude: [6, 26],
  },
  objects: {
    countWeights: [4, 4, 3, 2, 2, 1, 1],
    lightness: [0.35, 0.85],
    saturation: [0.25, 0.9],
    lowContrastShare: 0.18,
    outlineShare: 0.2,
    shadeShare: 0.6,
    stripesShare: 0.12,
    translucentShare: 0.1,
    occludeShare: 0.3,
    truncateShare: 0.12,
  },
  clutter: {
    under: [2, 9],
    over: [0, 4],
    kinds: { blob: 3, ring: 2, cross: 2, bar: 2, star: 2, stroke: 4, dots: 2 },
    lightness: [0.15, 0.9],
    saturation: [0.1, 0.9],
  },
  noiseSigma: [3, 12],
  blur: [0.25, 0.1],
};

export const DOMAINS: Readonly<Record<DomainName, DomainStyle>> = { target: TARGET_DOMAIN, shifted: SHIFTED_DOMAIN };
