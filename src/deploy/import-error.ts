/**
 * One-line descriptions of what importing an app module threw, for
 * `tsgi serve` (production logs: the message and where, no stack dump).
 * Bun reports a syntax error as an `AggregateError` of `BuildMessage`s
 * (`2 errors building "app.ts"`, the positions only on the members), an
 * unresolved import as a `ResolveMessage`, and code that throws while the
 * module runs as an ordinary error whose stack points at the TypeScript
 * source (Bun's inline source maps).
 * @module
 */
import { dirname } from "node:path";

/** A place in a source file (1-based line and column). */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** tsgi's own sources: never the place to blame. */
const OWN_SOURCES = dirname(import.meta.dir);

/** The `position` Bun puts on a `BuildMessage` or `ResolveMessage`, when it has one. */
export function messagePosition(error: { position?: unknown }): SourcePosition | undefined {
  const pos = error.position as { file?: string; line?: number; column?: number } | null | undefined;
  return pos?.file && pos.line ? { file: pos.file, line: pos.line, column: pos.column ?? 1 } : undefined;
}

/** The first `at file:line:column` of `stack` in the user's code (not node_modules, not tsgi, not Bun's built-ins). */
export function userFrame(stack: string): SourcePosition | undefined {
  for (const m of stack.matchAll(/^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$/gm)) {
    let file = m[1]!;
    if (file.startsWith("file://")) file = decodeURIComponent(file.slice(7));
    if (!file.startsWith("/") || file.includes("/node_modules/") || file.startsWith(`${OWN_SOURCES}/`)) continue;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

/**
 * Describe an error thrown by `import(app)` in one line:
 * - syntax errors: `SyntaxError: <first message> (file:line:column) (and N more errors in this file)`;
 * - an unresolved import: Bun's message (it names the specifier and the importer);
 * - anything else: `Name: message (file:line:column)`, the first user frame of its
 *   stack (`Error: ` left out). JavaScriptCore's proper tail calls can drop
 *   the frame of a function that ended in `return f()`: its caller is named then.
 */
export function describeImportError(error: unknown): string {
  if (typeof error !== "object" || error === null) return `a non-Error value was thrown: ${String(error)}`;
  const e = error as { name?: unknown; message?: unknown; errors?: unknown; stack?: unknown; position?: unknown };
  const members = Array.isArray(e.errors) ? (e.errors as Array<{ name?: unknown; message?: unknown; position?: unknown }>) : [];
  const build = members.filter((m) => typeof m === "object" && m !== null && m.name === "BuildMessage");
  if (build.length > 0 || e.name === "BuildMessage") {
    const first = build[0] ?? e;
    const at = messagePosition(first);
    const more = build.length - 1;
    return `SyntaxError: ${String(first.message)}${at ? ` (${where(at)})` : ""}${more > 0 ? ` (and ${more} more error${more > 1 ? "s" : ""} in this file)` : ""}`;
  }
  const message = String(e.message ?? error);
  if (e.name === "ResolveMessage") {
    const at = messagePosition(e);
    return `${message}${at ? ` (${where(at)})` : ""}`;
  }
  const name = typeof e.name === "string" && e.name !== "Error" ? `${e.name}: ` : "";
  const at = typeof e.stack === "string" ? userFrame(e.stack) : undefined;
  return `${name}${message}${at ? ` (${where(at)})` : ""}`;
}

function where(p: SourcePosition): string {
  return `${p.file}:${p.line}:${p.column}`;
}
