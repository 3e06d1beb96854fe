/**
 * Browser live reload. {@link withLive} serves a server-sent-events stream at
 * {@link LIVE_PATH} and injects a small script before `</body>` in `text/html`
 * responses (never other types, never with `Content-Encoding`, never into
 * 1xx, 204, 206 or 304 responses; `Content-Length` is corrected, the
 * page's `ETag` and `Last-Modified` removed, and its `Accept-Ranges` made
 * `none`, see {@link injectedHeaders}).
 * A HEAD request goes the same way, so its header section is the one GET
 * would get (RFC 9110 §9.3.2); the server drops the body. A HEAD the app
 * answers with no body loses the page's validators and its Content-Length
 * (GET's is the injected page's, which only the page tells). The
 * script knows the id of the app version that rendered the page; the stream
 * sends the current id on connect (`hello`) and after every successful reload
 * (`reload`); the page reloads when they differ. So a page also reloads when
 * it reconnects to a restarted server process. The stream answers GET (HEAD
 * gets its header section); other methods get 405, and a stream past
 * {@link MAX_LIVE_CLIENTS} gets 503. A page whose Content-Security-Policy
 * (a header field, or a `<meta>` element, see {@link metaPolicies}) refuses
 * inline scripts gets the script as a file, {@link LIVE_SCRIPT_PATH} (see
 * {@link scriptPolicy}).
 * @module
 */
import type { Application, Body, ResponseHeaders, StartResponse, WriteCallable } from "../spec.ts";
import { checkHeaders, checkStatus, declaredContentLength, secondStartResponseError } from "../gateway/response-fields.ts";
import { fileBodyBlob } from "../gateway/file-body.ts";
import { readSignal } from "../gateway/signal.ts";
import { makeBody, readBody } from "./body.ts";

/** The reserved path of the event stream. */
export const LIVE_PATH = "/__tsgi/live";

/** Responses bigger than this (by `Content-Length`) are passed through without injection. */
const MAX_BUFFERED = 8 * 1024 * 1024;
/** A comment line is sent this often so proxies and idle timers keep the stream open (ms). */
const HEARTBEAT_MS = 15_000;
/**
 * Event streams served at once; one more gets 503. A page holds one stream,
 * so this is far past any real set of tabs, and stops a runaway client from
 * holding connections without bound.
 */
export const MAX_LIVE_CLIENTS = 256;

const encoder = new TextEncoder();

/**
 * The path of the same code as a script file, for a page whose
 * Content-Security-Policy refuses inline scripts (see {@link scriptPolicy}):
 * `GET /__tsgi/live.js?id=<version id>`.
 */
export const LIVE_SCRIPT_PATH = "/__tsgi/live.js";

/** The live-reload code for a page rendered while the app version was `id`: it reloads the page when the stream names another. */
function liveCode(id: string): string {
  return (
    `(()=>{if(window.__tsgiLive)return;window.__tsgiLive=1;` +
    `var id=${JSON.stringify(id)},es=new EventSource(${JSON.stringify(LIVE_PATH)});` +
    `function on(e){if(e.data!==id){es.close();location.reload()}}` +
    `es.addEventListener("hello",on);es.addEventListener("reload",on)})()`
  );
}

/**
 * The `<script>` injected into pages rendered while the app version was `id`:
 * inline, or, when `policy.external` (the page's Content-Security-Policy
 * refuses inline scripts), a same-origin {@link LIVE_SCRIPT_PATH}, which a
 * policy allowing `'self'` allows, carrying the policy's nonce when it has one.
 */
export function liveScript(id: string, policy: ScriptPolicy = { external: false }): string {
  if (!policy.external) return `<script data-tsgi-live>${liveCode(id)}</script>`;
  const nonce = policy.nonce === undefined ? "" : ` nonce="${policy.nonce}"`;
  return `<script src="${LIVE_SCRIPT_PATH}?id=${encodeURIComponent(id)}"${nonce} data-tsgi-live></script>`;
}

/** How the live script must be written into a page: inline, or as a script file with the policy's nonce. */
export interface ScriptPolicy {
  /** The page's Content-Security-Policy refuses an inline script without a nonce or hash. */
  external: boolean;
  /** A nonce of the policy's script directive (base64 characters only), for the script element. */
  nonce?: string;
}

/**
 * What the page's `Content-Security-Policy` fields (not `-Report-Only`,
 * which blocks nothing) allow the live script. Each policy (fields, and
 * comma-separated policies in one) must allow it: the directive for script
 * elements is `script-src-elem`, else `script-src`, else `default-src`; one
 * with `'unsafe-inline'` and no nonce, hash or `'strict-dynamic'` (which turn
 * `'unsafe-inline'` off) allows an inline script, any other makes the script
 * a file (`'self'` allows it), with the first nonce found.
 */
export function scriptPolicy(headers: ResponseHeaders): ScriptPolicy {
  const out: ScriptPolicy = { external: false };
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== "content-security-policy") continue;
    for (const policy of value.split(",")) {
      const directives = new Map<string, string[]>();
      for (const d of policy.split(";")) {
        const [key, ...tokens] = d.trim().split(/\s+/);
        if (key && !directives.has(key.toLowerCase())) directives.set(key.toLowerCase(), tokens);
      }
      const tokens = directives.get("script-src-elem") ?? directives.get("script-src") ?? directives.get("default-src");
      if (tokens === undefined) continue;
      const lower = tokens.map((t) => t.toLowerCase());
      const keyed = lower.some((t) => t.startsWith("'nonce-") || /^'sha(256|384|512)-/.test(t) || t === "'strict-dynamic'");
      if (lower.includes("'unsafe-inline'") && !keyed) continue;
      out.external = true;
      for (const t of tokens) {
        const m = /^'nonce-([A-Za-z0-9+/_=-]+)'$/i.exec(t);
        if (m && out.nonce === undefined) out.nonce = m[1]!;
      }
    }
  }
  return out;
}

/** The attributes of one start tag's text (`<meta a="b" c=d e>`), names lowercased, values with the common character references decoded. */
function tagAttributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1]!.toLowerCase();
    if (out.has(name)) continue;
    const raw = m[2] ?? m[3] ?? m[4] ?? "";
    out.set(name, raw.replace(/&(quot|apos|amp|#39|#x27);/gi, (_, e: string) => ({ quot: '"', amp: "&" })[e.toLowerCase()] ?? "'"));
  }
  return out;
}

/**
 * The policies of the `<meta http-equiv="Content-Security-Policy"
 * content="...">` elements in `html` (an HTML page's text, or a piece of
 * it), as `Content-Security-Policy` header fields for {@link scriptPolicy}:
 * the browser enforces them on the scripts that follow, the injected one
 * too.
 */
export function metaPolicies(html: string): ResponseHeaders {
  const out: ResponseHeaders = [];
  // A `<meta>` in a comment (`<!-- <meta ...> -->`, one left unclosed runs to the end) is no element.
  // Each comment is matched once, to its end or the text's: linear.
  html = html.replace(/<!--[^]*?(?:-->|$)/g, " ");
  // `(>|$)`, not `>`: an unclosed `<meta` then matches to the end, where the next search starts. With `>` alone
  // each of them was scanned to the end again (a page quoting a client's 40,000 `<meta`: quadratic, seconds).
  for (const m of html.matchAll(/<meta\b([^>]*)(>|$)/gi)) {
    if (m[2] === "") break; // unclosed: no tag after it can close either
    const attrs = tagAttributes(m[1]!);
    if (attrs.get("http-equiv")?.trim().toLowerCase() !== "content-security-policy") continue;
    const content = attrs.get("content");
    if (content) out.push(["Content-Security-Policy", content]);
  }
  return out;
}

/**
 * {@link metaPolicies} of a page that comes in chunks: a tag split across
 * chunks is read whole (also when split after a `<` in its attributes), and
 * a comment split across chunks hides what it holds.
 */
class MetaPolicyScanner {
  /** The policies found so far. */
  readonly found: ResponseHeaders = [];
  /** Text held back from the last chunk: an unclosed `<meta` tag (at most 4 KiB), or what may begin one or a comment. */
  #tail = "";
  /** The last chunk ended inside a comment. */
  #inComment = false;
  push(bytes: Uint8Array): void {
    let text = this.#tail + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
    this.#tail = "";
    if (this.#inComment) {
      const end = text.indexOf("-->");
      if (end === -1) {
        this.#tail = text.slice(-2); // may begin the `-->`
        return;
      }
      this.#inComment = false;
      text = text.slice(end + 3);
    }
    // A comment left open at the end: what follows it, up to its `-->` in a later chunk, is no markup.
    const comments = /<!--[^]*?(-->|$)/g;
    let visible = text;
    for (const m of text.matchAll(comments)) {
      if (m[1] !== "") continue;
      this.#inComment = true;
      visible = text.slice(0, m.index);
      this.#tail = text.slice(m.index + 4).slice(-2);
    }
    visible = visible.replace(comments, " ");
    // Hold back an unclosed `<meta` (a `<` in its attributes is no tag of its own), or a `<` that may begin one or a comment.
    // (Before an open comment nothing is held back: the comment ends any tag.)
    const lower = visible.toLowerCase();
    const meta = lower.lastIndexOf("<meta");
    let keep = -1;
    if (this.#inComment) keep = -1;
    else if (meta !== -1 && !visible.includes(">", meta)) keep = visible.length - meta <= 4096 ? meta : -1;
    else {
      const lt = visible.lastIndexOf("<");
      const rest = lower.slice(lt);
      if (lt !== -1 && rest.length < 5 && ("<meta".startsWith(rest) || "<!--".startsWith(rest))) keep = lt;
    }
    if (keep !== -1) {
      this.#tail = visible.slice(keep);
      visible = visible.slice(0, keep);
    }
    this.found.push(...metaPolicies(visible));
  }
}

interface Client {
  queue: string[];
  wake: (() => void) | null;
  closed: boolean;
}

/** The set of connected event streams and the current app version id. */
export class LiveHub {
  #id: string;
  #clients = new Set<Client>();

  /** @param id the id of the app version being served now. */
  constructor(id: string) {
    this.#id = id;
  }

  /** The current version id. */
  get id(): string {
    return this.#id;
  }

  /** Connected streams. */
  get clients(): number {
    return this.#clients.size;
  }

  /** A new app version is live: remember its id and tell every page. */
  reload(id: string): void {
    this.#id = id;
    this.#send(`event: reload\ndata: ${id}\n\n`);
  }

  /** End every stream (before the server shuts down, so `close()` need not wait for them). */
  closeAll(): void {
    for (const c of this.#clients) {
      c.closed = true;
      c.wake?.();
    }
    this.#clients.clear();
  }

  #send(message: string): void {
    for (const c of this.#clients) {
      c.queue.push(message);
      c.wake?.();
    }
  }

  /**
   * A response body streaming events to one page until it goes away or {@link closeAll}.
   * @param signal the request's `tsgi.signal`, when the server gives one: the stream ends
   *   when it aborts (the page closed the connection, which a browser does with a FIN that
   *   no write finds out about until the next heartbeat, up to 15 s later).
   */
  stream(signal?: AbortSignal): Body {
    const client: Client = { queue: [`retry: 1000\nevent: hello\ndata: ${this.#id}\n\n`], wake: null, closed: false };
    this.#clients.add(client);
    const remove = () => {
      client.closed = true;
      client.wake?.();
      this.#clients.delete(client);
      signal?.removeEventListener("abort", remove);
    };
    if (signal?.aborted) remove();
    else signal?.addEventListener("abort", remove);
    return makeBody(async function* () {
      try {
        while (!client.closed) {
          const next = client.queue.shift();
          if (next !== undefined) {
            yield encoder.encode(next);
            continue;
          }
          let timer: ReturnType<typeof setTimeout> | undefined;
          const beat = await new Promise<boolean>((resolve) => {
            client.wake = () => resolve(false);
            timer = setTimeout(() => resolve(true), HEARTBEAT_MS);
          });
          clearTimeout(timer);
          client.wake = null;
          if (beat && !client.closed) yield encoder.encode(":\n\n");
        }
      } finally {
        remove();
      }
    }, remove);
  }
}

function header(headers: ResponseHeaders, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** Whether a response with this status and headers gets the script. */
export function shouldInject(_method: string, status: string, headers: ResponseHeaders): boolean {
  // HEAD too: its Content-Length and validators are then GET's (an app that answers HEAD with no body loses its validators and length).
  const code = Number.parseInt(status, 10);
  // 206: the body is a byte range of the page, which its Content-Range places (RFC 9110 §14.4, §15.3.7): a script would shift it.
  if (code < 200 || code === 204 || code === 206 || code === 304) return false;
  const type = header(headers, "content-type");
  if (!type || !/^\s*text\/html\b/i.test(type)) return false;
  const encoding = header(headers, "content-encoding");
  if (encoding && encoding.trim().toLowerCase() !== "identity") return false;
  return true;
}

const CLOSE_BODY = encoder.encode("</body");

/** Index of the first (or last) `</body` in `bytes`, ASCII case-insensitive; -1 if none. */
export function findCloseBody(bytes: Uint8Array, last = false): number {
  const n = CLOSE_BODY.length;
  const test = (i: number) => {
    for (let j = 0; j < n; j++) {
      let b = bytes[i + j]!;
      if (b >= 0x41 && b <= 0x5a) b += 0x20;
      if (b !== CLOSE_BODY[j]) return false;
    }
    return true;
  };
  if (last) {
    for (let i = bytes.length - n; i >= 0; i--) if (test(i)) return i;
  } else {
    for (let i = 0; i + n <= bytes.length; i++) if (test(i)) return i;
  }
  return -1;
}


/** `bytes` with `script` inserted at `at`. */
function insert(bytes: Uint8Array, at: number, script: Uint8Array): Uint8Array {
  return Buffer.concat([bytes.subarray(0, at), script, bytes.subarray(at)]);
}

/**
 * Serve {@link LIVE_PATH} from `hub` and inject the live script into HTML
 * responses of `app`.
 *
 * The app's `startResponse` call is held back until the first body chunk so
 * the headers can still be corrected; an app using the legacy `write()`
 * callable gets its response passed through unchanged.
 */
export function withLive(app: Application, hub: LiveHub): Application {
  return async (environ, startResponse) => {
    const path = (environ.SCRIPT_NAME ?? "") + (environ.PATH_INFO ?? "");
    if (path === LIVE_PATH) {
      const method = environ.REQUEST_METHOD;
      if (method !== "GET" && method !== "HEAD") {
        startResponse("405 Method Not Allowed", [["Content-Type", "text/plain; charset=utf-8"], ["Allow", "GET, HEAD"]]);
        return [encoder.encode(`${LIVE_PATH} is tsgi-dev's live-reload event stream: GET only\n`)];
      }
      if (hub.clients >= MAX_LIVE_CLIENTS) {
        startResponse("503 Service Unavailable", [["Content-Type", "text/plain; charset=utf-8"], ["Retry-After", "5"]]);
        return [encoder.encode(`${MAX_LIVE_CLIENTS} live-reload streams are open already; close some tabs\n`)];
      }
      startResponse("200 OK", [
        ["Content-Type", "text/event-stream; charset=utf-8"],
        ["Cache-Control", "no-store"],
        ["X-Accel-Buffering", "no"],
      ]);
      if (method === "HEAD") return [];
      // The page's going (a FIN) ends its stream at once, rather than at the next heartbeat's failed write.
      const signal = readSignal(environ);
      return hub.stream(signal instanceof AbortSignal ? signal : undefined);
    }
    if (path === LIVE_SCRIPT_PATH) {
      const method = environ.REQUEST_METHOD;
      if (method !== "GET" && method !== "HEAD") {
        startResponse("405 Method Not Allowed", [["Content-Type", "text/plain; charset=utf-8"], ["Allow", "GET, HEAD"]]);
        return [encoder.encode(`${LIVE_SCRIPT_PATH} is tsgi-dev's live-reload script: GET only\n`)];
      }
      // The version that rendered the page (the current one when the query has none: the page waits for the next reload).
      const pageId = new URLSearchParams(environ.QUERY_STRING).get("id") ?? hub.id;
      const code = encoder.encode(liveCode(pageId));
      startResponse("200 OK", [
        ["Content-Type", "text/javascript; charset=utf-8"],
        ["Content-Length", String(code.byteLength)],
        ["Cache-Control", "no-store"],
      ]);
      return method === "HEAD" ? [] : [code];
    }

    const id = hub.id;
    const st: { pending: { status: string; headers: ResponseHeaders } | null; realWrite: WriteCallable | null } = { pending: null, realWrite: null };
    /** Call the server's startResponse with what the app gave (once). */
    const flush = (headers?: ResponseHeaders): WriteCallable => {
      if (!st.realWrite) {
        const p = st.pending!;
        st.realWrite = startResponse(p.status, headers ?? p.headers);
      }
      return st.realWrite;
    };
    const sr: StartResponse = (status, headers, excInfo) => {
      if (st.realWrite) {
        // Headers may or may not be on the wire: the server decides (replace, or rethrow excInfo).
        return startResponse(status, headers, excInfo);
      }
      if (st.pending && (excInfo === undefined || excInfo === null)) throw secondStartResponseError();
      // Held back, but checked now, as the server's startResponse checks: the app sees the TypeError where it made the mistake.
      checkStatus(status);
      checkHeaders(headers);
      st.pending = { status, headers };
      return (data) => flush()(data);
    };

    const body = await app(environ, sr);
    const method = environ.REQUEST_METHOD;
    // An invalid or conflicting Content-Length is the app's error: left to the server (a 500), as without tsgi-dev.
    const decide = () =>
      !!st.pending && !st.realWrite && shouldInject(method, st.pending.status, st.pending.headers) && !Number.isNaN(declaredLength(st.pending.headers));
    /**
     * A HEAD response whose app sent no body (as a HEAD handler should): GET's page gets the script,
     * so its length is not the app's, and its validators go (see injectedHeaders). Which length, the
     * page alone would tell: none is sent (RFC 9110 §9.3.2 lets HEAD omit what only the content decides).
     */
    const headWithoutBody = (bytes: number) => method === "HEAD" && bytes === 0;
    /** The script for this page: its policy is the header fields' and its `<meta>` elements' before the script (`page`). */
    const script = (page: Uint8Array | MetaPolicyScanner) => {
      const metas = page instanceof MetaPolicyScanner ? page.found : metaPolicies(Buffer.from(page.buffer, page.byteOffset, page.byteLength).toString("latin1"));
      return encoder.encode(liveScript(id, scriptPolicy([...st.pending!.headers, ...metas])));
    };

    // Arrays: everything is here; inject and keep the length known. The new array carries the old one's close()
    // (an error page from withErrorPages carries the replaced body's), which the server calls exactly once.
    if (Array.isArray(body)) {
      if (!st.pending) return body; // the server reports the missing startResponse
      if (!decide()) {
        flush();
        return body;
      }
      const all = Buffer.concat(body as Uint8Array[]);
      const at = findCloseBody(all, true);
      const declared = declaredLength(st.pending.headers);
      // A body that does not match its Content-Length is left as it is, for the server to cut or truncate as it would without tsgi-dev.
      if (at === -1 || (declared !== -1 && declared !== all.byteLength)) {
        flush(headWithoutBody(all.byteLength) ? injectedHeaders(st.pending.headers, -1) : undefined);
        return body;
      }
      const out = insert(all, at, script(all.subarray(0, at)));
      flush(injectedHeaders(st.pending!.headers, out.byteLength));
      const injected: Body = [out];
      const close = (body as Body).close;
      if (typeof close === "function") injected.close = () => close.call(body);
      return injected;
    }

    // A file wrapper that gets no script goes to the server untouched (it sends the file itself).
    if (body !== null && typeof body === "object" && fileBodyBlob(body) !== undefined && st.pending && !decide()) {
      flush();
      return body;
    }

    const reader = readBody(body);
    return makeBody(
      async function* () {
        let finished = false;
        try {
          let mode: "undecided" | "pass" | "stream" | "buffer" = "undecided";
          const buffered: Uint8Array[] = [];
          let size = 0;
          let carry: Uint8Array = new Uint8Array(0);
          let injected = false;
          /** The `<meta>` policies of a streamed page, before the script. */
          const metas = new MetaPolicyScanner();
          while (true) {
            const r = await reader.next();
            if (r.done) break;
            const chunk = r.value;
            // Decided at the first bytes, not at an empty chunk: until bytes go out the response may still be replaced
            // (startResponse with excInfo: an error page, which has its own length and policy), and is judged as it ends up.
            if (mode === "undecided" && st.pending && !(chunk instanceof Uint8Array && chunk.byteLength === 0)) {
              if (!decide()) mode = "pass";
              else {
                const declared = declaredLength(st.pending.headers);
                mode = declared === -1 ? "stream" : declared <= MAX_BUFFERED ? "buffer" : "pass";
              }
              // A streamed page the script may go into: its validators go now, with the header section.
              if (mode !== "buffer") flush(mode === "stream" ? injectedHeaders(st.pending.headers, -1) : undefined);
            }
            if (mode === "undecided" || mode === "pass" || !(chunk instanceof Uint8Array)) {
              yield chunk;
              continue;
            }
            if (mode === "buffer") {
              // A copy: the app may refill its buffer once the next chunk is asked for (spec.md "The body").
              buffered.push(new Uint8Array(chunk));
              size += chunk.byteLength;
              continue;
            }
            // stream: inject before the first </body, holding back a short tail across chunks.
            if (injected) {
              yield chunk;
              continue;
            }
            const data = carry.byteLength ? Buffer.concat([carry, chunk]) : chunk;
            const at = findCloseBody(data);
            metas.push(at === -1 ? chunk : data.subarray(carry.byteLength, at));
            if (at !== -1) {
              injected = true;
              carry = new Uint8Array(0);
              yield insert(data, at, script(metas));
              continue;
            }
            // Hold back only a tail that could begin `</body`: every other byte goes out now (spec.md: a chunk per chunk).
            const keep = closeBodyPrefixAtEnd(data);
            // A copy (a Buffer's slice() is a view): the tail waits past the app's next chunk.
            carry = new Uint8Array(data.subarray(data.byteLength - keep));
            const out = data.subarray(0, data.byteLength - keep);
            if (out.byteLength) yield out;
          }
          finished = true;
          // No chunk came (mode still undecided): a HEAD answered without a body is GET's header section.
          if (st.pending && !st.realWrite && mode !== "buffer") flush(mode === "undecided" && headWithoutBody(0) && decide() ? injectedHeaders(st.pending.headers, -1) : undefined);
          if (carry.byteLength) yield carry;
          if (mode === "buffer") {
            const all = Buffer.concat(buffered);
            const at = findCloseBody(all, true);
            if (at === -1 || size !== declaredLength(st.pending!.headers)) {
              // No </body, or not the declared length: as the app sent it, for the server to cut or truncate.
              flush(headWithoutBody(size) ? injectedHeaders(st.pending!.headers, -1) : undefined);
              for (const b of buffered) yield b;
            } else {
              const out = insert(all, at, script(all.subarray(0, at)));
              flush(injectedHeaders(st.pending!.headers, out.byteLength));
              yield out;
            }
          }
        } finally {
          if (!finished) await reader.stop();
        }
      },
      () => reader.close(),
      reader,
    );
  };
}

/**
 * The app's Content-Length: -1 when it set none, NaN when a value is not a
 * length or two values disagree (spec.md: an application error).
 */
function declaredLength(headers: ResponseHeaders): number {
  try {
    return declaredContentLength(headers);
  } catch {
    return Number.NaN;
  }
}

/** The length of the longest tail of `data` that is a proper prefix of `</body` (ASCII case-insensitive); 0 if none. */
function closeBodyPrefixAtEnd(data: Uint8Array): number {
  for (let k = Math.min(CLOSE_BODY.length - 1, data.byteLength); k > 0; k--) {
    let match = true;
    for (let j = 0; j < k; j++) {
      let b = data[data.byteLength - k + j]!;
      if (b >= 0x41 && b <= 0x5a) b += 0x20;
      if (b !== CLOSE_BODY[j]) {
        match = false;
        break;
      }
    }
    if (match) return k;
  }
  return 0;
}

/**
 * The header section of a page the script goes into: a copy of `headers`
 * with `Content-Length` set to `length` (none when `length` is -1: a
 * streamed page), and without the app's `ETag` and `Last-Modified` (as
 * nginx's `sub_filter` drops them). They validate the app's bytes, not the
 * page with a script that names the app version: a browser revalidating the
 * page after a reload would get the app's `304` and show its cached copy,
 * whose script names the old version, and reload again, for ever. The
 * app's `Accept-Ranges: bytes` becomes `Accept-Ranges: none` (RFC 9110
 * §14.3): the app answers a range of its own page (a 206, passed through
 * without the script), whose bytes are not those of the page the client got,
 * shifted by the script from `</body` on; so a client resuming or seeking
 * the page would put together a broken one. Serving ranges of the page
 * with the script was not chosen: each would have to run the app for the
 * whole page, and no browser asks a page it shows for a range.
 */
function injectedHeaders(headers: ResponseHeaders, length: number): ResponseHeaders {
  const out: ResponseHeaders = headers.filter(([k]) => !DROPPED_WHEN_INJECTED.has(k.toLowerCase()));
  if (length >= 0) out.push(["Content-Length", String(length)]);
  if (header(headers, "accept-ranges") !== undefined) out.push(["Accept-Ranges", "none"]);
  return out;
}

/** The fields {@link injectedHeaders} drops: the length, the validators of the app's bytes, and the ranges of them it offers. */
const DROPPED_WHEN_INJECTED = new Set(["content-length", "etag", "last-modified", "accept-ranges"]);
