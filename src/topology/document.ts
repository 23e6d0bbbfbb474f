// Topology YAML text → raw document (plain JSON-like values), with syntax errors reported by line and column.
import YAML from 'yaml';
import { IssueList, TopologyError } from './errors.ts';

/** The raw document before validation: what YAML's core schema yields. */
export type RawValue = null | boolean | number | string | RawValue[] | RawMap;
export interface RawMap {
  [key: string]: RawValue;
}

export function isRawMap(value: unknown): value is RawMap {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Parses topology YAML. Merge keys (`<<: *defaults`) are allowed so stages can share option blocks; duplicate keys
 * are errors (YAML would otherwise silently keep the last one).
 */
export function parseTopologyYaml(text: string, source: string): RawValue {
  const doc = YAML.parseDocument(text, { prettyErrors: true, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // Later syntax errors are mostly echoes of the first (the parser loses its place); report that one.
    const [error] = doc.errors;
    const pos = error.linePos?.[0] ?? { line: 1, col: 1 };
    let message = syntaxMessage(error.message);
    const line = text.split('\n')[pos.line - 1] ?? '';
    if (/[{[][^'"]*\$\{/.test(line)) message += "\n    (inside { } or [ ], quote values that use ${…}: '${VAR:-default}')";
    if (doc.errors.length > 1) message += `\n    (${doc.errors.length - 1} more syntax error(s) follow from here)`;
    const issues = new IssueList();
    issues.addAt(pos.line, pos.col, message);
    throw new TopologyError(source, issues.items);
  }
  return (doc.toJS() ?? null) as RawValue;
}

// yaml's pretty message repeats the position ("… at line 4, column 3:") before a code excerpt; the position is
// already in our prefix, the excerpt is worth keeping.
function syntaxMessage(message: string): string {
  const [first, ...rest] = message.split('\n');
  const head = first.replace(/ at line \d+, column \d+:?$/, '');
  const excerpt = rest.filter((line) => line.trim() !== '');
  return excerpt.length > 0 ? `${head}\n${excerpt.map((line) => `    ${line}`).join('\n')}` : head;
}
