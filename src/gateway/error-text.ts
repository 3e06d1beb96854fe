/**
 * An error as the error log writes it: its stack, then its `cause` chain
 * and, for an `AggregateError`, the errors it holds (shared by the server,
 * the fetch bridge, the CGI handlers and `tsgi serve`).
 * @module
 */

/** Causes followed at most, and errors of an `AggregateError` shown at most. */
const MAX_RELATED = 8;

/** One error's own text: its stack, or `Name: message`, or `String()` of a non-Error. */
function ownText(error: unknown): string {
  if (error instanceof Error) {
    const stack = typeof error.stack === "string" ? withoutTrailingNewlines(error.stack) : "";
    // Bun gives an AggregateError (Promise.any) an empty message and a stack of just "AggregateError: ".
    return stack && stack.trim() !== `${error.name}:` ? stack : `${error.name}: ${error.message}`.replace(/: $/, "");
  }
  try {
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
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

/** A short name for an error already shown above. */
function shortName(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : ownText(error);
}

/** `text` with every line after the first indented by `pad`. */
function indent(text: string, pad: string): string {
  return text.replaceAll("\n", `\n${pad}`);
}

function describe(error: unknown, seen: Set<unknown>, depth: number): string {
  let text = ownText(error);
  seen.add(error);
  const errors = error instanceof AggregateError && Array.isArray(error.errors) ? error.errors : null;
  if (errors && depth < MAX_RELATED) {
    errors.slice(0, MAX_RELATED).forEach((inner: unknown, i: number) => {
      const body = seen.has(inner) ? `(shown above: ${shortName(inner)})` : describe(inner, seen, depth + 1);
      text += `\n  [${i + 1} of ${errors.length}] ${indent(body, "  ")}`;
    });
    if (errors.length > MAX_RELATED) text += `\n  (${errors.length - MAX_RELATED} more not shown)`;
  }
  let current = error;
  for (let n = 0; current instanceof Error && current.cause !== undefined; n++) {
    const cause: unknown = current.cause;
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
    text += `\nCaused by: ${cause instanceof AggregateError ? describe(cause, seen, depth + 1) : ownText(cause)}`;
    if (cause instanceof AggregateError) break;
    current = cause;
  }
  return text;
}

/**
 * The text of `error` for a log: its stack (`Name: message` and the frames,
 * or `String(error)` for a thrown non-Error); for an `AggregateError`
 * (`Promise.any()`, `AggregateError([...])`) each error it holds, numbered
 * and indented (`[1 of 2] Error: ...`); then each `error.cause` in turn as
 * `Caused by: <its stack>` (ES2022 `new Error(message, { cause })`), as
 * Python's tracebacks show chained exceptions and exception groups. At most
 * 8 causes and 8 held errors are shown, and an error already shown is named,
 * not repeated (a cycle). No trailing newline.
 *
 * @example errorText(new Error("loading settings failed", { cause: syntaxError }))
 * // "Error: loading settings failed\n    at ...\nCaused by: SyntaxError: JSON Parse error ...\n    at ..."
 */
export function errorText(error: unknown): string {
  return describe(error, new Set(), 0);
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
 * `value` as an option error quotes it (`..., got <this>`): a primitive, a
 * plain object or an array as its JSON, cut to 60 characters with `…`; an
 * instance of a class as `a <Class>` (a stream or a logger, whose state
 * says nothing to the user); a function as `a function`; what has no JSON
 * (a symbol, a cycle) by its type.
 */
export function shownValue(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
    const name = proto?.constructor?.name;
    if (proto !== null && proto !== Object.prototype && typeof name === "string" && name !== "") return `a ${name}`;
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) return typeof value;
  return text.length > SHOWN_MAX ? `${text.slice(0, SHOWN_MAX)}…` : text;
}
