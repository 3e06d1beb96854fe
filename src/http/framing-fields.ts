/**
 * The header fields the parser acts on itself besides Host (target.ts): how
 * the body is framed, whether the connection persists, what the client
 * expects, and which fields a trailer section may not carry. Pure functions
 * over the bytes of a complete head (`src[p, e)`, a field value without its
 * OWS), no state, no allocation: each returns a number (a value, a bit set
 * or a negative code) and the parser decides what to answer (the status;
 * the 400 messages for the negative codes are here).
 *
 * - Content-Length (RFC 9112 §6.3, RFC 9110 §8.6): {@link contentLength}.
 * - Transfer-Encoding (RFC 9112 §6.1, codings §7): {@link transferCodings},
 *   a tally over all its field lines.
 * - An HTAB in the trailing whitespace of either (llhttp rejects it):
 *   {@link hasTab}.
 * - Connection (RFC 9112 §9.3, RFC 9110 §7.6.1): {@link connectionTokens}.
 * - Expect (RFC 9110 §10.1.1, a list per §5.6.1.2): {@link expectations}.
 * - Fields a trailer section may not carry (RFC 9110 §6.5.1):
 *   {@link TRAILER_REFUSED}, matched a byte at a time as a trailer field
 *   name arrives with {@link trailerNameMatch}.
 *
 * Field names are compared case-insensitively (RFC 9110 §5.1) with
 * `equalsLower`, against the lowercase names below.
 * @module
 */
import { bytes, COMMA, equalsLower, HTAB, SP, TCHAR } from "./chars.ts";

/** `connection`, lowercase. */
export const N_CONNECTION = bytes("connection");
/** `content-length`, lowercase. */
export const N_CONTENT_LENGTH = bytes("content-length");
/** `expect`, lowercase. */
export const N_EXPECT = bytes("expect");
/** `transfer-encoding`, lowercase. */
export const N_TRANSFER_ENCODING = bytes("transfer-encoding");
/** `upgrade`, lowercase. */
export const N_UPGRADE = bytes("upgrade");

const V_CHUNKED = bytes("chunked");
const V_CLOSE = bytes("close");
const V_KEEP_ALIVE = bytes("keep-alive");
const V_UPGRADE = bytes("upgrade");
const V_100_CONTINUE = bytes("100-continue");

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------
// Content-Length

/** {@link contentLength}: the value is empty. */
export const CL_EMPTY = -1;
/** {@link contentLength}: a byte is not a DIGIT. */
export const CL_INVALID = -2;
/** {@link contentLength}: the number exceeds `Number.MAX_SAFE_INTEGER`. */
export const CL_TOO_LARGE = -3;

/**
 * The Content-Length `src[p, e)` (RFC 9112 §6.3, RFC 9110 §8.6: `1*DIGIT`),
 * at most `Number.MAX_SAFE_INTEGER`, or a negative code: {@link CL_EMPTY},
 * {@link CL_INVALID} or {@link CL_TOO_LARGE}, whichever the scan meets
 * first (its message: {@link contentLengthError}). No list form
 * (`5, 5`), sign or whitespace inside.
 */
export function contentLength(src: Uint8Array, p: number, e: number): number {
  if (p === e) return CL_EMPTY;
  let n = 0;
  for (; p < e; p++) {
    const d = src[p]! - 0x30;
    if (d < 0 || d > 9) return CL_INVALID;
    n = n * 10 + d;
    if (n > MAX_SAFE) return CL_TOO_LARGE;
  }
  return n;
}

/** The 400 message for a negative {@link contentLength} result. */
export function contentLengthError(code: number): string {
  return code === CL_EMPTY ? "Empty Content-Length" : code === CL_INVALID ? "Invalid Content-Length" : "Content-Length too large";
}

// ---------------------------------------------------------------------------
// Transfer-Encoding

/** Tally bit of {@link transferCodings}: the last coding so far is `chunked`. */
export const TE_LAST_CHUNKED = 1;
/** Tally bit of {@link transferCodings}: `chunked` appeared. */
export const TE_CHUNKED = 2;
/** Tally bit of {@link transferCodings}: `chunked` appeared more than once. */
export const TE_CHUNKED_TWICE = 4;
/** Tally bit of {@link transferCodings}: a coding other than `chunked` appeared. */
export const TE_OTHER = 8;
/** {@link transferCodings}: the value is empty. */
export const TE_EMPTY = -1;
/** {@link transferCodings}: the value is not a list of tokens. */
export const TE_INVALID = -2;

/**
 * Add one Transfer-Encoding field line's codings `src[p, e)` to `tally` (0
 * before the first line; all lines form one list, RFC 9110 §5.3) and return
 * the new tally, a bit set of {@link TE_LAST_CHUNKED}, {@link TE_CHUNKED},
 * {@link TE_CHUNKED_TWICE} and {@link TE_OTHER}; or a negative code,
 * {@link TE_EMPTY} or {@link TE_INVALID}, when the value is not `1#token`
 * (RFC 9112 §6.1: codings compared case-insensitively, OWS around commas, no
 * empty elements, no parameters).
 */
export function transferCodings(src: Uint8Array, p: number, e: number, tally: number): number {
  if (p === e) return TE_EMPTY;
  for (;;) {
    const s = p;
    while (p < e && TCHAR[src[p]!] === 1) p++;
    if (p === s) return TE_INVALID;
    if (p - s === 7 && equalsLower(src, s, V_CHUNKED)) {
      tally |= (tally & TE_CHUNKED) !== 0 ? TE_CHUNKED | TE_CHUNKED_TWICE | TE_LAST_CHUNKED : TE_CHUNKED | TE_LAST_CHUNKED;
    } else {
      tally = (tally | TE_OTHER) & ~TE_LAST_CHUNKED;
    }
    while (p < e && (src[p] === SP || src[p] === HTAB)) p++;
    if (p === e) return tally;
    if (src[p] !== COMMA) return TE_INVALID;
    p++;
    while (p < e && (src[p] === SP || src[p] === HTAB)) p++;
  }
}

/** The 400 message for a negative {@link transferCodings} result. */
export function transferCodingsError(code: number): string {
  return code === TE_EMPTY ? "Empty Transfer-Encoding" : "Invalid Transfer-Encoding";
}

/**
 * `true` when `src[p, e)` holds an HTAB. The parser applies it to the OWS
 * trimmed after a Content-Length or Transfer-Encoding value: llhttp rejects
 * an HTAB there, so tsgi does too (→ 400).
 */
export function hasTab(src: Uint8Array, p: number, e: number): boolean {
  for (; p < e; p++) if (src[p] === HTAB) return true;
  return false;
}

// ---------------------------------------------------------------------------
// Connection, Expect

/** {@link connectionTokens} bit: `close`. */
export const CONN_CLOSE = 1;
/** {@link connectionTokens} bit: `keep-alive`. */
export const CONN_KEEP_ALIVE = 2;
/** {@link connectionTokens} bit: `upgrade`. */
export const CONN_UPGRADE = 4;

/**
 * The connection options of one Connection field value `src[p, e)` (RFC
 * 9112 §9.3, RFC 9110 §7.6.1: `#connection-option`, case-insensitive, empty
 * elements ignored) that matter to the parser: {@link CONN_CLOSE},
 * {@link CONN_KEEP_ALIVE}, {@link CONN_UPGRADE}, or'd; other options are
 * ignored. The bits of several Connection lines are or'd by the caller.
 */
export function connectionTokens(src: Uint8Array, p: number, e: number): number {
  let r = 0;
  while (p < e) {
    let c = src[p];
    while (p < e && ((c = src[p]) === SP || c === HTAB || c === COMMA)) p++;
    const s = p;
    while (p < e && src[p] !== COMMA) p++;
    let t = p;
    while (t > s && ((c = src[t - 1]) === SP || c === HTAB)) t--;
    const n = t - s;
    if (n === 5 && equalsLower(src, s, V_CLOSE)) r |= CONN_CLOSE;
    else if (n === 10 && equalsLower(src, s, V_KEEP_ALIVE)) r |= CONN_KEEP_ALIVE;
    else if (n === 7 && equalsLower(src, s, V_UPGRADE)) r |= CONN_UPGRADE;
  }
  return r;
}

/** {@link expectations}: the value lists `100-continue` and nothing else. */
export const EXPECT_CONTINUE = 1;
/** {@link expectations}: the value lists an expectation other than `100-continue`. */
export const EXPECT_OTHER = 2;

/**
 * What an Expect field value `src[p, e)` asks (RFC 9110 §10.1.1): a list
 * whose empty elements are ignored (§5.6.1.2); {@link EXPECT_OTHER} when an
 * element is not `100-continue` (case-insensitive), else
 * {@link EXPECT_CONTINUE} when one is, else 0.
 */
export function expectations(src: Uint8Array, p: number, e: number): number {
  let found = 0;
  let i = p;
  while (i < e) {
    while (i < e && (src[i] === SP || src[i] === HTAB || src[i] === COMMA)) i++;
    if (i === e) break;
    let j = i;
    while (j < e && src[j] !== COMMA) j++;
    let end = j;
    while (end > i && (src[end - 1] === SP || src[end - 1] === HTAB)) end--;
    if (end - i !== 12 || !equalsLower(src, i, V_100_CONTINUE)) return EXPECT_OTHER;
    found = EXPECT_CONTINUE;
    i = j;
  }
  return found;
}

// ---------------------------------------------------------------------------
// Trailer section

/**
 * Fields refused in a trailer section (→ 400), as `[name as reported,
 * lowercase bytes]`: framing (Content-Length, Transfer-Encoding) and
 * connection control (Connection). RFC 9110 §6.5.1: a sender MUST NOT
 * generate a trailer field whose definition does not permit it, and these
 * are evaluated before the content; llhttp rejects the framing ones and acts
 * on a trailer `Connection: close`, tsgi never merges trailers. At most 31
 * entries (a bit each in a match set).
 */
export const TRAILER_REFUSED: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["Content-Length", N_CONTENT_LENGTH],
  ["Transfer-Encoding", N_TRANSFER_ENCODING],
  ["Connection", N_CONNECTION],
];
/** The match set of every {@link TRAILER_REFUSED} entry: where a trailer field name starts. */
export const TRAILER_ALL = (1 << TRAILER_REFUSED.length) - 1;

/**
 * `match` (bit k: entry k of {@link TRAILER_REFUSED}) narrowed to the names
 * whose byte `k` is the tchar `c`, case-insensitively. A name of length `n`
 * is refused when its match set still holds an entry of length `n` at the
 * colon.
 */
export function trailerNameMatch(match: number, k: number, c: number): number {
  const lc = c | 0x20; // the names are lowercase letters and "-"; no other tchar maps onto one
  for (let b = 0; b < TRAILER_REFUSED.length; b++) {
    const n = TRAILER_REFUSED[b]![1];
    if ((match & (1 << b)) !== 0 && (k >= n.length || n[k] !== lc)) match &= ~(1 << b);
  }
  return match;
}
