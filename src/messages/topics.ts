// Default topic names (DESIGN §2); the topology may rename them, stages take names from their compiled config.
export const DEFAULT_TOPICS = {
  /** ImageRef, key = object key. */
  images: 'distillery.images',
  /** Sample, key = image id. */
  samples: 'distillery.samples',
  /** Rejection, key = image id. */
  rejected: 'distillery.rejected',
  /** Dead letters: original key and bytes, failure in headers. */
  dlq: 'distillery.dlq',
} as const;

export type TopicRole = keyof typeof DEFAULT_TOPICS;
