// `${VAR}` / `${VAR:-default}` substitution in every string value of a raw topology document.
import type { RawMap, RawValue } from './document.ts';
import { isRawMap } from './document.ts';
import type { FieldPath, IssueList } from './errors.ts';

export type Env = Record<string, string | undefined>;

export interface SubstitutionResult {
  value: string;
  /** Variables referenced without a default that are not set. */
  missing: string[];
  /** Malformed `${…}` expressions (e.g. `${1X}`, an unclosed `${`). */
  malformed: string[];
  /** True when the whole string was one `${…}` expression (then an empty result means "not set"). */
  whole: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Substitutes one string. As in shells and docker compose, `${VAR:-default}` uses the default when VAR is unset
 * or empty; `$${` is a literal `${`. Defaults are taken verbatim (no nesting).
 */
export function substituteString(text: string, env: Env): SubstitutionResult {
  const missing: string[] = [];
  const malformed: string[] = [];
  let out = '';
  let i = 0;
  let expressions = 0;
  while (i < text.length) {
    const start = text.indexOf('${', i);
    if (start < 0) {
      out += text.slice(i);
      break;
    }
    if (start > 0 && text[start - 1] === '$') {
      out += text.slice(i, start - 1) + '${';
      i = start + 2;
      continue;
    }
    out += text.slice(i, start);
    const end = text.indexOf('}', start + 2);
    if (end < 0) {
      malformed.push(text.slice(start));
      break;
    }
    const body = text.slice(start + 2, end);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    if (!NAME.test(name)) {
      malformed.push(text.slice(start, end + 1));
    } else {
      const value = env[name];
      if (value !== undefined && (value !== '' || sep < 0)) out += value;
      else if (sep >= 0) out += body.slice(sep + 2);
      else missing.push(name);
    }
    expressions += 1;
    i = end + 1;
  }
  const whole = expressions === 1 && /^\$\{[^}]*\}$/.test(text);
  return { value: out, missing, malformed, whole };
}

/**
 * Substitutes every string value (not keys) of a raw document; problems go to `issues` under the field's path.
 * A mapping value that was only an expression and came out empty (`endpoint: ${S3_ENDPOINT:-}`) is dropped, so the
 * field counts as not set and gets its default.
 */
export function substituteEnv(value: RawValue, env: Env, issues: IssueList, path: FieldPath = []): RawValue {
  if (typeof value === 'string') return substituteField(value, env, issues, path).value;
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, issues, [...path, i]));
  if (isRawMap(value)) {
    const out: RawMap = {};
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === 'string') {
        const result = substituteField(item, env, issues, [...path, key]);
        if (!(result.whole && result.value === '')) out[key] = result.value;
      } else {
        out[key] = substituteEnv(item, env, issues, [...path, key]);
      }
    }
    return out;
  }
  return value;
}

function substituteField(text: string, env: Env, issues: IssueList, path: FieldPath): SubstitutionResult {
  const result = substituteString(text, env);
  for (const name of result.missing) {
    issues.add(path, `environment variable ${name} is not set (write \${${name}:-default} to give it a default)`);
  }
  for (const expr of result.malformed) {
    issues.add(path, `malformed substitution ${JSON.stringify(expr)} (expected \${NAME} or \${NAME:-default})`);
  }
  return result;
}
