/**
 * The incremental HTTP/1.1 request parser (RFC 9112), strict and safe against
 * request smuggling: it never accepts what llhttp's strict mode rejects
 * (except method tokens llhttp does not know and HTTP/1.2–1.9, both RFC 9110
 * §9.1/§6.2 requirements that do not touch framing; bench/diff-llhttp.ts
 * checks this), and it rejects several things RFC 9112 leaves to the
 * recipient's discretion (see the rules below).
 *
 * ## Use
 *
 * ```ts
 * const parser = new RequestParser({ onHead, onBody, onMessageComplete });
 * socket.data = (chunk) => {
 *   let rest = chunk;
 *   while (rest.length > 0) {
 *     const n = parser.execute(rest); // throws HttpError on bad input
 *     rest = rest.subarray(n);        // n < rest.length: a message completed; resume later
 *   }
 * };
 * ```
 *
 * `execute()` is a byte-driven state machine: it scans and validates each
 * byte once, with tight table-driven loops (no per-byte dispatch inside a
 * request-line, a field name or a field value), and never re-scans bytes of
 * an earlier call. Between calls it keeps only the head bytes received so far
 * while a head is incomplete (body bytes are never kept). Strings are made
 * when the head is complete: one latin-1 decode of the whole head, sliced
 * (none for a head identical to the parser's last keep-alive one: see below);
 * only then are the few fields that matter for framing (Host,
 * Content-Length, Transfer-Encoding, Connection, Expect, recognised by length
 * and a case-insensitive byte compare) interpreted, by the pure functions of
 * target.ts (request-target form, Host) and framing-fields.ts (the others,
 * and the fields refused in a trailer section). Every limit is checked at
 * the byte that exceeds it, so the same callbacks and the same error result
 * whether the input arrives whole, one byte at a time or split anywhere. It
 * stops right after a message completes (pipelining: the caller handles one
 * request at a time) and never reads past the array it was given.
 *
 * ## What is accepted (everything else throws {@link HttpError})
 *
 * - Up to 8 empty lines (CRLF) before the request-line are skipped
 *   (RFC 9112 §2.2); a 9th → 400.
 * - Every line ends in CRLF. A bare LF or bare CR anywhere in the head, a
 *   chunk-size line, after chunk-data or in the trailer section → 400.
 * - request-line = method SP request-target SP HTTP-version (RFC 9112 §3),
 *   exactly one SP each. method = 1*tchar. request-target = 1*(0x21–0x7E
 *   but `#`: a fragment is never sent) in one of the RFC 9112 §3.2 forms:
 *   origin-form (starts with `/`), asterisk-form (exactly `*`, OPTIONS
 *   only), absolute-form (`ALPHA+ "://"` first, as llhttp, then a non-empty
 *   authority, Host's syntax, without userinfo), or, for CONNECT and only
 *   there, authority-form (`host:port`, both required); another shape → 400.
 *   A Host field value that is not `uri-host [ ":" port ]` (RFC 3986: a
 *   bracketed IP-literal, an IPv6address, IPvFuture or RFC 6874's
 *   `IPv6address%25zone`, as `[zz]` and `[1.2.3.4]` are not; or reg-name
 *   chars and `%XX`; a port of digits) → 400 (RFC 9112 §3.2). Longer
 *   than `maxRequestTarget` → 414; a request-line longer than
 *   `maxRequestTarget + 64` bytes (before its CRLF) → 414 as soon as that many
 *   bytes arrived, or 501 when the method alone is that long (RFC 9112 §3).
 *   HTTP-version = `HTTP/` DIGIT `.` DIGIT, case-sensitive: major 1 is
 *   accepted (minor 0 → `"HTTP/1.0"`, minor 1–9 → `"HTTP/1.1"`, RFC 9110
 *   §6.2), another major → 505, any other shape (including HTTP/0.9 request
 *   lines without a version) → 400.
 * - field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). field-name
 *   = 1*tchar (whitespace before the colon, an empty name → 400). A line
 *   starting with SP/HTAB (obs-fold, or whitespace before the first field)
 *   → 400. field-value bytes are VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5);
 *   NUL, other controls, DEL, bare CR → 400. Values are delivered with
 *   leading and trailing SP/HTAB removed.
 * - The header section (request-line through the empty line that ends it,
 *   CRLFs included, leading empty lines excluded) larger than
 *   `maxHeaderBytes` → 431, as soon as the excess byte arrives; more than
 *   `maxHeaderCount` field lines → 431. At the same byte 431 is preferred to 414.
 * - Host (RFC 9112 §3.2): an HTTP/1.1 request without one → 400; more than one
 *   Host field line → 400.
 * - Content-Length (RFC 9112 §6.3): 1*DIGIT, at most `Number.MAX_SAFE_INTEGER`,
 *   in exactly one field line; any other form or a second line (even an
 *   identical one, as llhttp) → 400. An HTAB in the trailing whitespace of a
 *   Content-Length or Transfer-Encoding value → 400 (llhttp rejects it).
 * - Transfer-Encoding (RFC 9112 §6.1): with Content-Length → 400; in an
 *   HTTP/1.0 request → 400. All its field lines form one comma-separated
 *   list of tokens (case-insensitive, OWS around commas, no empty elements,
 *   no parameters → 400). The final coding must be `chunked` and appear once
 *   (else 400); other codings before it (`gzip, chunked`) → 501.
 * - Connection (RFC 9112 §9.3): `close` / `keep-alive` tokens over all
 *   Connection lines, case-insensitive; HTTP/1.1 persists unless `close`,
 *   HTTP/1.0 persists only with `keep-alive` and no `close`. Never after a
 *   CONNECT request or an upgrade request (a non-empty Upgrade field and a
 *   Connection `upgrade` token): tsgi never switches protocols, and llhttp
 *   stops parsing HTTP there. CONNECT with Content-Length > 0 or
 *   Transfer-Encoding → 400 (RFC 9110 §9.3.6: it has no content).
 * - Expect: `expectContinue` for HTTP/1.1 with Expect fields listing
 *   `100-continue` (case-insensitive; empty list elements ignored, RFC 9110
 *   §5.6.1.2); any other expectation in HTTP/1.1 → 417; any expectation in
 *   HTTP/1.0 is ignored (RFC 9110 §10.1.1).
 * - Chunked body (RFC 9112 §7.1): chunk-size = 1*HEXDIG (at most 16 digits and
 *   `Number.MAX_SAFE_INTEGER`); chunk-ext = *( ";" name [ "=" ( token /
 *   quoted-string ) ] ), at most `maxChunkExtBytes` bytes, ignored. The BWS
 *   that RFC 9112 §7.1.1 allows around `;` and `=` is rejected, like any
 *   whitespace on a chunk-size line (→ 400), as llhttp does: a sender MUST NOT
 *   generate BWS (RFC 9110 §5.6.3) and a size line read two ways is how
 *   chunked bodies are smuggled. chunk-data must be followed by exactly CRLF.
 *   After the last-chunk, trailer field lines are validated like header
 *   field lines (same 400 rules, no count limit), a Content-Length,
 *   Transfer-Encoding or Connection trailer field → 400 (RFC 9110 §6.5.1),
 *   the section may be at most `maxTrailerBytes` bytes (CRLFs included) →
 *   else 400, and the trailers are dropped (as gevent 23.9 does).
 * @module
 */
import { HttpError } from "./errors.ts";
import {
  BACKSLASH,
  bytes,
  COLON,
  CR,
  DQUOTE,
  EQUALS,
  equalsBytes,
  equalsLatin1,
  equalsLower,
  FIELD_VALUE,
  HEX,
  HTAB,
  latin1,
  LF,
  NOT_HEX,
  QDTEXT,
  QUOTED_PAIR,
  SEMI,
  SP,
  TARGET,
  TCHAR,
} from "./chars.ts";
import {
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  CONN_UPGRADE,
  connectionTokens,
  contentLength,
  contentLengthError,
  EXPECT_CONTINUE,
  EXPECT_OTHER,
  expectations,
  hasTab,
  N_CONNECTION,
  N_CONTENT_LENGTH,
  N_EXPECT,
  N_TRANSFER_ENCODING,
  N_UPGRADE,
  TE_CHUNKED_TWICE,
  TE_LAST_CHUNKED,
  TE_OTHER,
  TRAILER_ALL,
  TRAILER_REFUSED,
  trailerNameMatch,
  transferCodings,
  transferCodingsError,
} from "./framing-fields.ts";
import { internFieldName, internMethod } from "./intern.ts";
import { DEFAULT_PARSER_LIMITS, MAX_LEADING_EMPTY_LINES, REQUEST_LINE_SLACK, resolveLimits, type ParserLimits } from "./parser-limits.ts";
import { AFTER_VERSION, fieldNameEndError, NOT_A_VERSION, notVersionMessage, PROXY_PROTOCOL, PROXY_V1, PROXY_V2_TAIL, VERSION_CASE } from "./parser-messages.ts";
import { copyHead, sameHead, type RequestHead } from "./request-head.ts";
import { targetForm, validAuthority } from "./target.ts";

export { DEFAULT_PARSER_LIMITS, MAX_LEADING_EMPTY_LINES, REQUEST_LINE_SLACK, type ParserLimits, type RequestHead };

/** Receives what the parser recognises. */
export interface ParserHandler {
  /**
   * A complete head; called before any of its body. A head identical to the
   * last keep-alive one (byte for byte) comes as the same object as that
   * one, fields included, unless one of its values or fields was changed
   * since, when it comes as a new one (a property added to it is not looked
   * at, and stays): copy a head before changing it if an earlier one must
   * stay as it was (a list of heads kept may hold the same object twice).
   */
  onHead(head: RequestHead): void;
  /**
   * Body bytes, decoded from chunked framing; a view into the fed buffer
   * (zero-copy: copy it if you keep it past the callback and the caller
   * reuses its buffers). Never empty.
   */
  onBody(chunk: Uint8Array): void;
  /** The message's body (and trailer section) ended. Called right after `onHead` when there is no body. */
  onMessageComplete(): void;
}

// ---------------------------------------------------------------------------
// States. Head states are below B_LENGTH.

const H_START = 0; // before the request-line: skipping empty lines
const H_START_LF = 1; // CR of an empty leading line seen
const H_METHOD = 2;
const H_TARGET = 3;
const H_VERSION = 4; // `vIdx` bytes of "HTTP/x.y" CR matched
const H_LINE_START = 5; // start of a field line or of the final empty line
const H_NAME = 6;
const H_OWS = 7; // after the colon
const H_VALUE = 8;
const H_VALUE_LF = 9;
const H_END_LF = 10;

const B_LENGTH = 20; // Content-Length body
const C_SIZE_START = 21;
const C_SIZE = 22;
const C_SIZE_LF = 23;
const C_EXT_NAME_START = 25;
const C_EXT_NAME = 26;
const C_EXT_VALUE_START = 28;
const C_EXT_TOKEN = 29;
const C_EXT_QUOTED = 30;
const C_EXT_QUOTED_ESC = 31;
const C_EXT_VALUE_END = 32; // after the closing quote
const C_DATA = 33;
const C_DATA_CR = 34;
const C_DATA_LF = 35;
const T_LINE_START = 40;
const T_NAME = 41;
const T_VALUE = 42;
const T_VALUE_LF = 43;
const T_END_LF = 44;
const DEAD = 99;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_CHUNK_SIZE_DIGITS = 16;

/** "HTTP/" */
const HTTP_SLASH = bytes("HTTP/");
const N_HOST = bytes("host");
const N_HEAD = bytes("HEAD");
const N_CONNECT = bytes("CONNECT");
const N_OPTIONS = bytes("OPTIONS");

/**
 * The field-offset table of every parser's head while it is parsed in one
 * `execute()` call (see `RequestParser.tok`): 64 field lines' room (1040
 * bytes). One per process rather than one per connection: zeroed and
 * collected again for each connection, it was about a fifth of what a
 * connection-per-request client (Connection: close) made the server
 * allocate per connection.
 */
const SHARED_TOK = new Int32Array(4 * (64 + 1));

/**
 * An incremental, strict HTTP/1.1 request parser for one connection.
 *
 * Feed it bytes with {@link RequestParser.execute}; it calls the handler's
 * `onHead`, `onBody` (views into the fed array) and `onMessageComplete`
 * synchronously from inside `execute`. After a message completes it is ready
 * for the next one. After it throws an {@link HttpError} it is dead: every
 * further `execute` throws that error again (until {@link RequestParser.reset}).
 *
 * An exception thrown by a handler callback propagates out of `execute`
 * unchanged; the parser is then in an unspecified state and must be
 * `reset()` or discarded. Callbacks must not call `execute` re-entrantly.
 *
 * Memory per parser: a few numbers; once a head arrives in several pieces
 * (or has more than 64 field lines), a field-offset table of its own (16
 * bytes per field line; a head that arrives whole uses one shared by all
 * parsers) and a copy of the head bytes received so far (at most
 * `maxHeaderBytes`); after a keep-alive head of at most 1 KiB, that head's
 * text and a copy of its fields (strings a connection's last head holds
 * anyway), and once it came again a copy of its bytes, so that an
 * identical next head (wrk, a poller, an API client's loop) is compared
 * byte by byte and delivered again with no decode and no field
 * interpreted again: the object handed out last, when it is still as it
 * was handed out (its fields compared item by item, a few ns), else a new
 * copy. When it comes whole, at the start of a call's message, it is only
 * compared: not scanned either.
 */
export class RequestParser {
  /** The effective limits (defaults merged with those given). */
  readonly limits: Readonly<ParserLimits>;

  private readonly handler: ParserHandler;
  private readonly maxTarget: number;
  private readonly maxLine: number;
  private readonly maxHeaderBytes: number;
  private readonly maxHeaderCount: number;
  private readonly maxExt: number;
  private readonly maxTrailer: number;

  private state = H_START;
  private err: HttpError | null = null;

  // Head. Offsets in `tok` are relative to the first byte of the request-line:
  // tok[0] method end, tok[1] target start, tok[2] target end; field k (1-based)
  // at tok[4k .. 4k+3]: name start, name end, value start (after OWS), value
  // end (before CR; trailing OWS is trimmed when the head is built).
  // A head that arrives whole is tokenized in SHARED_TOK (it is read before
  // execute() calls back, so no other parser can write it in between); one
  // that spans calls, or has more than 64 field lines, in a table of this
  // parser's own, kept from then on as headBuf is.
  private tok: Int32Array = SHARED_TOK;
  private ownTok = false;
  private fieldCount = 0;
  private emptyLines = 0;
  private vIdx = 0;
  /** The HTTP-version's bytes so far spell `HTTP/` in another case (`http`): see {@link VERSION_CASE}. */
  private vCase = false;
  private major = 0;
  private minor = 0;
  /** Head bytes kept from earlier calls (the head so far, when it spans calls). */
  private headBuf: Uint8Array | null = null;
  /** See {@link RequestParser.isHead}. */
  private headMethod = false;
  private headLen = 0;
  /** Total head length, set when the head completes. */
  private headTotal = 0;
  /** See {@link RequestParser.rejectedFields}. */
  private rejected: string[] | null = null;
  /** The last head built, as text (`null` before one, or when it was longer than {@link MEMO_MAX_BYTES}): see {@link memoHead}. */
  private memoText: string | null = null;
  /**
   * {@link memoText}'s bytes, copied once an identical head came (the
   * client repeats itself): compared with a head's bytes in a third to half
   * the time of the text's characters (250 bytes: about 150 ns less).
   */
  private memoBytes: Uint8Array | null = null;
  /** The head built from {@link memoText}, its `fields` a copy of the ones handed out (which the application may change). */
  private memoHead: RequestHead | null = null;
  /**
   * The head last handed out for {@link memoText} (the one built, then any
   * copy of {@link memoHead}): handed out again for the next identical head
   * while it still equals {@link memoHead}, fields and all (see {@link deliver}).
   */
  private handed: RequestHead | null = null;

  // Body.
  private remaining = 0;
  private size = 0;
  private digits = 0;
  private ext = 0;
  private trailerBytes = 0;
  /** Length of the trailer field name read so far, and which {@link TRAILER_REFUSED} names it still matches (bit k: entry k). */
  private tnLen = 0;
  private tnMatch = 0;

  /**
   * @param handler receives heads, body views and completions.
   * @param limits overrides of {@link DEFAULT_PARSER_LIMITS}; `undefined` entries keep the default.
   * @throws RangeError when a limit is negative or not a number.
   */
  constructor(handler: ParserHandler, limits?: Partial<ParserLimits>) {
    this.handler = handler;
    const l = resolveLimits(limits);
    this.limits = l;
    this.maxTarget = l.maxRequestTarget;
    this.maxLine = l.maxRequestTarget + REQUEST_LINE_SLACK;
    this.maxHeaderBytes = l.maxHeaderBytes;
    this.maxHeaderCount = l.maxHeaderCount;
    this.maxExt = l.maxChunkExtBytes;
    this.maxTrailer = l.maxTrailerBytes;
  }

  /**
   * `true` between messages: no byte of a request-line has been received
   * since the last message completed (skipped leading empty lines do not
   * count) and the parser is not dead. A connection closed while `idle` ended
   * cleanly; otherwise it ended inside a request.
   */
  get idle(): boolean {
    return (this.state === H_START || this.state === H_START_LF) && this.err === null;
  }

  /**
   * The index, in the `data` of the `execute()` call that completed it,
   * just past the last request head this parser completed (its final LF):
   * where its body, or the next message, begins in that read. Set before
   * `onHead` runs, so a handler that refuses the head (throws from
   * `onHead`) can tell its bytes from the body bytes after it. 0 before
   * any head.
   */
  headEnd = 0;

  /** `true` after `onHead` and before `onMessageComplete` of the same message. */
  get inBody(): boolean {
    return this.state >= B_LENGTH && this.state !== DEAD;
  }

  /**
   * Body bytes of the current message not yet received: the rest of a
   * Content-Length body, `-1` inside a chunked body (unknown), else 0.
   */
  get bodyRemaining(): number {
    if (this.state === B_LENGTH) return this.remaining;
    return this.inBody ? -1 : 0;
  }

  /**
   * The request being parsed is a HEAD, as far as its request-line went:
   * `true` once its method `HEAD` and the SP after it arrived, until the
   * message completes or the parser is reset. For an error answer to a
   * request the parser rejects (no body to a HEAD, RFC 9110 §9.3.2), even
   * when its request-line was split across reads.
   */
  get isHead(): boolean {
    return this.headMethod;
  }

  /**
   * The field lines of a head the parser refused once it had all of them
   * (a missing or repeated Host, an unsupported expectation: 417, framing
   * fields in conflict, a request-target of the wrong form), flat
   * `[name, value, ...]` as in {@link RequestHead.fields}; `null` otherwise
   * (no error, or one found before the head was complete). For the access
   * log's `X-Forwarded-For` of the error answer.
   */
  get rejectedFields(): string[] | null {
    return this.rejected;
  }

  /** The error that killed the parser, or `null`. */
  get error(): HttpError | null {
    return this.err;
  }

  /** Forget any partial message and any error: the parser is as new (limits kept). */
  reset(): void {
    this.err = null;
    this.rejected = null;
    this.forgetHead();
    this.resetMessage();
    if (this.headBuf !== null && this.headBuf.length > 16384) this.headBuf = null;
  }

  /**
   * Parse `data` from index `start`. Stops right after a message completes,
   * so that the caller can handle one request at a time and resume with
   * `execute(data, n)` (or `execute(data.subarray(n))`).
   *
   * Callbacks run synchronously inside this call: `onHead` once the head is
   * complete and valid, `onBody` with views of `data` (never copies, never
   * empty), `onMessageComplete` at the end of the body (or right after
   * `onHead` when there is none: no Content-Length and no Transfer-Encoding,
   * or Content-Length 0).
   *
   * @param start index of the first byte to parse (default 0).
   * @returns the index just past the last byte consumed (with `start` 0, the
   *   number of bytes consumed): `data.length` unless a message completed
   *   before the end of `data`.
   * @throws HttpError (400, 414, 417, 431, 501 or 505, see the module
   *   documentation) on malformed or unacceptable input, and again on every
   *   later call; nothing else for any input.
   */
  execute(data: Uint8Array, start = 0): number {
    if (this.err !== null) throw this.err;
    const end = data.length;
    let i = start;
    if (i >= end) return end;
    if (this.state < B_LENGTH) {
      // The connection's last keep-alive head again, whole in this call: delivered without a scan.
      const memo = this.memoText;
      if (memo !== null && this.state === H_START && end - i >= memo.length && this.matchesMemo(data, i, memo)) return this.reuseHead(data, i + memo.length, end);
      i = this.parseHead(data, start, end);
      if (i < 0) return end;
      if (!this.finishHead(data, start, i)) return i;
    }
    return this.parseBody(data, i, end);
  }

  // -------------------------------------------------------------------------

  private fail(status: number, message: string): HttpError {
    const e = new HttpError(status, message);
    this.err = e;
    this.state = DEAD;
    return e;
  }

  private resetMessage(): void {
    this.headMethod = false;
    this.state = H_START;
    this.fieldCount = 0;
    this.emptyLines = 0;
    this.vIdx = 0;
    this.headLen = 0;
    this.remaining = 0;
  }

  private complete(): void {
    this.resetMessage();
    this.handler.onMessageComplete();
  }

  /**
   * Scan head bytes. Returns the index just past the head's final LF, or -1
   * when `data` ended first (everything consumed, head bytes kept).
   */
  private parseHead(data: Uint8Array, start: number, end: number): number {
    let i = start;
    let st = this.state;
    let fc = this.fieldCount;
    let tok = this.tok;
    // `base` is the index in `data` of the request-line's first byte
    // (before `start`, possibly negative, when it arrived in an earlier call); positions stored in
    // `tok` are `index - base`.
    let base = start - this.headLen;
    let hend = base + this.maxHeaderBytes; // first index past the header-size budget
    if (hend > end) hend = end;
    let rlEnd = base + this.maxLine; // first index past the request-line budget
    for (;;) {
      if (i >= end) {
        this.fieldCount = fc;
        this.state = st;
        if (st >= H_METHOD) {
          this.keepHead(data, base > start ? base : start, end);
          // The offsets so far must outlive this call: the next head parsed (any parser's) overwrites the shared table.
          if (!this.ownTok) this.ownTable(fc);
        }
        return -1;
      }
      if (st >= H_METHOD && i >= hend) throw this.fail(431, "Request header section too large");
      switch (st) {
        case H_START: {
          const c = data[i]!;
          if (c === CR) {
            st = H_START_LF;
            i++;
            continue;
          }
          if (c === LF) throw this.fail(400, "Bare LF before the request line");
          base = i;
          hend = i + this.maxHeaderBytes;
          if (hend > end) hend = end;
          rlEnd = i + this.maxLine;
          st = H_METHOD;
          continue;
        }
        case H_START_LF: {
          if (data[i] !== LF) throw this.fail(400, "Bare CR before the request line");
          i++;
          if (++this.emptyLines > MAX_LEADING_EMPTY_LINES) throw this.fail(400, "Too many empty lines before the request line");
          st = H_START;
          continue;
        }
        case H_METHOD:
        case H_TARGET: {
          if (st === H_METHOD) {
            const lim = rlEnd < hend ? rlEnd : hend;
            while (i < lim && TCHAR[data[i]!] === 1) i++;
            if (i >= end) continue;
            if (i === hend) throw this.fail(431, "Request header section too large");
            // RFC 9112 §3: a method longer than any the server implements → 501.
            if (i === rlEnd) throw this.fail(501, "Method too long: longer than any method this server implements");
            if (data[i] !== SP || i === base) throw this.lineFail("Invalid method", data, base, start, end);
            tok[0] = i - base;
            if (i - base === 4) this.headMethod = this.methodIsHead(data, base, start);
            i++;
            tok[1] = i - base;
            st = H_TARGET;
          }
          const tlim = base + tok[1]! + this.maxTarget;
          let lim = rlEnd < hend ? rlEnd : hend;
          if (tlim < lim) lim = tlim;
          while (i < lim && TARGET[data[i]!] === 1) i++;
          if (i >= end) continue;
          if (i === hend) throw this.fail(431, "Request header section too large");
          if (i === rlEnd) throw this.fail(414, "Request line too long");
          const c = data[i]!;
          if (c !== SP) {
            if (i === tlim && TARGET[c] === 1) throw this.fail(414, "Request-target too long");
            if ((c === CR || c === LF) && i > base + tok[1]!) throw this.lineFail("Request line without an HTTP-version (HTTP/0.9 is not supported)", data, base, start, end);
            throw this.fail(400, c === 0x23 ? "A fragment (#) in the request-target: clients never send one" : "Invalid character in request-target");
          }
          if (i - base === tok[1]!) throw this.fail(400, "Empty request-target");
          tok[2] = i - base;
          i++;
          this.vIdx = 0;
          this.vCase = false;
          st = H_VERSION;
          continue;
        }
        case H_VERSION: {
          const k = this.vIdx;
          if (
            k === 0 &&
            i + 9 < hend &&
            i + 7 < rlEnd &&
            data[i] === 0x48 &&
            data[i + 1] === 0x54 &&
            data[i + 2] === 0x54 &&
            data[i + 3] === 0x50 &&
            data[i + 4] === 0x2f &&
            data[i + 6] === 0x2e &&
            data[i + 8] === CR &&
            data[i + 9] === LF
          ) {
            const ma = data[i + 5]! - 0x30;
            const mi = data[i + 7]! - 0x30;
            if (ma >= 0 && ma <= 9 && mi >= 0 && mi <= 9) {
              i += 10;
              if (ma !== 1) throw this.fail(505, "HTTP version not supported");
              this.major = ma;
              this.minor = mi;
              st = H_LINE_START;
              continue;
            }
          }
          // One byte at a time (split input, or an error to pinpoint).
          const c = data[i]!;
          if (k < 9) {
            // the request-line's length does not count its CRLF
            if (i >= rlEnd && k < 8) throw this.fail(414, "Request line too long");
            if (k < 5) {
              if (c !== HTTP_SLASH[k]) {
                // The same letter in another case (`http/1.1`): told so at the `/`, unless what follows shows a word (`GET /a how HTTP/1.1`).
                if (k < 4 && (c | 0x20) === (HTTP_SLASH[k]! | 0x20)) this.vCase = true;
                // At the first byte, or after a lowercase start: most often a space inside the target (`GET /a b HTTP/1.1`, RFC 9112 §3.2).
                else throw this.lineFail(k === 0 ? notVersionMessage(c) : this.vCase ? NOT_A_VERSION : "Invalid HTTP version", data, base, start, end);
              } else if (k === 4 && this.vCase) throw this.fail(400, VERSION_CASE);
            } else if (k === 5 || k === 7) {
              if (c < 0x30 || c > 0x39) throw this.fail(400, "Invalid HTTP version");
              if (k === 5) this.major = c - 0x30;
              else this.minor = c - 0x30;
            } else if (k === 6) {
              if (c !== 0x2e) throw this.fail(400, "Invalid HTTP version");
            } else if (c !== CR) {
              throw this.fail(400, c === LF ? "Bare LF in the request line" : c === SP || c === HTAB ? AFTER_VERSION : "Invalid HTTP version");
            }
            this.vIdx = k + 1;
            i++;
            continue;
          }
          if (c !== LF) throw this.fail(400, "Bare CR in the request line");
          i++;
          if (this.major !== 1) throw this.fail(505, "HTTP version not supported");
          st = H_LINE_START;
          continue;
        }
        case H_LINE_START:
        case H_NAME:
        case H_OWS:
        case H_VALUE: {
          // One field line; a line that arrives whole goes straight through.
          if (st === H_LINE_START) {
            const c = data[i]!;
            if (TCHAR[c] !== 1) {
              if (c === CR) {
                i++;
                st = H_END_LF;
                continue;
              }
              if (c === SP || c === HTAB) throw this.fail(400, "Whitespace at the start of a header line (obs-fold)");
              if (c === LF) throw this.fail(400, "Bare LF in the header section");
              throw this.fail(400, "Invalid header name");
            }
            if (++fc > this.maxHeaderCount) throw this.fail(431, "Too many header fields");
            const f = fc << 2;
            if (f + 4 > tok.length) tok = this.growTok(f + 4);
            tok[f] = i - base;
            i++;
            st = H_NAME;
          }
          const f = fc << 2;
          if (st === H_NAME) {
            while (i < hend && TCHAR[data[i]!] === 1) i++;
            if (i >= hend) continue;
            const c = data[i]!;
            if (c !== COLON) {
              throw this.fail(400, fieldNameEndError("header", c));
            }
            tok[f + 1] = i - base;
            i++;
            st = H_OWS;
          }
          if (st === H_OWS) {
            let c = 0;
            while (i < hend && ((c = data[i]!) === SP || c === HTAB)) i++;
            if (i >= hend) continue;
            tok[f + 2] = i - base;
            st = H_VALUE;
          }
          // H_VALUE. Trailing OWS is trimmed when the head is built.
          while (i < hend && FIELD_VALUE[data[i]!] === 1) i++;
          tok[f + 3] = i - base;
          if (i >= hend) continue;
          const c = data[i]!;
          if (c !== CR) throw this.fail(400, c === LF ? "Bare LF in the header section" : "Invalid character in header value");
          i++;
          if (i < hend && data[i] === LF) {
            i++;
            st = H_LINE_START;
          } else {
            st = H_VALUE_LF;
          }
          continue;
        }
        case H_VALUE_LF: {
          if (data[i] !== LF) throw this.fail(400, "Bare CR in the header section");
          i++;
          st = H_LINE_START;
          continue;
        }
        case H_END_LF: {
          if (data[i] !== LF) throw this.fail(400, "Bare CR in the header section");
          i++;
          this.fieldCount = fc;
          this.headTotal = i - base;
          return i;
        }
        default:
          throw this.fail(500, "Parser state corrupted");
      }
    }
  }

  private growTok(need: number): Int32Array {
    const t = new Int32Array(Math.max(need, this.tok.length * 2));
    t.set(this.tok);
    this.tok = t;
    this.ownTok = true;
    return t;
  }

  /** Move the head's offsets so far (request-line and `fc` field lines) from the shared table to one of this parser's own. */
  private ownTable(fc: number): void {
    // 17 field lines' room (272 bytes); grown as needed.
    this.tok = SHARED_TOK.slice(0, 4 * Math.max(fc + 1, 17));
    this.ownTok = true;
  }

  /**
   * A 400 for a malformed request-line starting at `data[base]` (before
   * `start`: in the kept head bytes; bytes from `end` on not here yet),
   * with {@link PROXY_PROTOCOL} for `message` when the line is a PROXY
   * protocol header. Off the hot path: only a request already refused.
   * A v2 header is refused at its NUL, maybe before the rest of its
   * signature has arrived (a read that ends inside it): after exactly the
   * signature's two empty lines, the bytes here matching its start are
   * enough (a line that starts with a NUL after no empty line, such as a
   * PostgreSQL client's startup message, keeps `message`).
   */
  private lineFail(message: string, data: Uint8Array, base: number, start: number, end: number): HttpError {
    const kept = this.headBuf;
    const startsWith = (bytes: readonly number[], cutOk = false) =>
      bytes.every((b, k) => {
        const at = base + k;
        if (at >= end) return cutOk; // not here yet
        return (at >= start ? data[at] : kept?.[at - base]) === b;
      });
    return this.fail(400, startsWith(PROXY_V1) || startsWith(PROXY_V2_TAIL, this.emptyLines === 2) ? PROXY_PROTOCOL : message);
  }

  /** Whether the 4-byte method starting at `data[base]` (before `start`: in the kept head bytes) is `HEAD`. */
  private methodIsHead(data: Uint8Array, base: number, start: number): boolean {
    const kept = this.headBuf;
    for (let k = 0; k < 4; k++) {
      const at = base + k;
      const c = at >= start ? data[at]! : kept![at - base];
      if (c !== N_HEAD[k]) return false;
    }
    return true;
  }

  /** Append `data[from, to)` to the kept head bytes. */
  private keepHead(data: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    const need = this.headLen + n;
    let buf = this.headBuf;
    if (buf === null || buf.length < need) {
      const grown = new Uint8Array(Math.max(need, buf === null ? 1024 : buf.length * 2));
      if (buf !== null && this.headLen > 0) grown.set(buf.subarray(0, this.headLen));
      this.headBuf = buf = grown;
    }
    buf.set(data.subarray(from, to), this.headLen);
    this.headLen = need;
  }

  /**
   * Build and deliver the head that ends just before `data[p]` (this call
   * began at `data[start]`). Returns `true` when a body follows, `false`
   * when the message is already complete.
   */
  private finishHead(data: Uint8Array, start: number, p: number): boolean {
    this.headEnd = p;
    try {
      return this.buildHead(data, start, p);
    } catch (error) {
      // Every field line is tokenized by now: keep them for the error answer's log line.
      if (error === this.err) this.rejected = this.headFields(this.headLen > 0 ? this.headBuf! : data, this.headLen > 0 ? 0 : p - this.headTotal);
      throw error;
    }
  }

  /** The field lines of the tokenized head at `src[off...]`, trimmed as {@link buildHead} trims them. */
  private headFields(src: Uint8Array, off: number): string[] {
    const tok = this.tok;
    const fc = this.fieldCount;
    const s = latin1(src, off, off + this.headTotal);
    const fields = new Array<string>(fc * 2);
    for (let k = 1, j = 0; k <= fc; k++) {
      const f = k << 2;
      const vs = tok[f + 2]!;
      let ve = tok[f + 3]!;
      while (ve > vs && (src[off + ve - 1] === SP || src[off + ve - 1] === HTAB)) ve--;
      fields[j++] = s.slice(tok[f]!, tok[f + 1]!);
      fields[j++] = s.slice(vs, ve);
    }
    return fields;
  }

  /** {@link finishHead}'s work: check the tokenized head and deliver it. */
  private buildHead(data: Uint8Array, start: number, p: number): boolean {
    const len = this.headTotal;
    let src: Uint8Array;
    let off: number;
    if (this.headLen > 0) {
      this.keepHead(data, start, p);
      src = this.headBuf as Uint8Array;
      off = 0;
    } else {
      src = data;
      off = p - len;
    }
    const memo = this.memoText;
    if (memo !== null && memo.length === len && this.matchesMemo(src, off, memo)) return this.deliver(this.memoHead!, true);
    const tok = this.tok;
    const fc = this.fieldCount;
    const s = latin1(src, off, off + len);
    const http11 = this.minor !== 0;
    const fields = new Array<string>(fc * 2);
    let length = -1;
    let clCount = 0;
    let hosts = 0;
    let te = false;
    let codings = 0;
    let conn = 0;
    let upgrade = false;
    let expectContinue = false;
    let expectOther = false;
    const connect = tok[0] === 7 && equalsBytes(src, off, N_CONNECT);
    const options = tok[0] === 7 && equalsBytes(src, off, N_OPTIONS);
    if (!targetForm(src, off + tok[1]!, off + tok[2]!, connect, options)) {
      throw this.fail(400, "Invalid request-target form");
    }
    for (let k = 1, j = 0; k <= fc; k++) {
      const f = k << 2;
      const ns = tok[f]!;
      const ne = tok[f + 1]!;
      const vs = tok[f + 2]!;
      let ve = tok[f + 3]!;
      while (ve > vs) {
        const c = src[off + ve - 1]!;
        if (c !== SP && c !== HTAB) break;
        ve--;
      }
      fields[j++] = internFieldName(src, off + ns, ne - ns) ?? s.slice(ns, ne);
      fields[j++] = s.slice(vs, ve);
      switch (ne - ns) {
        case 4:
          if (equalsLower(src, off + ns, N_HOST)) {
            hosts++;
            // RFC 9112 §3.2: an invalid Host field value → 400.
            if (!validAuthority(src, off + vs, off + ve, false)) throw this.fail(400, "Invalid Host field value");
          }
          break;
        case 7:
          if (ve > vs && equalsLower(src, off + ns, N_UPGRADE)) upgrade = true;
          break;
        case 6:
          if (equalsLower(src, off + ns, N_EXPECT)) {
            const e = expectations(src, off + vs, off + ve);
            if (e === EXPECT_OTHER) expectOther = true;
            else if (e === EXPECT_CONTINUE) expectContinue = true;
          }
          break;
        case 10:
          if (equalsLower(src, off + ns, N_CONNECTION)) conn |= connectionTokens(src, off + vs, off + ve);
          break;
        case 14:
          if (equalsLower(src, off + ns, N_CONTENT_LENGTH)) {
            if (++clCount > 1) throw this.fail(400, "Multiple Content-Length fields");
            if (hasTab(src, off + ve, off + tok[f + 3]!)) throw this.fail(400, "Invalid Content-Length");
            length = contentLength(src, off + vs, off + ve);
            if (length < 0) throw this.fail(400, contentLengthError(length));
          }
          break;
        case 17:
          if (equalsLower(src, off + ns, N_TRANSFER_ENCODING)) {
            te = true;
            if (hasTab(src, off + ve, off + tok[f + 3]!)) throw this.fail(400, "Invalid Transfer-Encoding");
            codings = transferCodings(src, off + vs, off + ve, codings);
            if (codings < 0) throw this.fail(400, transferCodingsError(codings));
          }
          break;
      }
    }
    if (hosts > 1) throw this.fail(400, "Multiple Host fields");
    if (hosts === 0 && http11) throw this.fail(400, "Missing Host field");
    // RFC 9110 §10.1.1: an expectation other than 100-continue may be answered 417 (HTTP/1.0's are ignored).
    if (expectOther && http11) throw this.fail(417, "Unsupported expectation: only 100-continue is supported");
    if (te) {
      if (!http11) throw this.fail(400, "Transfer-Encoding in an HTTP/1.0 request");
      if (clCount > 0) throw this.fail(400, "Both Transfer-Encoding and Content-Length");
      if ((codings & TE_LAST_CHUNKED) === 0) throw this.fail(400, "Final transfer coding is not chunked");
      if ((codings & TE_CHUNKED_TWICE) !== 0) throw this.fail(400, "chunked applied more than once");
      if ((codings & TE_OTHER) !== 0) throw this.fail(501, "Transfer coding not implemented");
      length = -1;
    }
    // RFC 9110 §9.3.6: a CONNECT request has no content; what follows its head
    // is tunnel data (llhttp), so tsgi answers it and closes (below).
    if (connect && (te || length > 0)) throw this.fail(400, "CONNECT request with content");
    // tsgi never switches protocols: after CONNECT or an upgrade request
    // (Upgrade + Connection: upgrade, where llhttp stops parsing HTTP) the
    // connection closes after the response (RFC 9110 §7.8 lets the server
    // ignore Upgrade; closing keeps a proxy that tunnels too early in step).
    const close = (conn & CONN_CLOSE) !== 0 || connect || (upgrade && (conn & CONN_UPGRADE) !== 0);
    const head: RequestHead = {
      method: internMethod(src, off, tok[0]!) ?? s.slice(0, tok[0]!),
      target: s.slice(tok[1]!, tok[2]!),
      version: http11 ? "HTTP/1.1" : "HTTP/1.0",
      fields,
      contentLength: length,
      chunked: te,
      keepAlive: http11 ? !close : !close && (conn & CONN_KEEP_ALIVE) !== 0,
      expectContinue: expectContinue && http11,
    };
    // A keep-alive request's head may come again on this connection (wrk, a poller, an API client's loop).
    if (len <= MEMO_MAX_BYTES && head.keepAlive) this.remember(s, head);
    else this.forgetHead();
    return this.deliver(head, false);
  }

  /** Drop the kept head (its text, object and fields: up to {@link MEMO_MAX_BYTES} of strings). */
  private forgetHead(): void {
    this.memoText = null;
    this.memoBytes = null;
    this.memoHead = null;
    this.handed = null;
  }

  /** Keep `head`, built from `text`, for an identical next head (see {@link memoHead}): copied into the one kept before, if any. */
  private remember(text: string, head: RequestHead): void {
    const m = this.memoHead;
    if (m === null) this.memoHead = copyHead(head);
    else {
      m.method = head.method;
      m.target = head.target;
      m.version = head.version;
      const from = head.fields;
      const to = m.fields;
      if (to.length !== from.length) to.length = from.length;
      for (let k = 0; k < from.length; k++) to[k] = from[k]!;
      m.contentLength = head.contentLength;
      m.chunked = head.chunked;
      m.keepAlive = head.keepAlive;
      m.expectContinue = head.expectContinue;
    }
    this.memoText = text;
    this.memoBytes = null;
    this.handed = head;
  }

  /** Whether `buf[off, off + text.length)` holds {@link memoText} (`text`): from the second time on, compared with {@link memoBytes}. */
  private matchesMemo(buf: Uint8Array, off: number, text: string): boolean {
    const bytes = this.memoBytes;
    if (bytes !== null) return equalsBytes(buf, off, bytes);
    if (!equalsLatin1(buf, off, text)) return false;
    this.memoBytes = buf.slice(off, off + text.length);
    return true;
  }

  /**
   * {@link execute}'s way for a head identical to {@link memoText} that came
   * whole from the start of a message (the parser between messages, no
   * bytes kept, and not after empty lines, which the kept text does not
   * begin with): it is delivered as {@link buildHead} delivers it on a
   * match, without {@link parseHead}'s scan, since every check of the scan
   * and of the build is a function of the head's bytes and this parser's
   * limits (fixed when it was made), which those same bytes passed. What
   * the scan leaves for later is set as it would: {@link isHead} (a body to
   * a HEAD keeps it until the message completes).
   * @param at the index just past the head in `data`.
   * @returns as {@link execute}.
   */
  private reuseHead(data: Uint8Array, at: number, end: number): number {
    const head = this.memoHead!;
    this.headEnd = at;
    this.headMethod = head.method === "HEAD";
    if (!this.deliver(head, true)) return at;
    return this.parseBody(data, at, end);
  }

  /**
   * Deliver `head` (built, or {@link memoHead}'s when `memo`) and move on to
   * its body. For `memo`, the head handed out last ({@link handed}) is handed
   * out again when nobody changed it since (the application may change the
   * fields, `tsgi.headers_raw`, though it must not); else a new copy of
   * {@link memoHead} with its own fields, which is handed out from then on.
   */
  private deliver(built: RequestHead, memo: boolean): boolean {
    let head = built;
    if (memo) {
      const last = this.handed;
      head = last !== null && sameHead(last, built) ? last : (this.handed = copyHead(built));
    }
    const length = head.contentLength;
    const te = head.chunked;
    this.headLen = 0;
    if (this.headBuf !== null && this.headBuf.length > 16384) this.headBuf = null;
    let body = true;
    if (te) {
      this.state = C_SIZE_START;
    } else if (length > 0) {
      this.state = B_LENGTH;
      this.remaining = length;
    } else {
      body = false;
      this.resetMessage();
    }
    this.handler.onHead(head);
    if (!body) this.handler.onMessageComplete();
    return body;
  }

  /** Parse body bytes from `data[i]`; returns the bytes consumed in total. */
  private parseBody(data: Uint8Array, i: number, end: number): number {
    while (i < end) {
      switch (this.state) {
        case B_LENGTH: {
          const rem = this.remaining;
          if (end - i < rem) {
            this.remaining = rem - (end - i);
            this.handler.onBody(data.subarray(i, end));
            return end;
          }
          const stop = i + rem;
          this.resetMessage();
          this.handler.onBody(data.subarray(i, stop));
          this.handler.onMessageComplete();
          return stop;
        }
        case C_DATA: {
          const rem = this.remaining;
          if (end - i < rem) {
            this.remaining = rem - (end - i);
            this.handler.onBody(data.subarray(i, end));
            return end;
          }
          this.remaining = 0;
          this.state = C_DATA_CR;
          const view = data.subarray(i, i + rem);
          i += rem;
          this.handler.onBody(view);
          continue;
        }
        case C_DATA_CR:
          if (data[i] !== CR) throw this.fail(400, "Expected CRLF after chunk data");
          i++;
          this.state = C_DATA_LF;
          continue;
        case C_DATA_LF:
          if (data[i] !== LF) throw this.fail(400, "Expected CRLF after chunk data");
          i++;
          this.state = C_SIZE_START;
          continue;
        case C_SIZE_START: {
          const h = HEX[data[i]!]!;
          if (h === NOT_HEX) throw this.fail(400, "Invalid chunk size");
          this.size = h;
          this.digits = 1;
          i++;
          this.state = C_SIZE;
          continue;
        }
        case C_SIZE: {
          let size = this.size;
          let digits = this.digits;
          let c = 0;
          while (i < end) {
            c = data[i]!;
            const h = HEX[c]!;
            if (h === NOT_HEX) break;
            if (++digits > MAX_CHUNK_SIZE_DIGITS) throw this.fail(400, "Chunk size too long");
            size = size * 16 + h;
            if (size > MAX_SAFE) throw this.fail(400, "Chunk size too large");
            i++;
          }
          this.size = size;
          this.digits = digits;
          if (i >= end) return end;
          i++;
          if (c === CR) {
            this.state = C_SIZE_LF;
            continue;
          }
          if (c === SEMI) this.state = C_EXT_NAME_START;
          else if (c === SP || c === HTAB) throw this.fail(400, "Whitespace after chunk size");
          else throw this.fail(400, c === LF ? "Bare LF after chunk size" : "Invalid chunk size");
          this.ext = 1;
          if (this.maxExt < 1) throw this.fail(400, "Chunk extension too long");
          continue;
        }
        case C_SIZE_LF:
          if (data[i] !== LF) throw this.fail(400, "Bare CR after chunk size");
          i++;
          if (this.size === 0) {
            this.state = T_LINE_START;
            this.trailerBytes = 0;
          } else {
            this.remaining = this.size;
            this.state = C_DATA;
          }
          continue;
        case T_LINE_START:
        case T_NAME:
        case T_VALUE:
        case T_VALUE_LF:
        case T_END_LF: {
          const p = this.parseTrailers(data, i, end);
          if (p < 0) return end;
          this.complete();
          return p;
        }
        default: {
          // chunk-ext states, one byte at a time
          const st = this.state;
          if (st < C_EXT_NAME_START || st > C_EXT_VALUE_END) return i; // a callback reset the parser
          const c = data[i]!;
          const next = extNext(st, c);
          if (next < 0) {
            throw this.fail(400, c === LF ? "Bare LF in chunk extension" : c === SP || c === HTAB ? "Whitespace in chunk extension" : "Invalid chunk extension");
          }
          i++;
          this.state = next;
          if (next !== C_SIZE_LF && ++this.ext > this.maxExt) throw this.fail(400, "Chunk extension too long");
          continue;
        }
      }
    }
    return end;
  }

  /** Validate and drop the trailer section. Returns the index past its final LF, or -1 when `data` ended first. */
  private parseTrailers(data: Uint8Array, i: number, end: number): number {
    const start = i;
    // first index past the trailer budget
    let tend = i + (this.maxTrailer - this.trailerBytes);
    if (tend > end) tend = end;
    let st = this.state;
    let tnLen = this.tnLen;
    let tnMatch = this.tnMatch;
    for (;;) {
      if (i >= end) {
        this.trailerBytes += i - start;
        this.state = st;
        this.tnLen = tnLen;
        this.tnMatch = tnMatch;
        return -1;
      }
      if (i >= tend) throw this.fail(400, "Trailer section too large");
      switch (st) {
        case T_LINE_START: {
          const c = data[i]!;
          if (TCHAR[c] === 1) {
            st = T_NAME;
            tnLen = 1;
            tnMatch = trailerNameMatch(TRAILER_ALL, 0, c);
          } else if (c === CR) st = T_END_LF;
          else if (c === SP || c === HTAB) throw this.fail(400, "Whitespace at the start of a trailer line (obs-fold)");
          else if (c === LF) throw this.fail(400, "Bare LF in the trailer section");
          else throw this.fail(400, "Invalid trailer field name");
          i++;
          continue;
        }
        case T_NAME: {
          let c = 0;
          while (i < tend && TCHAR[(c = data[i]!)] === 1) {
            if (tnMatch !== 0) tnMatch = trailerNameMatch(tnMatch, tnLen, c);
            tnLen++;
            i++;
          }
          if (i >= end || i >= tend) continue;
          if (c !== COLON) {
            throw this.fail(400, fieldNameEndError("trailer", c));
          }
          if (tnMatch !== 0) {
            for (let k = 0; k < TRAILER_REFUSED.length; k++) {
              if ((tnMatch & (1 << k)) !== 0 && TRAILER_REFUSED[k]![1].length === tnLen) {
                throw this.fail(400, `${TRAILER_REFUSED[k]![0]} in the trailer section`);
              }
            }
          }
          i++;
          st = T_VALUE;
          continue;
        }
        case T_VALUE: {
          while (i < tend && FIELD_VALUE[data[i]!] === 1) i++;
          if (i >= end || i >= tend) continue;
          const c = data[i]!;
          if (c !== CR) throw this.fail(400, c === LF ? "Bare LF in the trailer section" : "Invalid character in trailer value");
          i++;
          st = T_VALUE_LF;
          continue;
        }
        case T_VALUE_LF:
          if (data[i] !== LF) throw this.fail(400, "Bare CR in the trailer section");
          i++;
          st = T_LINE_START;
          continue;
        default: // T_END_LF
          if (data[i] !== LF) throw this.fail(400, "Bare CR in the trailer section");
          return i + 1;
      }
    }
  }
}

/** Heads up to this long (bytes) are remembered to be reused by an identical next head: see {@link RequestParser.deliver}. */
const MEMO_MAX_BYTES = 1024;

/**
 * The chunk-ext state after byte `c` in state `st`, or -1 when `c` is not
 * allowed there: RFC 9112 §7.1.1 without its BWS (whitespace anywhere on a
 * chunk-size line → 400, as llhttp; RFC 9110 §5.6.3: a sender MUST NOT
 * generate BWS).
 */
function extNext(st: number, c: number): number {
  switch (st) {
    case C_EXT_NAME_START:
      return TCHAR[c] === 1 ? C_EXT_NAME : -1;
    case C_EXT_NAME:
      if (TCHAR[c] === 1) return st;
      if (c === EQUALS) return C_EXT_VALUE_START;
      if (c === SEMI) return C_EXT_NAME_START;
      return c === CR ? C_SIZE_LF : -1;
    case C_EXT_VALUE_START:
      if (c === DQUOTE) return C_EXT_QUOTED;
      return TCHAR[c] === 1 ? C_EXT_TOKEN : -1;
    case C_EXT_TOKEN:
      if (TCHAR[c] === 1) return st;
      if (c === SEMI) return C_EXT_NAME_START;
      return c === CR ? C_SIZE_LF : -1;
    case C_EXT_QUOTED:
      if (c === DQUOTE) return C_EXT_VALUE_END;
      if (c === BACKSLASH) return C_EXT_QUOTED_ESC;
      return QDTEXT[c] === 1 ? st : -1;
    case C_EXT_QUOTED_ESC:
      return QUOTED_PAIR[c] === 1 ? C_EXT_QUOTED : -1;
    case C_EXT_VALUE_END:
      if (c === SEMI) return C_EXT_NAME_START;
      return c === CR ? C_SIZE_LF : -1;
    default:
      return -1;
  }
}
