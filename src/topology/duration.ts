// Durations in topology files: '500ms', '30s', '5m', '1h', '1.5s' or a plain number of milliseconds.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?$/;

/** Milliseconds, or undefined when `value` is not a non-negative duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = PATTERN.exec(value.trim());
  if (match === null) return undefined;
  // A bare number is milliseconds, as in the fields' names (`watchIntervalMs`).
  const ms = Number(match[1]) * UNIT_MS[match[2] ?? 'ms'];
  // Round away float noise ('0.1s' → 100, not 100.00000000000001).
  return Math.round(ms * 1000) / 1000;
}

/** 30000 → '30s', 90000 → '1.5m', 250 → '250ms': the shortest readable form, for describe(). */
export function formatDuration(ms: number): string {
  for (const unit of ['h', 'm', 's'] as const) {
    const n = ms / UNIT_MS[unit];
    if (n >= 1 && Number.isInteger(n * 10)) return `${n}${unit}`;
  }
  return `${ms}ms`;
}
