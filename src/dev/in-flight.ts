/**
 * The requests running on one version of the app, so that a reload in
 * place can let them finish before the version's `import.meta.hot.dispose()`
 * callbacks close what they use (a pool, a client). A request runs from the
 * app call until its body is done: for a list of chunks (no code of the app
 * runs after it is returned) when it is returned, for any other body when
 * the server calls its `close()` (PEP 3333: always, once the response ended,
 * failed or the client went away), and for a call that throws or rejects
 * when it does.
 * @module
 */
import { fileBodyBlob, isFileBody, registerFileBody } from "../gateway/file-body.ts";
import type { Body } from "../spec.ts";

/** How long a reload in place waits for the old version's requests before running its dispose callbacks anyway, ms. */
export const DRAIN_TIMEOUT_MS = 3000;

/** The requests running on one version of the app. */
export class InFlight {
  #count = 0;
  #idle: Array<() => void> = [];

  /** Requests running now. */
  get count(): number {
    return this.#count;
  }

  /**
   * Run one request: `call` (the app call), counted until the body it
   * returns is done (see the module's description). What `call` throws or
   * rejects with passes through.
   */
  async run(call: () => Body | Promise<Body>): Promise<Body> {
    this.#count++;
    let body: Body;
    try {
      body = await call();
    } catch (error) {
      this.#leave();
      throw error;
    }
    return this.#track(body);
  }

  /**
   * Wait until no request runs, or `timeoutMs` has passed.
   * @param timeoutMs the longest wait, ms.
   * @returns how many requests were still running when the wait ended (0: all done).
   */
  async idle(timeoutMs: number): Promise<number> {
    if (this.#count === 0) return 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      done = resolve;
      this.#idle.push(resolve);
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    this.#idle = this.#idle.filter((r) => r !== done);
    return this.#count;
  }

  #leave(): void {
    if (--this.#count > 0) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * `body`, whose end leaves the count once: a list of chunks without
   * `close()`, or a `Bun.file` wrapper the server sends itself, leaves at
   * once; any other body is given in a copy whose `close()` calls the
   * body's own, then leaves. The copy iterates the body's own iterator, as
   * sync or async as it is (no chunk passes through tsgi-dev's code), and
   * stays a file wrapper for the server when the body is one.
   */
  #track(body: Body): Body {
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      this.#leave();
    };
    if (body === null || typeof body !== "object" || body instanceof Uint8Array) {
      // Not a body (a string, bytes not in a list): the app's error, answered as it is, with nothing to close.
      leave();
      return body;
    }
    const close = (body as { close?: unknown }).close;
    if (Array.isArray(body)) {
      if (typeof close !== "function") {
        leave();
        return body;
      }
      const copy: Body = [...(body as Uint8Array[])];
      copy.close = closing(body, close, leave);
      return copy;
    }
    if (fileBodyBlob(body) !== undefined) {
      leave();
      return body;
    }
    const iterable = body as Partial<AsyncIterable<Uint8Array> & Iterable<Uint8Array>>;
    let copy: Body;
    if (typeof iterable[Symbol.asyncIterator] === "function") {
      copy = { [Symbol.asyncIterator]: () => iterable[Symbol.asyncIterator]!.call(body), close: closing(body, close, leave) };
    } else if (typeof iterable[Symbol.iterator] === "function") {
      copy = { [Symbol.iterator]: () => iterable[Symbol.iterator]!.call(body), close: closing(body, close, leave) };
    } else {
      leave();
      return body;
    }
    if (isFileBody(body)) registerFileBody(copy, null);
    return copy;
  }
}

/** A `close()` that calls `body`'s own (when it has one), then `leave` however that ends. */
function closing(body: object, close: unknown, leave: () => void): () => void | Promise<void> {
  return () => {
    let result: unknown;
    try {
      result = typeof close === "function" ? close.call(body) : undefined;
    } catch (error) {
      leave();
      throw error;
    }
    if (result !== null && typeof result === "object" && typeof (result as Promise<void>).then === "function") {
      return (result as Promise<void>).finally(leave);
    }
    leave();
  };
}
