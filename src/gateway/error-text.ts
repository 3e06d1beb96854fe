/**
 * An error as the error log writes it: its stack, then its `cause` chain
 * (shared by the server, the fetch bridge, the CGI handlers and `tsgi serve`).
 * @module
 */

/** Causes followed at most: a longer chain is cut with a note. */
const MAX_CAUSES = 8;

/** One error's own text: its stack, or `Name: message`, or `String()` of a non-Error. */
function ownText(error: unknown): string {
  if (error instanceof Error) return (error.stack || `${error.name}: ${error.message}`).replace(/\n+$/, "");
  try {
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/**
 * The text of `error` for a log: its stack (`Name: message` and the frames,
 * or `String(error)` for a thrown non-Error), followed by each
 * `error.cause` in turn as `Caused by: <its stack>` (ES2022
 * `new Error(message, { cause })`), as Python's tracebacks show chained
 * exceptions ("The above exception was the direct cause ..."). At most 8
 * causes are followed, and a cause already shown is named, not repeated (a
 * cycle). No trailing newline.
 *
 * @example errorText(new Error("loading settings failed", { cause: syntaxError }))
 * // "Error: loading settings failed\n    at ...\nCaused by: SyntaxError: JSON Parse error ...\n    at ..."
 */
export function errorText(error: unknown): string {
  let text = ownText(error);
  const seen = new Set<unknown>([error]);
  let current = error;
  for (let depth = 0; current instanceof Error && "cause" in current && current.cause !== undefined; depth++) {
    const cause: unknown = current.cause;
    if (depth === MAX_CAUSES) {
      text += `\nCaused by: (${MAX_CAUSES} causes shown; more not shown)`;
      break;
    }
    if (seen.has(cause)) {
      text += `\nCaused by: (a cause shown above: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : ownText(cause)})`;
      break;
    }
    seen.add(cause);
    text += `\nCaused by: ${ownText(cause)}`;
    current = cause;
  }
  return text;
}
