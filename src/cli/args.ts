/**
 * Commander argument parsers shared by every command. Each returns the parsed value or throws an
 * InvalidArgumentError that says what it expected; commander prefixes the option and the value given
 * ("option '--steps <n>' argument 'big' is invalid. expected a positive integer").
 */
import { InvalidArgumentError } from 'commander';

export interface Bounds {
  /** Smallest accepted value (inclusive unless `minExclusive`). */
  min?: number;
  /** Largest accepted value, inclusive. */
  max?: number;
  /** `min` itself is refused: (min, max]. */
  minExclusive?: boolean;
  /** What the error says was expected, in place of the range written out. */
  expected?: string;
}

/** Whole numbers in decimal digits only ('1e3', '2.0' and '' are refused), within the bounds. */
export function integerArg(bounds: Bounds = {}): (value: string) => number {
  const expected = bounds.expected ?? describe('integer', bounds);
  return (value) => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || !within(n, bounds)) throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}

/** Any finite number (decimals and exponents allowed), within the bounds. */
export function numberArg(bounds: Bounds = {}): (value: string) => number {
  const expected = bounds.expected ?? describe('number', bounds);
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || !within(n, bounds)) throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}

/** The common case: counts, sizes, steps. */
export const positiveInteger = integerArg({ min: 1 });

/** Counts where 0 means "none" or "off". */
export const nonNegativeInteger = integerArg({ min: 0 });

/** Learning rates, factors. */
export const positiveNumber = numberArg({ min: 0, minExclusive: true });

/** A detection score used as a threshold: (0, 1]. */
export const scoreArg = numberArg({ min: 0, minExclusive: true, max: 1, expected: 'a score in (0, 1]' });

/** Durations given in seconds, 0 meaning "off". */
export const secondsArg = numberArg({ min: 0, expected: 'a number of seconds ≥ 0' });

function within(n: number, { min, max, minExclusive }: Bounds): boolean {
  if (min !== undefined && (minExclusive === true ? n <= min : n < min)) return false;
  return max === undefined || n <= max;
}

/** 'a positive integer', 'a non-negative integer', 'a positive number', else the range: 'a number in [a, b]', '… ≥ a', '… ≤ b'. */
function describe(noun: 'integer' | 'number', { min, max, minExclusive = false }: Bounds): string {
  const what = `${noun === 'integer' ? 'an' : 'a'} ${noun}`;
  if (max !== undefined) return min === undefined ? `${what} ≤ ${max}` : `${what} in ${minExclusive ? '(' : '['}${min}, ${max}]`;
  if (min === undefined) return what;
  if ((min === 0 && minExclusive) || (noun === 'integer' && min === 1 && !minExclusive)) return `a positive ${noun}`;
  if (noun === 'integer' && min === 0 && !minExclusive) return 'a non-negative integer';
  return `${what} ${minExclusive ? '>' : '≥'} ${min}`;
}
