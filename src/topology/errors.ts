// Topology errors: every problem names the file and the field path (or line/column), and all are reported at once.

/** A path into the raw topology document, e.g. ['stages', 1, 'options', 'batchSize']. */
export type FieldPath = readonly (string | number)[];

export interface TopologyIssue {
  /** Field path as printed (`stages[1].options.batchSize`), or `line:col` for YAML syntax errors; '' for the root. */
  where: string;
  message: string;
}

/** Thrown by compile/load/override functions; `message` has one line per issue, each prefixed with the source. */
export class TopologyError extends Error {
  readonly source: string;
  readonly issues: readonly TopologyIssue[];

  constructor(source: string, issues: readonly TopologyIssue[], options?: ErrorOptions) {
    super(issues.map((issue) => formatIssue(source, issue)).join('\n'), options);
    this.name = 'TopologyError';
    this.source = source;
    this.issues = issues;
  }
}

function formatIssue(source: string, issue: TopologyIssue): string {
  if (issue.where === '') return `${source}: ${issue.message}`;
  // `file:3:7: msg` is the compiler convention editors jump to; field paths read better after a space.
  const sep = /^\d+:\d+$/.test(issue.where) ? ':' : ': ';
  return `${source}${sep}${issue.where}: ${issue.message}`;
}

/** `['stages', 1, 'options', 'batchSize']` → `stages[1].options.batchSize`. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** Collects issues while compiling so that one run reports every problem, not just the first. */
export class IssueList {
  readonly items: TopologyIssue[] = [];

  add(path: FieldPath, message: string): void {
    this.items.push({ where: formatPath(path), message });
  }

  addAt(line: number, col: number, message: string): void {
    this.items.push({ where: `${line}:${col}`, message });
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  throwIfAny(source: string): void {
    if (this.items.length > 0) throw new TopologyError(source, this.items);
  }
}

/** A value as it appears in an error message: strings quoted, `nothing` for a missing value. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `a list (${JSON.stringify(value)})`;
  if (value !== null && typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}
