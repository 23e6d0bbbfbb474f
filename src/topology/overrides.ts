// `--set path=value` overrides applied to the raw document before validation (stages addressed by name).
import YAML from 'yaml';
import type { RawMap, RawValue } from './document.ts';
import { isRawMap } from './document.ts';
import { TopologyError } from './errors.ts';

/** Source name used in override errors (they do not come from the file). */
export const OVERRIDE_SOURCE = '--set';

/**
 * Returns a copy of `raw` with each `path=value` applied in order, e.g. `stages.student.options.steps=50`,
 * `config.transport.kind=kafka`, `model.anchors.ratios=[0.5, 1, 2]`. Path segments are mapping keys; in a list,
 * a segment is the `name` of an element (how stages are addressed) or a 0-based index. Values are read as YAML
 * scalars/flow collections (`50` is a number, `true` a boolean, `[3, 4]` a list), so they validate like file values;
 * missing mappings along the path are created.
 */
export function applyOverrides(raw: RawValue, overrides: readonly string[]): RawValue {
  let doc: RawValue = raw === null ? {} : structuredClone(raw);
  for (const expr of overrides) doc = applyOne(doc, expr);
  return doc;
}

function applyOne(doc: RawValue, expr: string): RawValue {
  const fail = (message: string): never => {
    throw new TopologyError(OVERRIDE_SOURCE, [{ where: expr, message }]);
  };
  const eq = expr.indexOf('=');
  if (eq <= 0) fail('expected path=value, e.g. stages.student.options.steps=50');
  const segments = expr.slice(0, eq).trim().split('.');
  if (segments.some((s) => s === '')) fail('empty path segment');
  const value = parseValue(expr.slice(eq + 1));
  if (!isRawMap(doc)) fail('the topology document is not a mapping');
  let node: RawValue = doc;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    const at = segments.slice(0, i).join('.') || '(root)';
    if (Array.isArray(node)) {
      const index = findElement(node, segment);
      if (index < 0) {
        const names = node.filter(isRawMap).map((e) => e.name ?? e.kind).filter((n) => typeof n === 'string');
        const known = names.length > 0 ? ` (names: ${names.join(', ')})` : '';
        fail(`${at} has no element named "${segment}"${known}`);
      }
      if (last) node[index] = value;
      else node = descend(node, index);
    } else if (isRawMap(node)) {
      if (last) node[segment] = value;
      else node = descend(node, segment);
    } else {
      fail(`${at} is ${JSON.stringify(node)}, not a mapping or list`);
    }
  }
  return doc;
}

// Creates a missing mapping on the way down so `--set config.store.root=x` works on a file without `config:`.
function descend(parent: RawMap | RawValue[], key: string | number): RawValue {
  const container = parent as Record<string | number, RawValue>;
  const child = container[key];
  if (child === undefined || child === null) {
    const created: RawMap = {};
    container[key] = created;
    return created;
  }
  return child;
}

function findElement(list: RawValue[], segment: string): number {
  const byName = list.findIndex((e) => isRawMap(e) && e.name === segment);
  if (byName >= 0) return byName;
  // An unnamed stage is named after its kind (see the compiler), so `stages.teacher` finds it too.
  const byKind = list.findIndex((e) => isRawMap(e) && e.name === undefined && e.kind === segment);
  if (byKind >= 0) return byKind;
  if (/^\d+$/.test(segment) && Number(segment) < list.length) return Number(segment);
  return -1;
}

function parseValue(text: string): RawValue {
  if (text.trim() === '') return '';
  try {
    return (YAML.parse(text) ?? '') as RawValue;
  } catch {
    // Not valid YAML on its own (e.g. `a: b: c`): take it as the string the user typed.
    return text;
  }
}
