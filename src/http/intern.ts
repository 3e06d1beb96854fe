/**
 * Interned strings for the tokens requests repeat on every request: methods
 * and the common field names, in the spellings clients send (RFC 9110 §9,
 * §5.1). The parser returns these constants instead of slicing a fresh
 * string from each head, so repeated requests allocate less and later
 * lookups (environ keys) compare one pointer.
 * @module
 */

/** Methods, exactly as sent (methods are case-sensitive, RFC 9110 §9.1). */
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"];

/** Field names requests carry most often, in their usual spelling; the lower-case spelling is interned too. */
const COMMON_FIELD_NAMES = [
  "Host",
  "User-Agent",
  "Accept",
  "Accept-Encoding",
  "Accept-Language",
  "Connection",
  "Content-Type",
  "Content-Length",
  "Cookie",
  "Referer",
  "Origin",
  "Authorization",
  "Cache-Control",
  "Pragma",
  "If-None-Match",
  "If-Modified-Since",
  "Upgrade-Insecure-Requests",
  "X-Forwarded-For",
  "X-Forwarded-Proto",
  "X-Real-IP",
  "X-Request-ID",
  "X-Requested-With",
  "Sec-Fetch-Site",
  "Sec-Fetch-Mode",
  "Sec-Fetch-Dest",
  "Priority",
  "Keep-Alive",
  "Expect",
  "Transfer-Encoding",
  "Range",
];

/** A table of interned strings, indexed by length: flat `[firstByte, string, ...]` rows. */
type Table = Array<Array<number | string> | undefined>;

function table(words: Iterable<string>): Table {
  const t: Table = [];
  for (const w of words) (t[w.length] ??= []).push(w.charCodeAt(0), w);
  return t;
}

/**
 * {@link COMMON_FIELD_NAMES} in their usual and lower-case spellings: the very
 * strings the parser hands out, so a table built from these (the environ
 * keys) matches them by identity.
 */
export const COMMON_FIELD_SPELLINGS: readonly string[] = [...new Set(COMMON_FIELD_NAMES.flatMap((n) => [n, n.toLowerCase()]))];

const METHOD_TABLE = table(METHODS);
const FIELD_TABLE = table(COMMON_FIELD_SPELLINGS);

function lookup(t: Table, buf: Uint8Array, at: number, len: number): string | undefined {
  const row = t[len];
  if (row === undefined) return undefined;
  const first = buf[at];
  next: for (let r = 0; r < row.length; r += 2) {
    if (row[r] !== first) continue;
    const word = row[r + 1] as string;
    for (let k = 1; k < len; k++) if (buf[at + k] !== word.charCodeAt(k)) continue next;
    return word;
  }
  return undefined;
}

/** The interned method for `buf[at, at + len)`, or `undefined` when it is not a common one (exact case). */
export function internMethod(buf: Uint8Array, at: number, len: number): string | undefined {
  return lookup(METHOD_TABLE, buf, at, len);
}

/** The interned field name for `buf[at, at + len)`, or `undefined` when it is not a common one in its usual or lower-case spelling. */
export function internFieldName(buf: Uint8Array, at: number, len: number): string | undefined {
  return lookup(FIELD_TABLE, buf, at, len);
}

/**
 * A copy of `s` that shares no memory with it, for a string a cache keeps
 * for the process's life. A slice of a request head's string (a field name,
 * a method) is one the runtime (JavaScriptCore) shares with the whole head
 * past 8 characters, so keeping the slice keeps the head (up to
 * `maxHeaderBytes`). `s` is latin-1, as every string a head gives is.
 */
export function ownCopy(s: string): string {
  return Buffer.from(s, "latin1").toString("latin1");
}
