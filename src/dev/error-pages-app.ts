/**
 * Middleware that turns an exception from the app into the dev error page,
 * when it is thrown before the response headers went out (from the app call,
 * or while producing the body before the first non-empty chunk). A broken
 * TSGI contract gets the page too: a result that is not a body (a string, a
 * number), a chunk that is not a `Uint8Array`, body bytes without
 * `startResponse()`; the messages are the server's. After the headers it
 * rethrows, so the server closes the connection and the client sees a
 * truncated response. The server's own errors that the app passed on are
 * rethrown too: a `ClientDisconnected` (the client left mid-upload), the
 * error its body read failed with (an `HttpError`, answered by the server)
 * and what the server aborted `tsgi.signal` with, or an error holding one
 * of them as its `cause`. A `ClientDisconnected` counts only once its client
 * is gone (the server's `tsgi.signal` aborted, see `requestGone`: it left
 * mid-upload or mid-response, or the server gave up on the request): one
 * thrown while the client is still there is the app's error and gets the
 * page. The server handles them as without tsgi-dev (spec.md "Input and
 * error streams", "Error handling").
 * @module
 */
import { chunkBeforeStartResponseError, chunkTypeError, isIterableBody, noStartResponseError, notABodyError } from "../gateway/response-fields.ts";
import { fileBodyBlob } from "../gateway/file-body.ts";
import { isClientDisconnected } from "../gateway/client-disconnected.ts";
import { inCauseChain } from "../gateway/cause-chain.ts";
import { requestGone, signalReasonOf } from "../gateway/signal.ts";
import { environHandedOnTo, recordEnvironsHandedOn } from "../gateway/handed-on.ts";
import { thrownAfterStartResponse } from "../gateway/node-handler-hint.ts";
import type { Application, Body, Environ, StartResponse } from "../spec.ts";
import { makeBody, readBody } from "./body.ts";
import type { Diagnosis } from "./diagnose.ts";
import { renderErrorPage } from "./error-page.ts";

const startedResponses = new WeakSet<object>();

/** Whether `error` was rethrown by {@link withErrorPages} because its response had started (too late for the page). */
export function raisedAfterStart(error: unknown): boolean {
  return typeof error === "object" && error !== null && startedResponses.has(error);
}

/** Why the server's `tsgi.input` failed (`RequestInput.failure`), or `null`. */
function failureOf(input: unknown): unknown {
  try {
    return typeof input === "object" && input !== null && "failure" in input ? (input as { failure: unknown }).failure : null;
  } catch {
    return null;
  }
}

/** Options of {@link withErrorPages}. */
export interface ErrorPagesOptions {
  /** Show the error details on the page (dev mode); otherwise a generic 500. */
  debug: boolean;
  /** Describe a thrown value (stack parsed, code frames read). */
  diagnose: (error: unknown) => Diagnosis;
  /** Called once per caught error, e.g. to print it in the terminal. */
  onError?: (diagnosis: Diagnosis, environ: Environ, error: unknown) => void;
}

/** Wrap `app` so that errors before the headers become a 500 error page. */
export function withErrorPages(app: Application, options: ErrorPagesOptions): Application {
  // The page shows the environ a mounted app saw (PathInfoDispatcher's copy): recorded from now on in this process.
  if (options.debug) recordEnvironsHandedOn();
  return async (environ, startResponse) => {
    const input: unknown = environ["tsgi.input"]; // the server's, before the app may replace it
    let called = false;
    let sent = false;
    const sr: StartResponse = (status, headers, excInfo) => {
      const write = startResponse(status, headers, excInfo);
      called = true;
      return (data) => {
        if (data && data.byteLength > 0) sent = true;
        return write(data);
      };
    };
    const serversOwn = (error: unknown): boolean => {
      const failure = failureOf(input);
      const reason = signalReasonOf(environ);
      const gone = requestGone(environ) !== false;
      return inCauseChain(error, (e) => (gone && isClientDisconnected(e)) || (e !== null && e !== undefined && (e === failure || e === reason)));
    };
    const page = (error: unknown): Uint8Array => {
      // The server's own error, passed on by the app, or wrapped as an error's cause: the client left
      // (a ClientDisconnected, once the server's signal says its client is gone: one thrown while the client
      // is still there is the app's own error and gets the page), the body read failed (its HttpError: 400, 408, 413, which the server has
      // answered), or what the server aborted tsgi.signal with (the client left, requestTimeout). It is
      // the server's to answer or to ignore, as under serve(): no page, no report here.
      if (serversOwn(error)) throw error;
      if (sent) {
        if (typeof error === "object" && error !== null) startedResponses.add(error);
        throw error;
      }
      // An app that called startResponse is no node:http handler (see nodeHandlerHint).
      if (called) thrownAfterStartResponse(error);
      const diagnosis = options.diagnose(error);
      options.onError?.(diagnosis, environ, error);
      const p = renderErrorPage({
        kind: "runtime",
        diagnosis,
        debug: options.debug,
        // The environ the failing app was called with: under a PathInfoDispatcher, the mounted app's (its SCRIPT_NAME and
        // PATH_INFO), not the server's, which names a path that app never saw.
        environ: options.debug ? environHandedOnTo(environ) : undefined,
        accept: typeof environ.HTTP_ACCEPT === "string" ? environ.HTTP_ACCEPT : undefined,
      });
      // With excInfo the server replaces the app's status and headers (nothing was sent yet).
      startResponse(p.status, p.headers, called ? (error ?? new Error(String(error))) : undefined);
      called = true;
      return p.body;
    };

    /**
     * The page in place of the app's `replaced` result, carrying its
     * `close()` so the server still calls it exactly once and logs a throw
     * from it (spec.md "The body" item 4), as it does without tsgi-dev.
     * Too late for a page, the body throws the error when iterated: the
     * server cuts the connection, then closes.
     */
    const instead = (replaced: unknown, error: unknown): Body => {
      let out: Body;
      try {
        out = [page(error)];
      } catch (late) {
        out = (function* (): Generator<Uint8Array> {
          throw late;
        })();
      }
      const close = typeof replaced === "object" && replaced !== null ? (replaced as { close?: unknown }).close : undefined;
      if (typeof close === "function") out.close = () => close.call(replaced) as void | Promise<void>;
      return out;
    };

    let body: Body;
    try {
      body = await app(environ, sr);
    } catch (error) {
      return [page(error)];
    }
    // Broken TSGI contracts get the page too (the server would answer a plain 500).
    if (Array.isArray(body)) {
      const bad = (body as unknown[]).find((chunk) => !(chunk instanceof Uint8Array));
      if (bad !== undefined) return instead(body, chunkTypeError(bad));
      if (!called) return instead(body, noStartResponseError());
      return body;
    }
    if (!isIterableBody(body)) return instead(body, notABodyError(body));
    // A file wrapper returned as it is goes to the server untouched, which sends
    // the file itself (its length, or the app's shorter Content-Length).
    if (called && fileBodyBlob(body as object) !== undefined) return body;

    const reader = readBody(body);
    return makeBody(
      async function* () {
        let finished = false;
        try {
          while (true) {
            let r: IteratorResult<Uint8Array>;
            try {
              r = await reader.next();
            } catch (error) {
              finished = true;
              yield page(error);
              return;
            }
            if (r.done) {
              finished = true;
              // An iterator that ends without startResponse() ever called: the same broken contract as an empty array's.
              if (!called) yield page(noStartResponseError());
              return;
            }
            const chunk: unknown = r.value;
            if (!(chunk instanceof Uint8Array) || (chunk.byteLength > 0 && !called)) {
              finished = true;
              await reader.stop();
              yield page(chunk instanceof Uint8Array ? chunkBeforeStartResponseError() : chunkTypeError(chunk));
              return;
            }
            if (chunk.byteLength > 0) sent = true;
            yield chunk;
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
