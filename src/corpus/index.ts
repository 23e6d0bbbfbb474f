// Public API of the synthetic "shapes" benchmark: generate it into an object store, read its annotations back.
export { buildCoco, imageKeyOf, readCocoAnnotations, SHAPE_CATEGORIES, type ShapeAttributes, type ShapesCoco, type ShapesCocoInfo } from './coco.ts';
export {
  CorpusExistsError,
  FILE_NAME_CONVENTION,
  generateCorpus,
  GENERATOR_NAME,
  GENERATOR_VERSION,
  inspectCorpus,
  manifestKey,
  readCorpusManifest,
  removeCorpus,
  SPLIT_DOMAIN,
  splitKeys,
  type CorpusManifest,
  type CorpusState,
  type SplitSummary,
} from './generate.ts';
export {
  CorpusOptionsError,
  DEFAULT_CORPUS_CONFIG,
  resolveCorpusOptions,
  SPLITS,
  type CorpusConfig,
  type CorpusOptions,
  type IfExists,
  type ProgressFn,
  type ResolvedCorpusOptions,
  type SplitName,
} from './options.ts';
export { CATEGORY_NAMES, DISTRACTOR_KINDS, type CategoryName, type DistractorKind } from './shapes.ts';
