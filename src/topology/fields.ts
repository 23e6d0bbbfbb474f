// Field validators for topology documents: coercion of substituted strings, and messages that say what was expected.
import { z } from 'zod';
import type { FieldPath, IssueList } from './errors.ts';
import { showValue } from './errors.ts';
import { parseDuration } from './duration.ts';

const NUMERIC = /^[+-]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A number, or a string that spells one (`${PARTS:-2}` substitutes to the string "2"). */
export function coerceNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && NUMERIC.test(value.trim())) return Number(value.trim().replaceAll('_', ''));
  return undefined;
}

export function coerceBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
  }
  return undefined;
}

/** A required field: `convert` returns undefined for a bad value. Chain `.default(x)` or `.optional()` as usual. */
export function field<T>(expected: string, convert: (value: unknown) => T | undefined) {
  return z.unknown().transform((input, ctx): T => {
    if (input === undefined) {
      ctx.addIssue({ code: 'custom', message: `required (${expected})` });
      return z.NEVER;
    }
    const out = convert(input);
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}, got ${showValue(input)}` });
      return z.NEVER;
    }
    return out;
  });
}

export const integer = (expected: string, ok: (n: number) => boolean) =>
  field(expected, (v) => {
    const n = coerceNumber(v);
    return n !== undefined && Number.isInteger(n) && ok(n) ? n : undefined;
  });

export const decimal = (expected: string, ok: (n: number) => boolean) =>
  field(expected, (v) => {
    const n = coerceNumber(v);
    return n !== undefined && ok(n) ? n : undefined;
  });

export const positiveInt = () => integer('a positive integer', (n) => n > 0);
export const nonNegativeInt = () => integer('a non-negative integer', (n) => n >= 0);
export const positiveNumber = () => decimal('a positive number', (n) => n > 0);
export const nonNegativeNumber = () => decimal('a non-negative number', (n) => n >= 0);
/** In [0, 1]. */
export const unitInterval = () => decimal('a number in [0, 1]', (n) => n >= 0 && n <= 1);
export const boolean = () => field('true or false', coerceBoolean);
export const duration = () => field("a duration such as '500ms', '30s', '5m' or a number of milliseconds", parseDuration);

/** A non-empty string; numbers are taken as their text (YAML reads `bucket: 2024` as a number). */
export const text = (expected = 'a non-empty string') =>
  field(expected, (v) => {
    const s = typeof v === 'number' ? String(v) : v;
    return typeof s === 'string' && s.trim() !== '' ? s : undefined;
  });

export const matching = (expected: string, pattern: RegExp) =>
  field(expected, (v) => (typeof v === 'string' && pattern.test(v) ? v : undefined));

export const oneOf = <const T extends string>(values: readonly T[]) =>
  field(`one of ${values.join(', ')}`, (v) => (typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T) : undefined));

/** A list of numbers, or a comma-separated string of them (what an environment variable can hold). */
export const numberList = (expected: string, ok: (n: number) => boolean, length?: number) =>
  field(expected, (v) => {
    const items = typeof v === 'string' ? v.split(',') : v;
    if (!Array.isArray(items) || items.length === 0 || (length !== undefined && items.length !== length)) return undefined;
    const nums = items.map(coerceNumber);
    return nums.every((n): n is number => n !== undefined && ok(n)) ? nums : undefined;
  });

/**
 * A list of strings, or a comma-separated string (`brokers: ${KAFKA_BROKERS}` with `a:9092,b:9092`); a bad item is
 * reported at its index.
 */
export const stringList = (expected: string, item: string, ok: (s: string) => boolean) =>
  z.unknown().transform((input, ctx): string[] => {
    const items = typeof input === 'string' ? input.split(',').map((s) => s.trim()) : input;
    if (!Array.isArray(items) || items.length === 0) {
      ctx.addIssue({ code: 'custom', message: input === undefined ? `required (${expected})` : `expected ${expected}, got ${showValue(input)}` });
      return z.NEVER;
    }
    items.forEach((s, i) => {
      if (typeof s !== 'string' || !ok(s)) ctx.addIssue({ code: 'custom', path: [i], message: `expected ${item}, got ${showValue(s)}` });
    });
    return items as string[];
  });

/** A mapping with exactly these keys (unknown keys are errors, reported with a suggestion). */
export function mapping<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'invalid_type' ? `expected a mapping, got ${showValue(issue.input)}` : undefined),
  });
}

/** Validates `value` (found at `path`) against `schema`; issues go to `issues`, the result is undefined then. */
export function parseAt<T>(schema: z.ZodType<T>, value: unknown, path: FieldPath, issues: IssueList): T | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const at = [...path, ...(issue.path as (string | number)[])];
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(schema, issue.path as (string | number)[]);
      for (const key of issue.keys) issues.add([...at, key], unknownKeyMessage(key, known));
    } else {
      issues.add(at, issue.message);
    }
  }
  return undefined;
}

function unknownKeyMessage(key: string, known: string[]): string {
  if (known.length === 0) return 'unknown key';
  const guess = suggest(key, known);
  return guess !== undefined ? `unknown key (did you mean "${guess}"?)` : `unknown key (expected one of: ${known.join(', ')})`;
}

// Walks the schema along an issue path to list the keys the mapping there accepts.
function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let node: z.ZodType | undefined = unwrap(schema);
  for (const part of path) {
    if (node instanceof z.ZodObject && typeof part === 'string') node = node.shape[part] as z.ZodType | undefined;
    else if (node instanceof z.ZodArray && typeof part === 'number') node = node.element as z.ZodType;
    else return [];
    node = node === undefined ? undefined : unwrap(node);
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let node = schema;
  while (node instanceof z.ZodDefault || node instanceof z.ZodOptional) node = node.unwrap() as z.ZodType;
  return node;
}

/** The closest candidate by edit distance (case-insensitive), if it is close enough to be a typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.min(3, Math.floor(word.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
