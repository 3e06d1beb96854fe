/**
 * The request environ as the dev error page shows it: every key with a
 * printable value, secrets masked.
 *
 * The toolkit's `TsgiSecureEnviron` (gevent's `SecureEnviron` port) is the
 * project-wide masking rule; until it is importable this module applies the
 * same rule through the small {@link SecretPolicy} interface, so switching
 * over is a one-line change in {@link defaultPolicy}.
 * @module
 */

/** Decides which environ keys are secret. */
export interface SecretPolicy {
  /** `true` when the value of `key` must not be shown. */
  isSecret(key: string): boolean;
}

/** Keys always masked (request and response credentials). */
const SECRET_KEYS = new Set([
  "HTTP_AUTHORIZATION",
  "HTTP_PROXY_AUTHORIZATION",
  "HTTP_COOKIE",
  "HTTP_SET_COOKIE",
  "HTTP_X_API_KEY",
  "HTTP_X_AUTH_TOKEN",
  "HTTP_X_CSRF_TOKEN",
  "HTTP_X_XSRF_TOKEN",
  "REMOTE_USER",
]);

/** Credential-looking key names. */
const SECRET_RE = /AUTH|COOKIE|TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|API[_-]?KEY|ACCESS[_-]?KEY|PRIVATE|SESSION|CREDENTIAL|SIGNATURE/i;

/** Keys shown even though they match the credential pattern. */
const WHITELIST = new Set<string>(["AUTH_TYPE"]);

/** The default policy: the fixed list, then the credential pattern, minus a short whitelist. */
export const defaultPolicy: SecretPolicy = {
  isSecret(key: string): boolean {
    if (WHITELIST.has(key)) return false;
    return SECRET_KEYS.has(key.toUpperCase()) || SECRET_RE.test(key);
  },
};

/** What a masked value is replaced with. */
export const MASK = "••••••";

/**
 * The environ as `[key, printable value]` rows, sorted (CGI keys first, then
 * `HTTP_*`, then `tsgi.*` and others), secret values replaced by
 * {@link MASK}. Objects are shown by their constructor name, functions by
 * name; long values are cut at 500 characters.
 */
export function maskedEnvironRows(environ: Record<string, unknown>, policy: SecretPolicy = defaultPolicy): Array<[string, string]> {
  const rank = (k: string) => (k.startsWith("HTTP_") ? 1 : /^[A-Z_]+$/.test(k) ? 0 : 2);
  const keys = Object.keys(environ).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((k) => [k, policy.isSecret(k) ? MASK : printable(environ[k])]);
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
