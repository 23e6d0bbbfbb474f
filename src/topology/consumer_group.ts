// The consumer group id a stage joins: its name, behind the topology's namePrefix.

/**
 * Stage names stay short and prefix-free (they are `distillery run <stage>` arguments and `--set stages.<name>`
 * paths); the prefix goes on the group id, as it goes on the topic names, so two pipelines sharing a cluster keep
 * separate commits.
 */
export function consumerGroupOf(topology: { namePrefix?: string }, stageName: string): string {
  return `${topology.namePrefix ?? ''}${stageName}`;
}
