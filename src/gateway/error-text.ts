/**
 * An error as the error log writes it: its stack, then its `cause` chain
 * and, for an `AggregateError`, the errors it holds (shared by the server,
 * the fetch bridge, the CGI handlers and `tsgi serve`).
 * @module
 */
import { describe as describeType, showValue, unboxed, unreadableValue } from "./response-fields.ts";

/** Causes followed at most, and errors of an `AggregateError` shown at most. */
const MAX_RELATED = 8;

/** A stack that starts with a frame, with no `Name: message` line: JavaScriptCore's `fn@file:1:2` (a DOMException's), or V8's `    at fn (file:1:2)`. */
const FRAME_FIRST = /^(?:[^\s@:]*@|\s+at )/;

/** One error's own text: its stack, or `Name: message`, or `String()` of a non-Error (its fields when that says only `[object Object]`); never throws ({@link unreadable}). */
function ownText(error: unknown): string {
  try {
    return readOwnText(error);
  } catch (readError) {
    return unreadable(error, readError);
  }
}

function readOwnText(error: unknown): string {
  if (error instanceof Error) {
    const stack = typeof error.stack === "string" ? withoutTrailingNewlines(error.stack) : "";
    // Bun gives an AggregateError (Promise.any) an empty message and a stack of just "AggregateError: ".
    // (A name that cannot be read leaves the stack as it is.)
    const name = tryRead(() => String(error.name));
    if (stack && stack.trim() !== `${name}:`) {
      // A DOMException's stack (an AbortError of an AbortController's) is its frames alone
      // ("abort@[native code]"): its name and message go first, as every other error's stack has them.
      // (A stack the app set to a text of its own is kept as it is.)
      if (name !== undefined && FRAME_FIRST.test(stack)) return `${`${name}: ${error.message}`.replace(/: $/, "")}\n${stack}`;
      return stack;
    }
    return `${error.name}: ${error.message}`.replace(/: $/, "");
  }
  let text: string;
  try {
    text = String(error);
  } catch {
    text = Object.prototype.toString.call(error);
  }
  // An object with no text of its own (an upstream's `{ message, stack }` body thrown or given as a
  // cause after `await res.json()`) shows its fields, as Node and Bun print an uncaught one, not "[object Object]".
  if (typeof error === "object" && error !== null && /^\[object [^\]]*\]$/.test(text)) {
    const fields = tryRead(() => Bun.inspect(error, { compact: true } as Parameters<typeof Bun.inspect>[1]));
    if (fields !== undefined) return fields;
  }
  return text;
}

/**
 * `text` without the newlines it ends with. Not `/\n+$/`: a message may quote
 * a client's bytes, and that pattern, tried at each newline of a long run
 * that does not end the text, takes quadratic time (60,000 newlines: seconds).
 */
function withoutTrailingNewlines(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 10) end--;
  return end === text.length ? text : text.slice(0, end);
}

/**
 * What the log says of a thrown value whose reading threw (a getter on its
 * `stack`, `name` or `message`, a `Proxy`, a `toString` that throws): its
 * type and what reading it threw, so that the request still gets its 500
 * and its log line.
 */
function unreadable(error: unknown, readError: unknown): string {
  return `(a thrown ${typeof error} that cannot be read: reading it threw ${threw(readError)})`;
}

/** `Name: message` of what a read threw, as far as that reads. */
function threw(readError: unknown): string {
  try {
    return readError instanceof Error ? `${readError.name}: ${readError.message}` : String(readError);
  } catch {
    return "a value that cannot be printed either";
  }
}

/** `read()`, or `undefined` when reading throws (a getter, a `Proxy`). */
function tryRead<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** A short name for an error already shown above. */
function shortName(error: unknown): string {
  return tryRead(() => (error instanceof Error ? `${error.name}: ${error.message}` : undefined)) ?? ownText(error);
}

/** `text` with every line after the first indented by `pad`. */
function indent(text: string, pad: string): string {
  return text.replaceAll("\n", `\n${pad}`);
}

function describe(error: unknown, seen: Set<unknown>, depth: number): string {
  let text = ownText(error);
  seen.add(error);
  const errors = tryRead(() => (error instanceof AggregateError && Array.isArray(error.errors) ? (error.errors as unknown[]) : null)) ?? null;
  if (errors && depth < MAX_RELATED) {
    errors.slice(0, MAX_RELATED).forEach((inner: unknown, i: number) => {
      const body = seen.has(inner) ? `(shown above: ${shortName(inner)})` : describe(inner, seen, depth + 1);
      text += `\n  [${i + 1} of ${errors.length}] ${indent(body, "  ")}`;
    });
    if (errors.length > MAX_RELATED) text += `\n  (${errors.length - MAX_RELATED} more not shown)`;
  }
  let current = error;
  for (let n = 0; ; n++) {
    const holder = current;
    // A cause that cannot be read (a getter that throws) ends the chain.
    const cause: unknown = tryRead(() => (holder instanceof Error ? holder.cause : undefined));
    if (cause === undefined) break;
    if (n === MAX_RELATED || depth >= MAX_RELATED) {
      text += `\nCaused by: (more causes not shown)`;
      break;
    }
    if (seen.has(cause)) {
      text += `\nCaused by: (a cause shown above: ${shortName(cause)})`;
      break;
    }
    seen.add(cause);
    // An AggregateError cause shows its errors; a plain one continues this chain.
    const aggregate = tryRead(() => cause instanceof AggregateError) ?? false;
    text += `\nCaused by: ${aggregate ? describe(cause, seen, depth + 1) : ownText(cause)}`;
    if (aggregate) break;
    current = cause;
  }
  return text;
}

/**
 * The text of `error` for a log: its stack (`Name: message` and the frames,
 * or `String(error)` for a thrown non-Error, `Bun.inspect()`'s for an object
 * whose `String()` is `[object Object]`); for an `AggregateError`
 * (`Promise.any()`, `AggregateError([...])`) each error it holds, numbered
 * and indented (`[1 of 2] Error: ...`); then each `error.cause` in turn as
 * `Caused by: <its stack>` (ES2022 `new Error(message, { cause })`), as
 * Python's tracebacks show chained exceptions and exception groups. At most
 * 8 causes and 8 held errors are shown, and an error already shown is named,
 * not repeated (a cycle). No trailing newline. Never throws: a value
 * whose reading throws (a getter on its `stack`, a `Proxy`) is shown as
 * `(a thrown object that cannot be read: reading it threw ...)`, and a
 * `cause` that cannot be read ends the chain.
 *
 * @example errorText(new Error("loading settings failed", { cause: syntaxError }))
 * // "Error: loading settings failed\n    at ...\nCaused by: SyntaxError: JSON Parse error ...\n    at ..."
 */
export function errorText(error: unknown): string {
  try {
    return describe(error, new Set(), 0);
  } catch (readError) {
    // A held error list that throws as it is read (a Proxy of an array): the error itself, as far as it reads.
    return `${ownText(error)}\n(the errors it holds cannot be read: reading them threw ${threw(readError)})`;
  }
}

/**
 * The part of {@link errorText} after the error's own stack: the errors an
 * `AggregateError` holds and the `Caused by:` chain, each line starting with
 * `\n`; `""` when there are none. For a report that shows the error's own
 * stack its own way (tsgi-dev's error page and terminal).
 */
export function relatedErrorsText(error: unknown): string {
  const full = errorText(error);
  const own = ownText(error);
  return full.startsWith(own) ? full.slice(own.length) : "";
}

/** Longest JSON an option error quotes of a value (characters). */
const SHOWN_MAX = 60;

/**
 * `value` as an option error quotes it (`..., got <this>`): a number as
 * written (`NaN`, not JSON's `null`); any other primitive, a plain object
 * or an array as its JSON, cut to 60 characters with `…`; an instance of a
 * class as `a <Class>` (a stream or a logger, whose state says nothing to
 * the user); a function as `a function`; a bigint, a symbol or a boxed
 * primitive (`new String("x")`) as {@link showValue} shows them (`5n`,
 * `Symbol(s)`, `a String object holding "x", ...`); an object JSON cannot
 * show (a cycle) by its type and why (`Object (no JSON: TypeError: ...
 * cyclic structures.)`). Never throws: a value whose reading throws (a
 * revoked `Proxy`) as {@link unreadableValue} says.
 */
export function shownValue(value: unknown): string {
  try {
    return readShownValue(value);
  } catch (readError) {
    return unreadableValue(value, readError);
  }
}

function readShownValue(value: unknown): string {
  if (typeof value === "function") return "a function";
  // (A number as written: JSON would show NaN and Infinity as null.)
  if (typeof value === "number") return String(value);
  if (typeof value === "bigint" || typeof value === "symbol") return showValue(value);
  if (typeof value === "object" && value !== null && unboxed(value) !== undefined) return showValue(value);
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
    const name = proto?.constructor?.name;
    if (proto !== null && proto !== Object.prototype && typeof name === "string" && name !== "") return `a ${name}`;
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (jsonError) {
    return `${describeType(value)} (no JSON: ${threw(jsonError)})`;
  }
  if (text === undefined) return typeof value;
  return text.length > SHOWN_MAX ? `${text.slice(0, SHOWN_MAX)}…` : text;
}
