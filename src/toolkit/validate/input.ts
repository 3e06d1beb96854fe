/**
 * The validator's `tsgi.input` wrapper (wsgiref `InputWrapper`): checks the
 * application's arguments to `read` / `readline` / `readlines` / `read1`,
 * the server's results (sizes, one line per `readline` and per iteration
 * step, nothing after the end), that reads do not overlap and that the
 * application never closes the stream (PEP 3333 §Input and Error Streams).
 *
 * @module
 */
import type { InputStream } from "../../spec.ts";
import { fail, show, type Rule } from "./rules.ts";
import { checkHeaders } from "./start-response.ts";

/**
 * Whether `l` is one line as `tsgi.input` gives lines (spec.md "tsgi.input"):
 * not empty, a `\n` only as its last byte, and that `\n` there unless it is
 * the last line (`last`).
 */
function isLine(l: Uint8Array, last: boolean): boolean {
  const nl = l.indexOf(0x0a);
  return l.length > 0 && (nl === -1 ? last : nl === l.length - 1);
}

/** What makes `l` no line, for a rule's message (see {@link isLine}). */
function lineFault(l: Uint8Array): string {
  if (l.length === 0) return "an empty line (an empty result is the end of the body, never a line)";
  const nl = l.indexOf(0x0a);
  return nl !== -1 && nl !== l.length - 1 ? `a "\n" at byte ${nl} of ${l.length}, more than one line` : `no "\n" at its end, which only the last line may lack`;
}

/**
 * What makes `v`, a `Uint8Array`, no result `tsgi.input` may give, or
 * `null`: it must be a view of an `ArrayBuffer`, never of shared memory (a
 * `SharedArrayBuffer`, which `crypto.subtle.digest()` refuses and another
 * thread may change; spec.md "tsgi.input", the reads' type in spec.ts).
 */
function sharedFault(v: Uint8Array): string | null {
  const buffer: unknown = v.buffer;
  return buffer instanceof ArrayBuffer ? null : `a Uint8Array(${v.length}) over a ${typeof SharedArrayBuffer === "function" && buffer instanceof SharedArrayBuffer ? "SharedArrayBuffer" : show(buffer)}, not an ArrayBuffer (copy shared memory before handing it out: new Uint8Array(bytes); a Buffer's slice() is no copy)`;
}

/** Whether `v` is bytes `tsgi.input` may give: a `Uint8Array` over an `ArrayBuffer` (see {@link sharedFault}). */
function isBytes(v: unknown): v is Uint8Array<ArrayBuffer> {
  return v instanceof Uint8Array && sharedFault(v) === null;
}

/** A checking wrapper of `input` (the server's `tsgi.input`), which the validator puts in the environ in its place. */
export function wrapInput(input: InputStream): InputStream {
  let eof = false;
  /** The read in progress (its method's name), or null: spec.md, reads MUST NOT overlap. */
  let reading: string | null = null;
  const enter = (method: string): void => {
    if (reading !== null) {
      fail("input-overlap", `tsgi.input.${method}() was called while tsgi.input.${reading}() was still pending; await each read before starting the next`);
    }
    reading = method;
  };
  const leave = (): void => {
    reading = null;
  };
  const sizeArg = (rule: Rule, method: string, size: unknown): number | undefined => {
    if (size === undefined || size === null) return undefined;
    if (typeof size !== "number" || !Number.isInteger(size) || size < 0) {
      fail(rule, `tsgi.input.${method}(size): size must be undefined, null or a non-negative integer, got ${show(size)}`);
    }
    return size;
  };
  const result = (rule: Rule, method: string, v: unknown, size: number | undefined): Uint8Array<ArrayBuffer> => {
    if (!(v instanceof Uint8Array)) fail(rule, `tsgi.input.${method}() must resolve to a Uint8Array, got ${show(v)}`);
    if (!isBytes(v)) fail(rule, `tsgi.input.${method}() resolved to ${sharedFault(v)}`);
    if (size !== undefined && v.length > size) fail(rule, `tsgi.input.${method}(${size}) returned ${v.length} bytes`);
    if (eof && v.length > 0) fail("input-after-eof", `tsgi.input.${method}() returned ${v.length} bytes after the end of the body`);
    return v;
  };
  const wrapper: InputStream = {
    async read(size?: number | null) {
      if (arguments.length > 1) fail("input-read-size", "tsgi.input.read() takes at most one argument");
      const n = sizeArg("input-read-size", "read", size);
      enter("read");
      let got: unknown;
      try {
        got = await input.read(...(arguments.length ? [size] : []));
      } finally {
        leave();
      }
      const v = result("input-read-result", "read", got, n);
      if (n === undefined || (n > 0 && v.length === 0)) eof = true;
      return v;
    },
    async readline(size?: number | null) {
      if (arguments.length > 1) fail("input-readline-size", "tsgi.input.readline() takes at most one argument");
      const n = sizeArg("input-readline-size", "readline", size);
      enter("readline");
      let got: unknown;
      try {
        got = await input.readline(...(arguments.length ? [size] : []));
      } finally {
        leave();
      }
      const v = result("input-readline-result", "readline", got, n);
      const nl = v.indexOf(0x0a);
      if (nl !== -1 && nl !== v.length - 1) fail("input-readline-result", `tsgi.input.readline() returned more than one line`);
      if (n !== 0 && v.length === 0) eof = true;
      return v;
    },
    async readlines(hint?: number | null) {
      if (arguments.length > 1 || (hint !== undefined && hint !== null && typeof hint !== "number")) {
        fail("input-readlines", `tsgi.input.readlines(hint): hint must be undefined, null or a number, got ${show(hint)}`);
      }
      enter("readlines");
      let lines: unknown;
      try {
        lines = await input.readlines(...(arguments.length ? [hint] : []));
      } finally {
        leave();
      }
      if (!Array.isArray(lines) || !lines.every((l) => l instanceof Uint8Array)) {
        fail("input-readlines", `tsgi.input.readlines() must resolve to an array of Uint8Array, got ${show(lines)}`);
      }
      if (!lines.every(isBytes)) {
        const shared = lines.findIndex((l) => !isBytes(l));
        fail("input-readlines", `tsgi.input.readlines() resolved to an array whose item ${shared} is ${sharedFault(lines[shared]!)}`);
      }
      const bad = lines.findIndex((l, k) => !isLine(l, k === lines.length - 1));
      if (bad !== -1) fail("input-readlines", `tsgi.input.readlines() resolved to an array whose item ${bad} (${show(lines[bad])}) is not one line: ${lineFault(lines[bad]!)}`);
      return lines;
    },
    async *[Symbol.asyncIterator]() {
      const it = input[Symbol.asyncIterator]();
      let done = false;
      /** The item before lacked its "\n": it was the last line, or the stream split one. */
      let unterminated = false;
      try {
        for (;;) {
          enter("[Symbol.asyncIterator]().next");
          let step: IteratorResult<unknown>;
          try {
            step = await it.next();
          } finally {
            leave();
          }
          if (step.done) {
            done = true;
            return;
          }
          const line = step.value;
          if (!(line instanceof Uint8Array)) fail("input-iteration", `Iterating tsgi.input yielded ${show(line)}`);
          if (!isBytes(line)) fail("input-iteration", `Iterating tsgi.input yielded ${sharedFault(line)}`);
          // wsgiref iterates by readline(): each item is one line, and only the last may lack its "\n".
          if (unterminated) fail("input-iteration", `Iterating tsgi.input yielded ${show(line)} after a line without "\n", which only the last line may lack`);
          if (!isLine(line, true)) fail("input-iteration", `Iterating tsgi.input yielded ${show(line)}, not one line: ${lineFault(line)}`);
          unterminated = line[line.length - 1] !== 0x0a;
          yield line;
        }
      } finally {
        if (!done) await it.return?.();
      }
    },
  };
  Object.defineProperty(wrapper, "close", {
    value: () => fail("input-close", "tsgi.input.close() must not be called"),
    enumerable: false,
  });
  if (typeof input.setHundredContinueResponseHeaders === "function") {
    // The interim response's fields follow the final one's rules (a CR/LF would split the response).
    wrapper.setHundredContinueResponseHeaders = (h) => {
      checkHeaders(h);
      input.setHundredContinueResponseHeaders!(h);
    };
  }
  if (typeof input.sendHundredContinueResponse === "function") {
    wrapper.sendHundredContinueResponse = () => input.sendHundredContinueResponse!();
  }
  if (typeof input.read1 === "function") {
    wrapper.read1 = async function (size?: number | null) {
      if (arguments.length > 1) fail("input-read-size", "tsgi.input.read1() takes at most one argument");
      const n = sizeArg("input-read-size", "read1", size);
      enter("read1");
      let got: unknown;
      try {
        got = await input.read1!(...(arguments.length ? [size] : []));
      } finally {
        leave();
      }
      const v = result("input-read-result", "read1", got, n);
      if (n !== 0 && v.length === 0) eof = true;
      return v;
    };
  }
  return wrapper;
}
