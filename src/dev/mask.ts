/**
 * The request environ as the dev error page shows it: every key with a
 * printable value, secrets masked by the toolkit's `TsgiSecureEnviron` rule
 * (gevent's `SecureEnviron` port: `Authorization`, `Cookie`, `Set-Cookie`,
 * `Proxy-Authorization`, `REMOTE_USER` and credential-looking key names,
 * with its whitelist).
 * @module
 */
import { asTsgiRead } from "../gateway/signal.ts";
import { MASKED, TsgiSecureEnviron } from "../toolkit/secure-environ.ts";

/** Decides which environ keys are secret. */
export interface SecretPolicy {
  /** `true` when the value of `key` must not be shown. */
  isSecret(key: string): boolean;
}

const rule = new TsgiSecureEnviron({});

/** The default policy: `TsgiSecureEnviron#isMasked`. */
export const defaultPolicy: SecretPolicy = {
  isSecret: (key: string) => rule.isMasked(key),
};

/** What a masked value is replaced with (the toolkit's `"<MASKED>"`). */
export const MASK = MASKED;

/**
 * The environ as `[key, printable value]` rows, sorted (CGI keys first, then
 * `HTTP_*`, then `tsgi.*` and others), secret values replaced by
 * {@link MASK}. Objects are shown by their constructor name (`[Object]`,
 * `[RequestInput]`), functions by name, also inside arrays (an array is
 * listed, `[1,0]`, `[[Object],"text"]`: its objects' fields are never
 * printed, whatever their names); long values are cut at 500 characters.
 */
export function maskedEnvironRows(environ: Record<string, unknown>, policy: SecretPolicy = defaultPolicy): Array<[string, string]> {
  const rank = (k: string) => (k.startsWith("HTTP_") ? 1 : /^[A-Z_]+$/.test(k) ? 0 : 2);
  const keys = Object.keys(environ).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  // tsgi's own read of tsgi.signal, which tsgi-dev does not warn about (see gateway/signal.ts).
  return asTsgiRead(() => keys.map((k): [string, string] => [k, policy.isSecret(k) ? MASK : printable(environ[k])]));
}

/** Characters of a value shown at most. */
const MAX_VALUE = 500;

function printable(v: unknown): string {
  const s = Array.isArray(v) ? printableArray(v, 0) : printableValue(v);
  return s.length > MAX_VALUE ? s.slice(0, MAX_VALUE) + "…" : s;
}

/** A value that is not an array: a string as JSON, an object as `[ClassName]`, a function as `[function name]`. */
function printableValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return `[function ${v.name || "anonymous"}]`;
  if (v === null || typeof v !== "object") return String(v);
  return `[${(v as object).constructor?.name ?? "object"}]`;
}

/**
 * An array as JSON would list it (`[1,0]`, `["a",null]`), but with objects
 * and functions as {@link printableValue} shows them, arrays in arrays listed
 * two deep, and only as many items as fit in {@link MAX_VALUE} characters
 * (JSON.stringify printed every field of every object, and all of a long
 * array before the cut).
 */
function printableArray(v: readonly unknown[], depth: number): string {
  if (depth > 2) return "[Array]";
  let out = "[";
  for (let i = 0; i < v.length; i++) {
    if (out.length > MAX_VALUE) return out + "…";
    const item = v[i];
    out += (i ? "," : "") + (Array.isArray(item) ? printableArray(item, depth + 1) : item === undefined || Number.isNaN(item) ? "null" : printableValue(item));
  }
  return out + "]";
}
