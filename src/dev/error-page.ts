/**
 * The dev server's error pages: HTML for browsers (by `Accept`), plain text
 * for everything else. With `debug` they show the error, its location with
 * code frames, the stack and the request environ (secrets masked); without
 * it, nothing of the code. A 500 for code that failed to load or raised; a
 * 503 while restart mode has no app process running.
 * @module
 */
import type { CodeFrame } from "./code-frame.ts";
import { renderCodeFrame } from "./code-frame.ts";
import { formatFrame, whereAndStack, type Diagnosis } from "./diagnose.ts";
import { maskedEnvironRows } from "./mask.ts";

/** What to put on an error page. */
export interface ErrorPageInput {
  /**
   * `"load"`: the app could not be loaded; `"runtime"`: the app threw while
   * handling the request (both 500); `"exited"`: restart mode's app process
   * exited and none runs until the next save (503, the diagnosis message says
   * how it ended).
   */
  kind: "load" | "runtime" | "exited";
  /** The described error (shown only with `debug`). */
  diagnosis: Diagnosis;
  /** Show the error details. */
  debug: boolean;
  /** The request environ (shown, masked, with `debug`). */
  environ?: Record<string, unknown>;
  /** The request's `Accept` value. */
  accept?: string;
}

/** A rendered page. */
export interface ErrorPage {
  status: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

const encoder = new TextEncoder();

/** Whether `accept` asks for HTML (contains `text/html` or `application/xhtml+xml`). */
export function wantsHtml(accept: string | undefined): boolean {
  return !!accept && /text\/html|application\/xhtml\+xml/i.test(accept);
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/**
 * The Content-Security-Policy of the HTML page: nothing from anywhere but
 * its own `<style>` element, and scripts and event streams from the dev
 * server itself, which the live-reload script needs (under this policy it
 * is served as a file, see `live.ts`). The page quotes the request's
 * environ and the error's text (escaped); should anything slip through
 * escaping, no inline script, form, frame or outside resource of it runs.
 */
export const ERROR_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Render the page. The status is `500 Internal Server Error`, or `503
 * Service Unavailable` for `"exited"`; headers carry `Content-Type`,
 * `Content-Length`, `Cache-Control: no-store`, `X-Content-Type-Options:
 * nosniff` (a browser never takes the text page for HTML: it quotes the
 * request), `X-Tsgi-Error` (the kind) and, on the HTML page,
 * {@link ERROR_PAGE_POLICY}.
 */
export function renderErrorPage(input: ErrorPageInput): ErrorPage {
  const html = wantsHtml(input.accept);
  const text = html ? renderHtml(input) : renderText(input);
  const body = encoder.encode(text);
  return {
    status: statusLine(input),
    headers: [
      ["Content-Type", html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8"],
      ["Content-Length", String(body.byteLength)],
      ["Cache-Control", "no-store"],
      ["X-Content-Type-Options", "nosniff"],
      ["X-Tsgi-Error", input.kind],
      ...(html ? [["Content-Security-Policy", ERROR_PAGE_POLICY] as [string, string]] : []),
    ],
    body,
  };
}

function statusLine(input: ErrorPageInput): string {
  return input.kind === "exited" ? "503 Service Unavailable" : "500 Internal Server Error";
}

function headline(input: ErrorPageInput): string {
  return input.kind === "load" ? "The app failed to load" : input.kind === "exited" ? "The app's process exited" : "The app raised an error";
}

/** The one-line summary: `Title: message`, or either alone when the other is empty (`throw new Error()`: `Error`). */
function summary(d: Diagnosis): string {
  return d.title && d.message ? `${d.title}: ${d.message}` : d.title || d.message;
}

/** What to do next, for the kinds that recover by themselves. */
function hint(input: ErrorPageInput, html: boolean): string | undefined {
  if (input.kind === "load") return html ? "Fix the code and save: the server reloads by itself, and this page with it." : "Fix the code and save: the server reloads by itself.";
  if (input.kind === "exited") return html ? "Save a file to start a new app process: this page reloads with it." : "Save a file to start a new app process.";
  return undefined;
}

function renderText(input: ErrorPageInput): string {
  if (!input.debug) return `${statusLine(input)}\n`;
  const d = input.diagnosis;
  const out = [`${statusLine(input)}: ${headline(input)}`, "", summary(d)];
  const shown = whereAndStack(d);
  if (shown.at) out.push(`    at ${shown.at}`);
  if (d.frame) out.push("", renderCodeFrame(d.frame));
  if (d.hint) out.push("", d.hint);
  const frames = shown.stack.slice(0, 20);
  if (frames.length) {
    out.push("", "Stack:");
    for (const f of frames) out.push(`    at ${formatFrame(f)}`);
  }
  if (d.related) out.push("", d.related.slice(1));
  const next = hint(input, false);
  if (next) out.push("", next);
  if (input.environ) {
    out.push("", "Environ:");
    for (const [k, v] of maskedEnvironRows(input.environ)) out.push(`    ${k} = ${v}`);
  }
  return out.join("\n") + "\n";
}

function frameHtml(frame: CodeFrame): string {
  const rows = frame.lines
    .map((l) => {
      const text = escapeHtml(l.text) || " ";
      return `<div class="ln${l.highlight ? " hl" : ""}"><span class="no">${l.number}</span><code>${text}</code></div>`;
    })
    .join("");
  return `<div class="frame"><div class="file">${escapeHtml(frame.location.file)}:${frame.location.line}:${frame.location.column}</div><pre>${rows}</pre></div>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
header{background:#b3261e;color:#fff;padding:18px 28px}header h1{margin:0;font-size:18px;font-weight:600}
header p{margin:6px 0 0;font:15px/1.4 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word}
main{padding:8px 28px 28px}h2{font-size:14px;text-transform:uppercase;letter-spacing:.04em;color:#666;margin:22px 0 8px}
.loc{font-family:ui-monospace,Menlo,Consolas,monospace}.frame{border:1px solid #ddd;border-radius:6px;margin:10px 0;background:#fff;overflow:auto}
.frame .file{padding:6px 10px;border-bottom:1px solid #eee;font:12px ui-monospace,Menlo,Consolas,monospace;color:#555}
pre.related{font:12px/1.5 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word}.frame pre{margin:0;padding:6px 0;font:13px/1.5 ui-monospace,Menlo,Consolas,monospace}.ln{display:flex;padding:0 10px}
.ln .no{width:4em;color:#999;text-align:right;padding-right:12px;user-select:none}.ln.hl{background:#fde7e6}.ln.hl .no{color:#b3261e;font-weight:bold}
code{white-space:pre}ol.stack{font:12px/1.6 ui-monospace,Menlo,Consolas,monospace;padding-left:22px}ol.stack li.user{font-weight:600}
table{border-collapse:collapse;font:12px ui-monospace,Menlo,Consolas,monospace;width:100%}td{border-top:1px solid #eee;padding:3px 8px;vertical-align:top;word-break:break-all}
td:first-child{white-space:nowrap;color:#555;width:1%}.hint{color:#555}`;

function renderHtml(input: ErrorPageInput): string {
  const head = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(input.debug ? `${statusLine(input).slice(0, 3)} ${headline(input)}` : statusLine(input))}</title><style>${STYLE}</style></head>`;
  if (!input.debug) {
    return `${head}<body><header><h1>${escapeHtml(statusLine(input))}</h1></header><main><p>The server could not complete the request.</p></main></body></html>\n`;
  }
  const d = input.diagnosis;
  const parts: string[] = [];
  parts.push(`<header><h1>${escapeHtml(headline(input))}</h1><p>${escapeHtml(summary(d))}</p></header><main>`);
  const shown = whereAndStack(d);
  if (shown.at) parts.push(`<p class="loc">at ${escapeHtml(shown.at)}</p>`);
  if (d.frame) parts.push(frameHtml(d.frame));
  if (d.hint) parts.push(`<p class="hint">${escapeHtml(d.hint)}</p>`);
  const userFrames = d.stack.filter((f) => f.frame && f.frame !== d.frame && !(d.location && f.file === d.location.file && f.line === d.location.line));
  if (userFrames.length) {
    parts.push(`<h2>Your code in the stack</h2>`);
    for (const f of userFrames) parts.push(frameHtml(f.frame!));
  }
  const frames = shown.stack;
  if (frames.length) {
    parts.push(`<h2>Stack</h2><ol class="stack">`);
    for (const f of frames.slice(0, 50)) parts.push(`<li${f.user ? ' class="user"' : ""}>${escapeHtml(formatFrame(f))}</li>`);
    parts.push(`</ol>`);
  }
  if (d.related) parts.push(`<h2>Chained errors</h2><pre class="related">${escapeHtml(d.related.slice(1))}</pre>`);
  const next = hint(input, true);
  if (next) parts.push(`<p class="hint">${escapeHtml(next)}</p>`);
  if (input.environ) {
    parts.push(`<h2>Request environ</h2><table>`);
    for (const [k, v] of maskedEnvironRows(input.environ)) parts.push(`<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`);
    parts.push(`</table>`);
  }
  parts.push(`</main>`);
  return `${head}<body>${parts.join("")}</body></html>\n`;
}
