// Public API of topologies: load/compile a topology file, override fields, describe the graph.
export { compileTopology, loadTopology, type CompileOptions } from './compile.ts';
export { describeTopology } from './describe.ts';
export { applyOverrides, OVERRIDE_SOURCE } from './overrides.ts';
export { TopologyError, type TopologyIssue } from './errors.ts';
export { substituteString, type Env } from './env.ts';
export { parseDuration, formatDuration } from './duration.ts';
export { parseTopologyYaml, type RawValue, type RawMap } from './document.ts';
export * from './defaults.ts';
export type * from './types.ts';
