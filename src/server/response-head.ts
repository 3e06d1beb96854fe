/**
 * Serializing a response's status line and header section (RFC 9112 §4,
 * §5) into bytes, with a small cache: most applications answer many
 * requests with the same status and header list, so the bytes of a recent
 * head are reused when every input is equal (compared by value, most often
 * by identity of the app's string literals), instead of building a string
 * and encoding it again for every response.
 * @module
 */
import { httpDate } from "../http/date.ts";
import { statusLine } from "../http/status.ts";
import { ownCopy } from "../http/intern.ts";
import type { ResponseHeaders } from "../spec.ts";
import { eqLower, isHopByHopField } from "../gateway/hop-by-hop.ts";

export { eqLower };

const CRLF = "\r\n";

/** `Connection` field the server adds. */
export const enum ConnectionField {
  None = 0,
  Close = 1,
  KeepAlive = 2,
}

/** Everything a serialized head depends on besides the app's status and headers. */
interface Entry {
  proto: string;
  status: string;
  /** The app's header list, flat `[name, value, ...]`, as given. */
  fields: string[];
  capitalize: boolean;
  date: string | null;
  server: string | null;
  /** The status line and every field line before the framing fields (up to `Server`), as text. */
  prefix: string;
  /** A 426 whose app sent `Upgrade` ({@link upgradeRequired}). */
  upgrade: boolean;
  /** The framing the entry's {@link bytes} were made for (the tail after {@link prefix}). */
  length: number;
  chunked: boolean;
  connection: ConnectionField;
  /** The whole head for that framing, encoded the first time it was asked for again (`null` until then). */
  bytes: Uint8Array | null;
}

/** Heads kept (most recent first replaced round-robin). */
const CACHE_ENTRIES = 8;
/** Heads with more header lines than this, or longer than {@link MAX_CACHED_BYTES}, are not cached. */
const MAX_CACHED_FIELDS = 32;
const MAX_CACHED_BYTES = 4096;

const cache: Entry[] = [];
let victim = 0;

/**
 * A response head: `proto status`, the app's header lines
 * except the framing fields the server sets itself and the hop-by-hop
 * fields (see {@link isServerField}), then
 * `Date` and `Server` when given, `Content-Length` when `length >= 0`,
 * `Transfer-Encoding: chunked` when `chunked`, `Connection` as asked, and the
 * empty line. As latin-1 text (the output queue copies it into its write
 * buffer) or, for a head asked for before with every input equal (most
 * often the same literals), cached bytes, which may be shared: never write
 * into them. A head that differs from a cached one only in its framing
 * fields (another `Content-Length`: a body of another size) reuses that
 * one's text up to `Server` (and is cached with it). Nothing is encoded for
 * a head asked for once, such as one with a field value of its own (a
 * request id, an ETag) or a body size of its own.
 *
 * @param headers checked already (tokens and latin-1 field values).
 * @param capitalize write names as `Content-Type` (see {@link capitalizeName}).
 * @param date the `Date` value to add, or `null` (the app sent one).
 * @param server the `Server` value to add, or `null` (the app sent one).
 */
export function responseHead(
  proto: string,
  status: string,
  headers: ResponseHeaders,
  capitalize: boolean,
  date: string | null,
  server: string | null,
  length: number,
  chunked: boolean,
  connection: ConnectionField,
): Uint8Array | string {
  const n = headers.length;
  /** A cached head with the same text up to `Server` and other framing fields. */
  let like: Entry | null = null;
  for (let k = 0; k < cache.length; k++) {
    const e = cache[k]!;
    if (
      e.status !== status ||
      e.date !== date ||
      e.fields.length !== n * 2 ||
      e.server !== server ||
      e.proto !== proto ||
      e.capitalize !== capitalize
    ) {
      continue;
    }
    const f = e.fields;
    let i = 0;
    for (; i < n; i++) {
      const pair = headers[i]!;
      if (pair[0] !== f[2 * i] || pair[1] !== f[2 * i + 1]) break;
    }
    if (i !== n) continue;
    if (e.length !== length || e.chunked !== chunked || e.connection !== connection) {
      like ??= e;
      continue;
    }
    return (e.bytes ??= Buffer.from(e.prefix + framingFields(length, chunked, connection, e.upgrade), "latin1"));
  }
  if (like !== null) {
    const { fields, prefix, upgrade } = like;
    remember({ proto, status, fields, capitalize, date, server, prefix, upgrade, length, chunked, connection, bytes: null });
    return prefix + framingFields(length, chunked, connection, upgrade);
  }
  let s = `${proto} ${status}${CRLF}`;
  const upgrade = upgradeRequired(status, headers);
  for (let i = 0; i < n; i++) {
    const [name, value] = headers[i]!;
    if (isServerField(name) && !(upgrade && isUpgrade(name))) continue;
    s += `${capitalize ? capitalizeName(name) : name}: ${value}${CRLF}`;
  }
  if (date !== null) s += `Date: ${date}${CRLF}`;
  if (server !== null) s += `Server: ${server}${CRLF}`;
  const text = s + framingFields(length, chunked, connection, upgrade);
  if (n <= MAX_CACHED_FIELDS && text.length <= MAX_CACHED_BYTES) {
    const fields = new Array<string>(n * 2);
    for (let i = 0; i < n; i++) {
      fields[2 * i] = headers[i]![0];
      fields[2 * i + 1] = headers[i]![1];
    }
    remember({ proto, status, fields, capitalize, date, server, prefix: s, upgrade, length, chunked, connection, bytes: null });
  }
  return text;
}

/** Keep `entry` in the cache (the oldest replaced when it is full). */
function remember(entry: Entry): void {
  if (cache.length < CACHE_ENTRIES) cache.push(entry);
  else {
    cache[victim] = entry;
    victim = (victim + 1) % CACHE_ENTRIES;
  }
}

/** The head's end after `Server`: `Content-Length`, `Transfer-Encoding`, `Connection` as asked, and the empty line. */
function framingFields(length: number, chunked: boolean, connection: ConnectionField, upgrade: boolean): string {
  let s = "";
  if (length >= 0) s += `Content-Length: ${length}${CRLF}`;
  if (chunked) s += `Transfer-Encoding: chunked${CRLF}`;
  // RFC 9110 §7.8: whoever sends Upgrade sends the "upgrade" connection option with it.
  const option = upgrade ? ", Upgrade" : "";
  if (connection === ConnectionField.Close) s += `Connection: close${option}${CRLF}`;
  else if (connection === ConnectionField.KeepAlive) s += `Connection: keep-alive${option}${CRLF}`;
  else if (upgrade) s += `Connection: Upgrade${CRLF}`;
  return s + CRLF;
}

/**
 * A `426 Upgrade Required` whose app sent `Upgrade`: RFC 9110 §15.5.22 says
 * the server MUST send it there, so it is kept (with the `upgrade`
 * connection option), the one hop-by-hop field an app may set.
 */
export function upgradeRequired(status: string, headers: ResponseHeaders): boolean {
  if (!status.startsWith("426")) return false;
  for (const [name] of headers) if (isUpgrade(name)) return true;
  return false;
}

/** `Upgrade`, any case. */
export function isUpgrade(name: string): boolean {
  return name.length === 7 && eqLower(name, "upgrade");
}

/**
 * Fields never copied from the app's headers (any case): `Content-Length`,
 * which the server sets itself, and the hop-by-hop fields
 * ({@link isHopByHopField}: the framing and connection fields, and the others
 * PEP 3333 forbids applications). `Upgrade` on a 426 is the caller's
 * exception ({@link upgradeRequired}).
 */
export function isServerField(name: string): boolean {
  return name.length === 14 ? eqLower(name, "content-length") : isHopByHopField(name);
}

/** Capitalized names by name; at most {@link CAPITALIZED_MAX}, of up to {@link CAPITALIZED_NAME_MAX} characters. */
const capitalized = new Map<string, string>();
const CAPITALIZED_MAX = 1024;
/**
 * Longest name {@link capitalized} keeps (characters), as the environ key
 * cache: an app may name fields after what a client sent (an echo route, a
 * proxy), and a name may be as long as the response head.
 */
const CAPITALIZED_NAME_MAX = 64;

/**
 * `content-type` → `Content-Type` (eventlet `capitalize_response_headers`):
 * each `-`-separated word with its first character upper case and the rest
 * lower case. Names of up to 64 characters are cached (1,024 of them; a full
 * cache starts again).
 */
export function capitalizeName(name: string): string {
  let out = capitalized.get(name);
  if (out === undefined) {
    out = name
      .split("-")
      .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1).toLowerCase() : w))
      .join("-");
    if (name.length <= CAPITALIZED_NAME_MAX) {
      if (capitalized.size >= CAPITALIZED_MAX) capitalized.clear();
      // A copy: a name the app took from the request (tsgi.headers_raw) is a slice of its head's string, which would keep the head.
      capitalized.set(ownCopy(name), out);
    }
  }
  return out;
}

/**
 * The interim `HTTP/1.1 100 Continue` response (RFC 9110 §15.2.1), as
 * text, with the application's `headers` (checked when it set them) but
 * those {@link isServerField} drops: a 1xx carries no framing or
 * hop-by-hop fields (RFC 9110 §8.6). Names capitalized when `capitalize`
 * (eventlet `capitalize_response_headers`).
 */
export function continueHead(headers: ResponseHeaders, capitalize: boolean): string {
  let s = `HTTP/1.1 100 Continue${CRLF}`;
  for (const [name, value] of headers) if (!isServerField(name)) s += `${capitalize ? capitalizeName(name) : name}: ${value}${CRLF}`;
  return s + CRLF;
}

/**
 * A response the server makes itself (a 4xx/5xx for a request it could not
 * accept, or a connection over `maxConnections`): the status line, a plain
 * text body `"<status line>: <message>\n"`, its `Content-Length`,
 * `Connection: close`, `Date` and `Server` (none when `server` is `""`). `message` is ASCII.
 * @param head the answer is to a HEAD request: the same header section, no
 *   body (RFC 9110 §9.3.2). Default false.
 * @param proto the HTTP-version of the status line. Default `"HTTP/1.1"`.
 * @returns the whole response, and the body bytes sent (for the access log).
 */
export function errorResponse(
  status: number,
  message: string,
  server: string,
  head = false,
  proto = "HTTP/1.1",
): { text: string; bodyLength: number } {
  const line = statusLine(status);
  const body = `${line}: ${message}\n`;
  return {
    text: `${proto} ${line}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}Content-Length: ${body.length}${CRLF}Connection: close${CRLF}Date: ${httpDate()}${CRLF}${server === "" ? "" : `Server: ${server}${CRLF}`}${CRLF}${head ? "" : body}`,
    bodyLength: head ? 0 : body.length,
  };
}
