/**
 * The request parser's size limits (RFC 9112 leaves them to the recipient:
 * §3 request-line, §5 field lines, §7.1.1 chunk-ext, §7.1.2 trailer section;
 * eventlet's `url_length_limit`, gevent 23.9's strict trailers): their shape
 * ({@link ParserLimits}), defaults ({@link DEFAULT_PARSER_LIMITS}) and the
 * check and sharing of the limits given to a parser ({@link resolveLimits}).
 * The parser itself (parser.ts) applies them byte by byte.
 * @module
 */

/** Size limits, all in bytes or counts. */
export interface ParserLimits {
  /**
   * Longest request-target in bytes; over it → 414 (eventlet `url_length_limit`).
   * A request-line longer than this + 64 bytes is also answered 414, as soon
   * as those bytes arrive. Default 8192.
   */
  maxRequestTarget: number;
  /**
   * Largest header section in bytes, from the first byte of the request-line
   * through the CRLF of the empty line that ends the section; over it → 431,
   * checked as bytes arrive. Default 65536.
   */
  maxHeaderBytes: number;
  /** Most field lines in a header section; over it → 431. Default 100. */
  maxHeaderCount: number;
  /**
   * Largest chunk-ext on one chunk-size line in bytes (everything between the
   * chunk-size digits and the CR); over it → 400. Default 4096.
   */
  maxChunkExtBytes: number;
  /**
   * Largest trailer section in bytes (field lines and the final empty line,
   * CRLFs included); over it → 400 (gevent 23.9: strict trailers). Default 16384.
   */
  maxTrailerBytes: number;
}

/**
 * The defaults of {@link ParserLimits}. Frozen: the parsers made without
 * limits share the limits resolved from it once, so a default changed later
 * would reach only some parsers (writing it throws a `TypeError`). Give
 * other limits to the parser (`new RequestParser(handler, limits)`, the
 * server's options).
 */
export const DEFAULT_PARSER_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxRequestTarget: 8192,
  maxHeaderBytes: 65536,
  maxHeaderCount: 100,
  maxChunkExtBytes: 4096,
  maxTrailerBytes: 16384,
});

/** Empty lines (CRLF) skipped before a request-line (RFC 9112 §2.2); one more → 400. */
export const MAX_LEADING_EMPTY_LINES = 8;

/** How much longer than `maxRequestTarget` a whole request-line may be before it is answered 414. */
export const REQUEST_LINE_SLACK = 64;

function limit(name: keyof ParserLimits, given: Partial<ParserLimits> | undefined): number {
  const v = given?.[name] ?? DEFAULT_PARSER_LIMITS[name];
  if (typeof v !== "number" || !(v >= 0)) throw new RangeError(`ParserLimits.${name} must be a number >= 0, got ${String(v)}`);
  return v;
}

/**
 * The effective limits made from each `limits` object given, so that the
 * parsers of a server's connections share one (frozen) object rather than
 * making one per connection. Used again only while the given object still
 * holds the same values.
 */
const resolvedLimits = new WeakMap<Partial<ParserLimits>, Readonly<ParserLimits>>();
let defaultLimits: Readonly<ParserLimits> | null = null;

/** {@link DEFAULT_PARSER_LIMITS} with `given`'s entries, checked and frozen; the same object again for the same `given`. */
export function resolveLimits(given: Partial<ParserLimits> | undefined): Readonly<ParserLimits> {
  const known = given === undefined ? defaultLimits : resolvedLimits.get(given);
  if (known && (given === undefined || sameLimits(known, given))) return known;
  const l: Readonly<ParserLimits> = Object.freeze({
    maxRequestTarget: limit("maxRequestTarget", given),
    maxHeaderBytes: limit("maxHeaderBytes", given),
    maxHeaderCount: limit("maxHeaderCount", given),
    maxChunkExtBytes: limit("maxChunkExtBytes", given),
    maxTrailerBytes: limit("maxTrailerBytes", given),
  });
  if (given === undefined) defaultLimits = l;
  else resolvedLimits.set(given, l);
  return l;
}

/** `given`'s values (defaults where it has none) are `known`'s. */
function sameLimits(known: Readonly<ParserLimits>, given: Partial<ParserLimits>): boolean {
  const d = DEFAULT_PARSER_LIMITS;
  return (
    (given.maxRequestTarget ?? d.maxRequestTarget) === known.maxRequestTarget &&
    (given.maxHeaderBytes ?? d.maxHeaderBytes) === known.maxHeaderBytes &&
    (given.maxHeaderCount ?? d.maxHeaderCount) === known.maxHeaderCount &&
    (given.maxChunkExtBytes ?? d.maxChunkExtBytes) === known.maxChunkExtBytes &&
    (given.maxTrailerBytes ?? d.maxTrailerBytes) === known.maxTrailerBytes
  );
}
