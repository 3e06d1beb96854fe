/**
 * Turning what was thrown (a Bun `BuildMessage` for a syntax error, a
 * `ResolveMessage` for an import that does not resolve, a link-time
 * `SyntaxError`, any runtime `Error`) into one shape the terminal and the
 * error page print: a title, a message, the user-code location with a code
 * frame, and the stack frames.
 *
 * Bun transpiles TypeScript with inline source maps, so the line:column in
 * `error.stack` already point at the user's TypeScript source; the frames are
 * parsed from it as they are, with `stacktrace-parser`.
 * @module
 */
import { readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { parse as parseJson, type ParseError } from "jsonc-parser";
import { parse } from "stacktrace-parser";
import { messagePosition } from "../deploy/load-app.ts";
import { relatedErrorsText } from "../gateway/error-text.ts";
import { fetchHandlerHint } from "../gateway/fetch-handler-hint.ts";
import { nodeHandlerHint } from "../gateway/node-handler-hint.ts";
import { nearbyModuleHint } from "../deploy/nearby-module.ts";
import { pathAliasHint } from "../deploy/path-alias.ts";
import { escapeControls } from "../server/log.ts";
import { codeFrame, renderCodeFrame, type CodeFrame, type SourceLocation } from "./code-frame.ts";
import { findImporter } from "./graph.ts";
import { declaresValue, typeExportHint } from "./type-export.ts";
import { isUserFile, stripQuery } from "./paths.ts";
import { messageOf } from "./loader.ts";
import { unversion } from "./versioning.ts";

/** One parsed line of `error.stack`. */
export interface StackFrame {
  /** The function name, when the line has one. */
  fn?: string;
  file: string;
  line: number;
  column: number;
  /** In a user file (not node_modules, not Bun's built-ins, not tsgi's own modules). */
  user: boolean;
  /** In tsgi's own modules (the dev server, the server): hidden from the stacks shown. */
  internal: boolean;
  /** The source around the frame, for user frames (the first few only). */
  frame?: CodeFrame;
}

/** A described error. */
export interface Diagnosis {
  /** `"SyntaxError"`, `"TypeError"`, `"Error"`, ... (`BuildMessage` becomes `"SyntaxError"`, `ResolveMessage` `"ModuleNotFound"`). */
  title: string;
  message: string;
  /** Where in the user's code, when known. */
  location?: SourceLocation;
  /** Source around {@link location}. */
  frame?: CodeFrame;
  /** The parsed stack (empty for build and resolve errors). */
  stack: StackFrame[];
  /** `error.stack` as it was (or the message), for the raw view. */
  raw: string;
  /**
   * The errors an `AggregateError` holds and the `Caused by:` chain (ES2022
   * `{ cause }`), as the server's error log writes them (`errorText`), each
   * line after a `\n`; absent when there are none.
   */
  related?: string;
  /** What the error most likely means and what to do, for a known first mistake (a node:http handler: `nodeHandlerHint`; a `(request, server)` fetch handler: `fetchHandlerHint`; a package not installed: `missingPackageHint`; a tsconfig `paths` alias or package.json `"imports"` entry with no module behind it: `pathAliasHint`). */
  hint?: string;
}

/** Options of {@link diagnose}. */
export interface DiagnoseOptions {
  /** Files in which to look for the import behind a link error (the app's module graph). */
  graph?: readonly string[];
  /** Paths that are not user code even though outside node_modules (tsgi's own sources). */
  internal?: (file: string) => boolean;
  /** Code frames for at most this many user stack frames. Default 3. */
  frames?: number;
}

/**
 * Parse the `at ...` lines of a V8/JSC-style stack string with
 * `stacktrace-parser` (which reads Bun's frames right, paths with spaces or
 * parentheses included; `error-stack-parser` drops the parentheses from
 * paths). Only lines starting with `at` are given to it: it also reads
 * other browsers' formats, under which any `text:1:2` line is a frame.
 * Lines that are not frames, and frames without a line and column (Bun's
 * `at <parse> (:0)`), are skipped; so are lines longer than
 * {@link MAX_FRAME_LINE} and those past the first
 * {@link MAX_FRAME_CHARS_PARSED} characters of frame lines, which the
 * parser never sees.
 */
export function parseStack(stack: string, internal: (file: string) => boolean = () => false): StackFrame[] {
  const budget: FrameBudget = { chars: MAX_FRAME_CHARS_PARSED };
  const lines = stack.split("\n").filter((line) => /^\s*at /.test(line) && withinBudget(line, budget));
  const frames: StackFrame[] = [];
  for (const f of parse(lines.join("\n"))) {
    if (f.lineNumber === null || f.column === null) continue;
    // Bun's built-ins (`native:7:39`) come with no file, the location as an argument.
    let file = f.file ?? f.arguments[0] ?? "native";
    if (file.startsWith("file://")) file = decodeURIComponent(file.slice(7));
    file = stripQuery(file);
    const name = f.methodName === "<unknown>" ? undefined : f.methodName.replace(/^async /, "");
    const fn = displayName(name || undefined, file);
    const own = internal(file);
    frames.push({ fn, file, line: f.lineNumber, column: f.column, user: isUserFile(file) && !own, internal: own });
  }
  return frames;
}

/**
 * Bun names an anonymous default export after its file (`app_default` in
 * app.ts, `my_app_default` in my-app.ts) or `starDefault` (an arrow
 * function): shown as `default export`.
 */
function displayName(fn: string | undefined, file: string): string | undefined {
  if (fn === undefined) return undefined;
  if (fn === "starDefault") return "default export";
  if (fn.endsWith("_default")) {
    const base = basename(file).replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_$]/g, "_");
    if (fn === `${/^[0-9]/.test(base) ? "_" : ""}${base}_default`) return "default export";
  }
  return fn;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

/**
 * Whether `error` is one of Bun's own `BuildMessage` or `ResolveMessage`
 * objects (an instance of the global class), whose `position` and
 * `referrer` name the file to show. A value with only the `name` (a plain
 * object thrown after `await res.json()`, whose fields came from outside) is
 * described as any other thrown value: the file it names is never read.
 */
function isBunMessage(error: unknown, kind: "BuildMessage" | "ResolveMessage"): boolean {
  const cls = (globalThis as Record<string, unknown>)[kind];
  return typeof cls === "function" && error instanceof cls;
}

/**
 * Characters of an error's title, message and chained errors ({@link
 * Diagnosis.related}) that {@link diagnose} keeps: 256 Ki each, far more
 * than anyone reads, and a bound on what the page and the terminal get from
 * a message that quotes a request (an upload echoed into a message made a
 * page four times its size, HTML-escaped, and took seconds per request).
 */
export const MAX_MESSAGE_CHARS = 256 * 1024;

/**
 * Characters of a stack frame's function name and file that {@link
 * diagnose} keeps: 1 Ki, past any real path (Linux's PATH_MAX is 4 Ki
 * bytes, real ones are far shorter) and a bound on the frames a thrown
 * value's own `stack` field lists (up to 50 on the page, 8 in the terminal).
 */
export const MAX_FRAME_CHARS = 1024;

/**
 * Longest line {@link parseStack} reads as a frame (characters): a
 * function name and a file of up to {@link MAX_FRAME_CHARS} each, far past
 * any real frame (Bun's are a name and a path, rarely 200 characters
 * together). `stacktrace-parser`'s patterns take time quadratic in a line's
 * length (a lazy group tried to the line's end from each `(`, `@`, `:` or
 * space), and a stack may hold a client's text: a cause's message quoting a
 * request body, a thrown object's own `stack` field (an upstream's JSON).
 * One line of 192,000 characters (`a (` repeated, ending `:1:1)`) held
 * tsgi-dev for 3.6 s of CPU, a megabyte for minutes; a line of this length
 * takes at most about 10 ms.
 */
export const MAX_FRAME_LINE = 2 * MAX_FRAME_CHARS + 64;

/**
 * Characters of frame lines (of at most {@link MAX_FRAME_LINE} each) that
 * one stack, or the chained errors' text, gives `stacktrace-parser` at
 * most: over a hundred real frames (Bun keeps 10 per error,
 * `Error.stackTraceLimit`; the page shows 50), and a bound on its time for
 * any text (about 70 ms for 16 Ki of the worst lines, microseconds for real
 * ones). Lines past it are not read as frames.
 */
export const MAX_FRAME_CHARS_PARSED = 16 * 1024;

/** What is left of {@link MAX_FRAME_CHARS_PARSED} for one stack text. */
interface FrameBudget {
  chars: number;
}

/** Whether `line` (an `at ...` line) is short enough to read as a frame and fits in `budget`, which it then uses up. */
function withinBudget(line: string, budget: FrameBudget): boolean {
  if (line.length > MAX_FRAME_LINE || line.length > budget.chars) return false;
  budget.chars -= line.length;
  return true;
}

/** `text` cut at `max` ({@link MAX_MESSAGE_CHARS}), never inside a surrogate pair, with `… (N more characters not shown)`. */
export function boundText(text: string, max = MAX_MESSAGE_CHARS): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}… (${(text.length - end).toLocaleString("en-US")} more characters not shown)`;
}

/**
 * Describe any thrown value. Never throws. The title, message and chained
 * errors are cut at {@link MAX_MESSAGE_CHARS} ({@link boundText}), the
 * stack frames' function names and files at {@link MAX_FRAME_CHARS}; `raw`
 * stays whole.
 */
export function diagnose(error: unknown, options: DiagnoseOptions = {}): Diagnosis {
  let d: Diagnosis;
  try {
    d = describe(error, options);
  } catch (readError) {
    d = unreadable(error, readError, options);
  }
  d.title = boundText(d.title);
  d.message = boundText(d.message);
  if (d.related !== undefined) d.related = boundText(d.related);
  // After the code frames were read: a cut path names no file.
  for (const f of d.stack) {
    f.file = boundText(f.file, MAX_FRAME_CHARS);
    if (f.fn !== undefined) f.fn = boundText(f.fn, MAX_FRAME_CHARS);
  }
  if (d.location) d.location = { ...d.location, file: boundText(d.location.file, MAX_FRAME_CHARS) };
  return d;
}

/**
 * A thrown value whose reading threw (a getter on its `name` or `stack`, a
 * `Proxy`): described by what reading it threw, whose stack points at the
 * getter, as `Error: the thrown object cannot be read: reading it threw ...`.
 */
function unreadable(error: unknown, readError: unknown, options: DiagnoseOptions): Diagnosis {
  const what = `the thrown ${typeof error} cannot be read: reading it threw`;
  try {
    const inner = describe(readError, options);
    const message = `${what} ${inner.title}: ${inner.message}`;
    return { ...inner, title: "Error", message, raw: `${message}\n${inner.raw}` };
  } catch {
    return { title: "Error", message: `${what} a value that cannot be read either`, stack: [], raw: what };
  }
}

function describe(error: unknown, options: DiagnoseOptions): Diagnosis {
  const internal = options.internal ?? (() => false);
  const maxFrames = options.frames ?? 3;
  if (!isObject(error)) {
    return { title: "Error", message: `a non-Error value was thrown: ${String(error)}`, stack: [], raw: String(error) };
  }
  // Several syntax errors in one file: Bun throws an AggregateError of BuildMessages; show the first.
  if (Array.isArray(error.errors) && error.errors.length > 0 && isBunMessage(error.errors[0], "BuildMessage")) {
    const first = describe(error.errors[0], options);
    const more = error.errors.length - 1;
    return more > 0 ? { ...first, message: `${first.message} (and ${more} more error${more > 1 ? "s" : ""} in this file)` } : first;
  }
  // A thrown object that is no Error ({ code: 1 }, one without a prototype): described, as a primitive is.
  if (!(error instanceof Error) && error.message === undefined && !isBunMessage(error, "BuildMessage") && !isBunMessage(error, "ResolveMessage")) {
    let text: string;
    try {
      text = Bun.inspect(error, { compact: true } as Parameters<typeof Bun.inspect>[1]);
    } catch {
      text = messageOf(error);
    }
    return { title: "Error", message: `a non-Error value was thrown: ${text}`, stack: [], raw: text };
  }
  const name = messageOf(error.name ?? (error.constructor as { name?: string } | undefined)?.name ?? "Error");
  const message = unversion(messageOf(error.message ?? error));

  // A module file deleted or renamed since Bun's resolver last saw it: Bun
  // reports `ENOENT reading "<path>"` with no position. Point at the import.
  const vanished = /^ENOENT reading "(.+)"$/.exec(message);
  if (vanished && options.graph) {
    const importer = findImporter(options.graph, vanished[1]!);
    if (importer) {
      const text = `Cannot find module '${importer.specifier}' imported from ${importer.file} (${vanished[1]} does not exist)`;
      const location = findSpecifier(importer.file, importer.specifier);
      const hint = nearbyModuleHint(importer.specifier, importer.file) ?? pathAliasHint(importer.specifier, importer.file);
      return withFrame({ title: "ModuleNotFound", message: text, location, stack: [], raw: `${text}${location ? `\n    at ${fmt(location)}` : ""}`, ...(hint ? { hint } : {}) });
    }
  }

  // Syntax errors found by Bun's transpiler.
  if (isBunMessage(error, "BuildMessage")) {
    const location = positionOf(error);
    return withFrame({ title: "SyntaxError", message, location, stack: [], raw: `${message}${location ? `\n    at ${fmt(location)}` : ""}` });
  }

  // An import specifier that does not resolve: point at it in the importer.
  if (isBunMessage(error, "ResolveMessage")) {
    const referrer = typeof error.referrer === "string" ? stripQuery(error.referrer) : undefined;
    const specifier = typeof error.specifier === "string" ? error.specifier : undefined;
    let location: SourceLocation | undefined = positionOf(error);
    if (!location && referrer && specifier) location = findSpecifier(referrer, specifier);
    // A misspelt file name or extension: the nearest file there (Bun suggests none). A tsconfig `paths` alias or
    // package.json "imports" entry with no module behind it yet, which Bun calls a package.
    const hint = referrer && specifier ? (nearbyModuleHint(specifier, referrer) ?? pathAliasHint(specifier, referrer)) : undefined;
    return withFrame({ title: "ModuleNotFound", message, location, stack: [], raw: `${message}${location ? `\n    at ${fmt(location)}` : ""}`, ...(hint ? { hint } : {}) });
  }

  const raw = typeof error.stack === "string" && error.stack ? unversion(error.stack) : `${name}: ${message}`;
  // The frames are the runtime's lines after the message; the message is the
  // app's text (often holding a request path) and may itself contain lines
  // shaped like `    at /etc/passwd:1:1`, which must never count as frames.
  const stack = parseStack(afterMessage(raw, name, message), internal);
  // Source is shown only for modules Bun loaded, never for a path that some text named; and only
  // from the stack of a real Error: a plain object's `stack` is its fields' text (an upstream's
  // `{ message, stack }` body rethrown after `await res.json()`), which may name any loaded module.
  const loaded = error instanceof Error ? loadedModules(options.graph) : new Set<string>();
  let count = 0;
  for (const f of stack) {
    if (f.user && count < maxFrames && loaded.has(f.file)) {
      f.frame = codeFrame(f);
      if (f.frame) count++;
    }
  }

  // Link errors carry no position: find the import of the missing name. A re-export's names the
  // specifier as written, not the module: found by it. The name may be a type imported as a value.
  let location: SourceLocation | undefined;
  let typeHint: string | undefined;
  const link = /Export named '([^']+)' not found in module '([^']+)'/.exec(message) ?? /^export '([^']+)' not found in '([^']+)'$/.exec(message);
  if (link && options.graph) {
    const missing = link[1]!;
    // The specifier as written may stand in several modules (each feature folder's "./types.ts"): the one that
    // fails is one whose module has the name as a type, else one that does not plainly declare it as a value.
    const found = link[0].startsWith("Export named")
      ? findNamedImport(options.graph, missing, { module: stripQuery(link[2]!) })
      : findNamedImport(options.graph, missing, { specifier: link[2]! }, (module) => (typeExportHint(missing, module) !== undefined ? 0 : declaresValue(missing, module) ? 2 : 1));
    location = found?.location;
    if (found) typeHint = typeExportHint(missing, found.module);
  }
  location ??= stack.find((f) => f.user && loaded.has(f.file));
  // Bun's error for a .json module that does not parse names no file: find it in the graph.
  if (!location && name === "SyntaxError" && message.startsWith("JSON Parse error") && options.graph) location = brokenJson(options.graph);
  const loc = location ? { file: location.file, line: location.line, column: location.column } : undefined;
  // The held errors' and causes' frames as the main stack shows them: without tsgi's own, nor Bun's `at <parse> (:0)`.
  // A line too long to be a frame, or past the budget, is not read: kept as the text it is (a cause's message may quote a client).
  const budget: FrameBudget = { chars: MAX_FRAME_CHARS_PARSED };
  const related = unversion(relatedErrorsText(error))
    .split("\n")
    .filter((line) => {
      if (!/^\s+at /.test(line)) return true;
      const frame = line.trim();
      return !withinBudget(frame, budget) || parseStack(frame, internal).some((f) => !f.internal);
    })
    .join("\n");
  const hint = typeHint ?? nodeHandlerHint(error) ?? fetchHandlerHint(error);
  return withFrame({ title: name, message, location: loc, stack, raw: raw + related, ...(related ? { related } : {}), ...(hint === null ? {} : { hint }) });
}

/**
 * The part of a stack string after its `Name: message` header, with any line
 * that is also a line of the message left out (a stack whose header is not
 * the usual one).
 */
function afterMessage(stack: string, name: string, message: string): string {
  for (const header of [`${name}: ${message}`, message]) {
    if (header && stack.startsWith(header)) return stack.slice(header.length);
  }
  if (!message.includes("\n")) return stack;
  const messageLines = new Set(message.split("\n").map((l) => l.trim()));
  return stack
    .split("\n")
    .filter((l) => !messageLines.has(l.trim()))
    .join("\n");
}

/** A BuildMessage's or ResolveMessage's position, in the plain file (a module read through tsgi-dev's loader plugin is named with its generation query). */
function positionOf(error: { position?: unknown }): SourceLocation | undefined {
  const pos = messagePosition(error);
  return pos ? { ...pos, file: stripQuery(pos.file) } : undefined;
}

/**
 * The first `.json` file of `files` that does not parse, at its first error
 * (jsonc-parser's offset, in strict JSON mode): a JSON module's import error
 * carries no file or position. Unreadable files are skipped.
 */
function brokenJson(files: readonly string[]): SourceLocation | undefined {
  for (const file of files) {
    if (!file.endsWith(".json")) continue;
    let source: string;
    try {
      source = readFileSync(file, "utf8").replace(/^\uFEFF/, "");
    } catch {
      continue;
    }
    try {
      JSON.parse(source);
      continue;
    } catch {
      // The broken one.
    }
    const errors: ParseError[] = [];
    parseJson(source, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    return { file, ...lineColumn(source, errors[0]?.offset ?? 0) };
  }
  return undefined;
}

/** The files Bun loaded as modules: the app's graph and the module cache (query strings removed). */
function loadedModules(graph: readonly string[] | undefined): Set<string> {
  const files = new Set(graph ?? []);
  for (const key of Object.keys(require.cache)) files.add(stripQuery(key));
  return files;
}

function withFrame(d: Diagnosis): Diagnosis {
  if (d.location && !d.frame) d.frame = codeFrame(d.location);
  return d;
}

function fmt(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

function lineColumn(source: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = source.indexOf("\n"); i !== -1 && i < index; i = source.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: index - lineStart + 1 };
}

/** The first place `specifier` appears as a string literal in `file`. */
function findSpecifier(file: string, specifier: string): SourceLocation | undefined {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const q of ['"', "'", "`"]) {
    const i = source.indexOf(q + specifier + q);
    if (i !== -1) return { file, ...lineColumn(source, i) };
  }
  return undefined;
}

/**
 * Find `import { name } from "<spec>"` or `export { name } from "<spec>"` among `files`, where
 * `<spec>` resolves to `target.module` or is written as `target.specifier`; returns where `name`
 * stands and the module `<spec>` resolves to. With `rank` (of the module; lower is likelier the one
 * that failed, 0 at once), the first of the lowest rank, else the first found.
 */
function findNamedImport(
  files: readonly string[],
  name: string,
  target: { module: string } | { specifier: string },
  rank?: (module: string) => number,
): { location: SourceLocation; module: string } | undefined {
  let best: { location: SourceLocation; module: string } | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  const esc = name.replace(/[$]/g, "\\$");
  // The name between non-identifier characters (`\b` does not match before or after a `$`: `$User`, `User$`).
  const word = `(?<![\\w$])(${esc})(?![\\w$])`;
  const re = new RegExp(`import\\s+(?:[\\w$]+\\s*,\\s*)?\\{[^}]*?${word}[^}]*\\}\\s*from\\s*(["'])([^"']+)\\2|export\\s*\\{[^}]*?${word}[^}]*\\}\\s*from\\s*(["'])([^"']+)\\5`, "g");
  for (const file of files) {
    if (!isUserFile(file)) continue;
    let source: string;
    try {
      source = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const m of source.matchAll(re)) {
      const spec = m[3] ?? m[6]!;
      if ("specifier" in target && spec !== target.specifier) continue;
      let resolved: string;
      try {
        resolved = stripQuery(Bun.resolveSync(spec, dirname(file)));
      } catch {
        continue;
      }
      if ("module" in target && resolved !== target.module) continue;
      const offset = m.index! + m[0].search(new RegExp(`(?<![\\w$])${esc}(?![\\w$])`));
      const found = { location: { file, ...lineColumn(source, offset) }, module: resolved };
      if (rank === undefined) return found;
      const r = rank(resolved);
      if (r === 0) return found;
      if (r < bestRank) {
        best = found;
        bestRank = r;
      }
    }
  }
  return best;
}

/**
 * The terminal rendering: `Title: message`, `at file:line:column`, the code
 * frame, then up to `maxStack` stack lines, then the held errors and causes
 * ({@link Diagnosis.related}). Control characters (which an
 * error message may carry from a request: ESC sequences could recolour,
 * retitle or clear the terminal) are shown as `\xHH` ({@link escapeControls}).
 */
export function formatDiagnosis(d: Diagnosis, maxStack = 8): string {
  // An error without a message (`throw new Error()`) is its name alone, as Bun and Node print it, not `Error: `.
  const out = [d.message ? `${d.title}: ${d.message}` : d.title];
  const shown = whereAndStack(d);
  if (shown.at) out.push(`    at ${shown.at}`);
  if (d.frame) out.push("", renderCodeFrame(d.frame), "");
  for (const f of shown.stack.slice(0, maxStack)) out.push(`    at ${formatFrame(f)}`);
  if (d.related) out.push(d.related.slice(1));
  if (d.hint) out.push(d.hint);
  return escapeControls(out.join("\n").trimEnd());
}

/** The frames worth showing: without tsgi's own (the dev server's wrappers and the server). */
export function visibleFrames(stack: StackFrame[]): StackFrame[] {
  return stack.filter((f) => !f.internal);
}

/**
 * The `at` line under the message and the stack frames to list after the
 * code frame, for the terminal and both error pages. The stack is
 * {@link visibleFrames}, except when that is one frame at the location
 * itself (a throw at a module's top level, or in the app function called
 * by tsgi alone): that frame, with its function name, is then the `at`
 * line and no stack is listed, which would only repeat it.
 */
export function whereAndStack(d: Diagnosis): { at?: string; stack: StackFrame[] } {
  const frames = visibleFrames(d.stack);
  const loc = d.location;
  if (!loc) return { stack: frames };
  const only = frames.length === 1 ? frames[0]! : undefined;
  if (only && only.file === loc.file && only.line === loc.line && only.column === loc.column) return { at: formatFrame(only), stack: [] };
  return { at: fmt(loc), stack: frames };
}

/** `fn (file:line:column)` or `file:line:column`. */
export function formatFrame(f: StackFrame): string {
  const where = `${f.file}:${f.line}:${f.column}`;
  return f.fn && f.fn !== "<anonymous>" ? `${f.fn} (${where})` : where;
}
