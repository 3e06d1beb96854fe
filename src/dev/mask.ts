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
 * {@link MASK}. Objects are shown by their constructor name, functions by
 * name; long values are cut at 500 characters.
 */
export function maskedEnvironRows(environ: Record<string, unknown>, policy: SecretPolicy = defaultPolicy): Array<[string, string]> {
  const rank = (k: string) => (k.startsWith("HTTP_") ? 1 : /^[A-Z_]+$/.test(k) ? 0 : 2);
  const keys = Object.keys(environ).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  // tsgi's own read of tsgi.signal, which tsgi-dev does not warn about (see gateway/signal.ts).
  return asTsgiRead(() => keys.map((k): [string, string] => [k, policy.isSecret(k) ? MASK : printable(environ[k])]));
}

function printable(v: unknown): string {
  let s: string;
  if (typeof v === "string") s = JSON.stringify(v);
  else if (typeof v === "function") s = `[function ${v.name || "anonymous"}]`;
  else if (v === null || typeof v !== "object") s = String(v);
  else if (Array.isArray(v)) {
    try {
      s = JSON.stringify(v);
    } catch {
      s = "[array]";
    }
  } else s = `[${(v as object).constructor?.name ?? "object"}]`;
  return s.length > 500 ? s.slice(0, 500) + "…" : s;
}
