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
  const expected = bounds.expected ?? `${bounds.min === 1 && bounds.max === undefined ? 'a positive integer' : bounds.min === 0 && bounds.max === undefined ? 'a non-negative integer' : 'an integer'}${rangeText(bounds, [0, 1])}`;
  return (value) => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || !within(n, bounds)) throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}

/** Any finite number (decimals and exponents allowed), within the bounds. */
export function numberArg(bounds: Bounds = {}): (value: string) => number {
  const positive = bounds.min === 0 && bounds.minExclusive === true && bounds.max === undefined;
  const expected = bounds.expected ?? (positive ? 'a positive number' : `a number${rangeText(bounds, [])}`);
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

function within(n: number, { min, max, minExclusive }: Bounds): boolean {
  if (min !== undefined && (minExclusive === true ? n <= min : n < min)) return false;
  return max === undefined || n <= max;
}

/** ' in [a, b]', ' in (a, b]', ' ≥ a' or ' ≤ b'; nothing for the lower bounds the noun already says (`implied`). */
function rangeText({ min, max, minExclusive }: Bounds, implied: number[]): string {
  if (min !== undefined && max !== undefined) return ` in ${minExclusive === true ? '(' : '['}${min}, ${max}]`;
  if (min !== undefined && !implied.includes(min)) return minExclusive === true ? ` > ${min}` : ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}
