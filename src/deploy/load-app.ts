/**
 * Loading the app of `tsgi serve`: the `app` argument (`./app.ts`, the
 * default export, or `./app.ts:name`, a named export, gunicorn's
 * `module:callable`), which `tsgi-dev` parses the same way; why it names no
 * module; {@link loadApp}, which imports it and finds the application; and
 * one-line descriptions of what importing it threw (production logs: the
 * message and where, no stack dump).
 *
 * Bun reports a syntax error as an `AggregateError` of `BuildMessage`s
 * (`2 errors building "app.ts"`, the positions only on the members), an
 * unresolved import as a `ResolveMessage`, and code that throws while the
 * module runs as an ordinary error whose stack points at the TypeScript
 * source (Bun's inline source maps).
 * @module
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describeExport, detectApplication, type ApplicationKind } from "../fetch/index.ts";
import { ignoredServeOptions } from "../fetch/detect.ts";
import { notInstalledHint } from "./missing-package.ts";
import { nearbyModule, nearbyModuleHint } from "./nearby-module.ts";
import { pathAliasHint } from "./path-alias.ts";
import type { Application } from "../spec.ts";
import { StartupError, UsageError } from "./errors.ts";

/** A parsed app argument. */
export interface AppSpec {
  /** Absolute path of the module file. */
  file: string;
  /** The module's path as the user wrote it, without `:name` (for messages). */
  path: string;
  /** The export to serve: `"default"` unless `:name` was given. */
  exportName: string;
  /** The argument as the user wrote it (for messages). */
  raw: string;
}

/**
 * Parse `path[:exportName]`, resolving the path against `cwd`. A colon is a
 * separator only when a JavaScript identifier follows it (so `C:\app.ts`
 * and `./a:b/app.ts` stay paths).
 *
 * @param raw the argument, e.g. `"./app.ts:api"`.
 * @param cwd base for relative paths; default `process.cwd()`.
 * @param command the command named in the message for an empty `raw`; default `"tsgi-dev"`.
 * @throws UsageError when `raw` is empty or the export name is empty (`app.ts:`): a bad command line.
 */
export function parseAppSpec(raw: string, cwd: string = process.cwd(), command = "tsgi-dev"): AppSpec {
  if (!raw) throw new UsageError(`no app given: usage \`${command} ./app.ts\` or \`${command} ./app.ts:name\``);
  let path = raw;
  let exportName = "default";
  const m = /^(.+):([A-Za-z_$][\w$]*)?$/.exec(raw);
  if (m && !/^[A-Za-z]$/.test(m[1]!)) {
    if (m[2] === undefined) throw new UsageError(`no export name after ':' in ${JSON.stringify(raw)}: write ${m[1]} for the default export or ${m[1]}:name for another`);
    path = m[1]!;
    exportName = m[2];
  }
  return { file: resolve(cwd, path), path, exportName, raw };
}

/** Extensions tried after an app path given without one (`app` → `app.ts`), in this order. */
export const MODULE_EXTENSIONS = [".ts", ".tsx", ".mts", ".js", ".mjs"] as const;
/** Module names looked for in a directory given as the app argument. */
const DIRECTORY_ENTRIES = ["app", "index", "main", "server"];

function isFileAt(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Where an app module is often kept, looked in for a file given without it (`app.ts` for `src/app.ts`). */
const SOURCE_DIRECTORIES = ["src"];

/**
 * For an app path that is not there, the module file the user most likely
 * meant, written as they wrote theirs: one beside it whose name is near
 * (`src/ap.ts` → `src/app.ts`, `./ap` → `./app.ts`: `nearbyModule`'s rule,
 * within 2 edits or a prefix of 3 letters and more, one file only), else the
 * same name in a `src/` below it (`app.ts` → `src/app.ts`); `undefined` for none.
 */
function nearAppFile(spec: AppSpec): string | undefined {
  const base = basename(spec.file);
  const path = spec.path;
  if (!base || !path.endsWith(base)) return undefined;
  const dir = path.slice(0, path.length - base.length);
  const near = nearbyModule(spec.file, spec.file);
  if (near !== undefined) {
    // nearbyModule leaves out an extension the user did not write: the file served needs one.
    const ext = isFileAt(near) ? "" : MODULE_EXTENSIONS.find((e) => isFileAt(near + e));
    if (ext !== undefined && (MODULE_EXTENSIONS as readonly string[]).includes(extname(near + ext))) return `${dir}${basename(near)}${ext}`;
  }
  for (const sub of SOURCE_DIRECTORIES) {
    const there = join(dirname(spec.file), sub, base);
    const ext = isFileAt(there) ? "" : MODULE_EXTENSIONS.find((e) => isFileAt(there + e));
    if (ext !== undefined) return `${dir}${sub}/${base}${ext}`;
  }
  return undefined;
}

/**
 * Why `spec` names no module to load, as one line for the user, or `null`
 * when its file exists, this user may read it and Bun can import it (no `?`,
 * or on POSIX no backslash, in a name on its path: {@link unimportablePathProblem}). Says what to do: a path without its extension gets
 * the file that exists (`app` → `did you mean app.ts?`), a misspelt one
 * the file beside it whose name is near (`src/ap.ts` → `did you mean
 * src/app.ts?`), one not in `src/` the file there (`app.ts` → `did you mean
 * src/app.ts?`); a directory the
 * module found in it (`app.ts`, `index.ts`, `main.ts` or `server.ts`); an
 * export name given stays in the suggestion (`main:app`, as uvicorn is
 * told, → `did you mean main.ts:app?`); a module followed by a `:` and no
 * export name (`./app.ts:1x`, `./app.ts:my-app`, taken as a path; or `./app:my-app`
 * beside `app.ts`) is said to be there, and what follows `:` to be no identifier.
 */
export function appFileProblem(spec: AppSpec): string | null {
  const path = spec.path;
  // What to write after the file in a suggestion: `:app` of uvicorn's `main:app`, kept (`main.ts:app`).
  const exportPart = spec.raw.startsWith(path) ? spec.raw.slice(path.length) : "";
  let stat;
  try {
    stat = statSync(spec.file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "EACCES" || code === "EPERM") return `cannot read ${path}: permission denied (a directory on its path is not searchable by this user)`;
    // A module there, and after its ':' no export name (./app.ts:1x, ./app.ts:my-app, or uvicorn's form with the
    // extension left off, ./app:my-app beside app.ts): taken as a path, which is not there.
    const named = /^(.+):([^:/\\]+)$/.exec(path);
    const moduleExt = named ? ["", ...MODULE_EXTENSIONS].find((e) => isFileAt(spec.file.slice(0, -(named[2]!.length + 1)) + e)) : undefined;
    if (named && moduleExt !== undefined) {
      const module = named[1] + moduleExt;
      return `no such file: ${path}; ${module} is there, and ${JSON.stringify(named[2])} after ':' is no export name (a JavaScript identifier, e.g. ${module}:app)`;
    }
    const written = writtenPathHint(path, exportPart);
    if (written) return `no such file: ${path}; ${written}`;
    const ext = MODULE_EXTENSIONS.find((e) => isFileAt(spec.file + e));
    const near = ext ? `${path}${ext}` : nearAppFile(spec);
    return `no such file: ${path}${near ? `; did you mean ${near}${exportPart}?` : ""}`;
  }
  if (stat.isFile()) {
    try {
      accessSync(spec.file, constants.R_OK);
    } catch {
      // Bun would say "SyntaxError: EACCES reading ..." at the import.
      return `cannot read ${path}: permission denied (this user may not read the file)`;
    }
    return unimportablePathProblem(spec);
  }
  if (stat.isDirectory()) {
    let entry: string | undefined;
    for (const name of DIRECTORY_ENTRIES) {
      const ext = MODULE_EXTENSIONS.find((e) => isFileAt(join(spec.file, name + e)));
      if (ext) {
        entry = `${path.replace(/\/+$/, "")}/${name}${ext}${exportPart}`;
        break;
      }
    }
    return `${path} is a directory: give the app's module file${entry ? `, e.g. ${entry}` : ""}`;
  }
  return `${path} is not a regular file`;
}

/**
 * For an app path that is not there, a path written in a form the command
 * line does not read, and what to give instead, or `undefined`:
 * - a `file:` URL (`file:///srv/app.ts`): the path it names (`/srv/app.ts`,
 *   WHATWG URL / RFC 8089), said to be there or not;
 * - a leading `~` (`'~/app.ts'` quoted, or `--app=~/x` style): a shell expands
 *   it to the home directory only unquoted at the start of a word (POSIX
 *   Shell Command Language, 2.6.1 Tilde Expansion); tsgi does not, so
 *   `$HOME/app.ts` or an absolute path (for `~/`: `os.homedir()`'s, named
 *   when the file is there).
 * @param path the app path as the user wrote it, without `:name`.
 * @param exportPart what followed it (`:app`), kept in a suggestion.
 */
function writtenPathHint(path: string, exportPart: string): string | undefined {
  if (/^file:/i.test(path)) {
    let local: string | undefined;
    try {
      local = fileURLToPath(path);
    } catch {
      // file://host/..., or a malformed URL: no local path to name.
    }
    if (local === undefined) return "a file: URL is no path here, and this one names no local file: give the file's path, e.g. ./app.ts";
    return isFileAt(local) ? `a file: URL is no path here: give its path, ${local}${exportPart}` : `a file: URL is no path here: its path, ${local}, is not there either`;
  }
  const tilde = /^~([^/]*)(?:\/(.*))?$/.exec(path);
  if (tilde) {
    const user = tilde[1]!;
    const rest = tilde[2] ?? "";
    const home = user === "" ? homedir() : undefined;
    const full = home !== undefined ? join(home, rest) : undefined;
    const there = full !== undefined && isFileAt(full) ? `: ${full}${exportPart}` : "";
    const file = rest === "" ? "app.ts" : rest;
    const example = user === "" ? `$HOME/${file}${exportPart}` : `~${user}/${file}${exportPart} unquoted`;
    return `the shell did not expand the "~" (it does not inside quotes, and tsgi does not): write ${example} or an absolute path${there}`;
  }
  return undefined;
}

/**
 * Why Bun cannot import the app at all: a `?` in a name on its path (a
 * directory `my?app`, a file `app?.ts`), which Bun (1.4.5) reads as the
 * start of a query string, or, on POSIX, a backslash (`my\\app`), which it
 * reads as a path separator: it finds no module there or under it (`bun
 * ./app.ts` fails alike: "Module not found", "ENOENT reading
 * .../my/app/app.ts"). Before this, tsgi-dev started, showed that error and
 * said to fix the code and save, which could never help, and `tsgi serve`
 * said Bun's "Cannot find module" of a file that is there. `null` when
 * there is none. {@link appFileProblem} says it for a file that is there.
 * @param platform whose paths these are: on Windows a backslash is the
 *   separator. Default `process.platform`.
 */
export function unimportablePathProblem(spec: AppSpec, platform: NodeJS.Platform = process.platform): string | null {
  // Past a Windows long-path prefix (\\?\C:\...), which is no name.
  const from = /^\\\\\?\\/.test(spec.file) ? 4 : 0;
  const q = spec.file.indexOf("?", from);
  const b = platform === "win32" ? -1 : spec.file.indexOf("\\", from);
  const at = q < 0 ? b : b < 0 ? q : Math.min(q, b);
  if (at < 0) return null;
  const char = spec.file[at]!;
  const next = spec.file.slice(at).search(platform === "win32" ? /[\\/]/ : /\//);
  const what = next < 0 ? "file" : "directory";
  const named = next < 0 ? spec.file : spec.file.slice(0, at + next);
  const reads = char === "?" ? "the start of a query" : "a path separator";
  return `cannot load ${spec.path}: the ${what} ${named} has a "${char}" in its name, which Bun reads as ${reads}: it imports no module ${next < 0 ? "there" : "under it"}; rename the ${what} without the "${char}"`;
}

/**
 * Import `spec` (`./app.ts` or `./app.ts:name`) and return the application:
 * a TSGI function as it is, a fetch handler (`{ fetch }` object or a
 * one-parameter function) through `fromFetchHandler`. `warning`: the
 * `Bun.serve` options a `{ fetch }` export sets that `tsgi serve` ignores
 * (`export default { port: 3000, fetch }`), for the caller to print; `null` for none.
 * @throws StartupError for a missing file, an import error, a missing export or an export that is neither.
 */
export async function loadApp(spec: string, cwd: string = process.cwd()): Promise<{ app: Application; kind: ApplicationKind; file: string; warning: string | null }> {
  let parsed;
  try {
    parsed = parseAppSpec(spec, cwd);
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
  const problem = appFileProblem(parsed);
  if (problem) throw new StartupError(problem);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(parsed.file)) as Record<string, unknown>;
  } catch (error) {
    throw new StartupError(`cannot import ${parsed.file}: ${describeImportError(error)}${importHint(error)}`);
  }
  const exported = mod[parsed.exportName];
  // The module named as the user gave it (`./app.ts`, as tsgi-dev does), not by its absolute path.
  if (exported === undefined) throw new StartupError(missingExportMessage(parsed.path, parsed.path, parsed.exportName, mod));
  const found = detectApplication(exported);
  if (!found) {
    const name = parsed.exportName === "default" ? "the default export" : `export ${parsed.exportName}`;
    const data = notCodeModule(parsed.file, parsed.path, "tsgi serve");
    throw new StartupError(
      data
        ? `${name} of ${parsed.path} is ${describeExport(exported)}, not an application: ${data}`
        : `${name} of ${parsed.path} is ${describeExport(exported)}, neither a TSGI application (environ, startResponse) nor a fetch handler`,
    );
  }
  return { ...found, file: parsed.file, warning: ignoredServeOptions(exported, "tsgi serve") };
}

/** The extensions Bun imports as JavaScript or TypeScript code. */
const CODE_EXTENSIONS = [".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs"];

/**
 * For an app file whose extension is not code's (`app.py`, `README.md`,
 * `data.json`, `index.html`: Bun imports them as text or data, whose default
 * export is no application), what to say instead of the shapes an app may
 * take, shared by `tsgi serve` and `tsgi-dev`: that it is no module, and
 * which to give, the module beside it with the same name when there is one
 * (`app.py` → `./app.ts`), else `<command> ./app.ts` as the example.
 * `undefined` for a code file, or one without an extension (a script
 * written in JavaScript).
 * @param file the app file's absolute path.
 * @param label the file as the message names it (`./app.py`); the module
 *   suggested is named alike (`./app.ts`).
 * @param command the command in the example, `"tsgi serve"` or `"tsgi-dev"`.
 */
export function notCodeModule(file: string, label: string, command: string): string | undefined {
  const ext = extname(file);
  if (ext === "" || CODE_EXTENSIONS.includes(ext.toLowerCase())) return undefined;
  const stem = file.slice(0, -ext.length);
  const beside = CODE_EXTENSIONS.find((e) => existsSync(stem + e));
  const named = (e: string) => (label.endsWith(ext) ? label.slice(0, -ext.length) + e : stem + e);
  const give = beside ? `did you mean ${named(beside)}?` : `give the app's module, e.g. ${command} ./app.ts`;
  return `${label} is not a JavaScript or TypeScript module (Bun imports a ${ext} file as text or data); ${give}`;
}

/**
 * What to do about an import that did not resolve, as tsgi-dev says it, as
 * `; ...` to append, or `""`: a misspelt relative path (the near file, see
 * `nearby-module.ts`); a tsconfig `paths` alias or package.json `"imports"`
 * entry with no module behind it, which Bun calls a package (`Cannot find
 * package '@lib/d'`; see `path-alias.ts`); a package not installed (`npm
 * ci --omit=dev` leaves out devDependencies).
 */
function importHint(error: unknown): string {
  const e = (typeof error === "object" && error !== null ? error : {}) as { message?: unknown; specifier?: unknown; referrer?: unknown };
  const message = String(e.message ?? "");
  // Bun's ResolveMessage names both; its message does too (`Cannot find package 'X' imported from /dir/file.ts`).
  const named = /^Cannot find (?:package|module) '([^']+)' (?:imported )?from '?(.+?)'?$/.exec(message);
  const specifier = typeof e.specifier === "string" ? e.specifier : named?.[1];
  const referrer = typeof e.referrer === "string" ? e.referrer : named?.[2];
  if (specifier !== undefined && referrer !== undefined && isAbsolute(referrer)) {
    const hint = nearbyModuleHint(specifier, referrer) ?? pathAliasHint(specifier, referrer, false);
    if (hint !== undefined) return `; ${hint}`;
  }
  const missing = notInstalledHint(message);
  return missing ? `; ${missing}, and list it in package.json's dependencies (npm ci --omit=dev leaves out devDependencies)` : "";
}

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

/**
 * The one line for an app module without the export asked for, shared by
 * `tsgi serve` and `tsgi-dev`: what is missing, the exports the module does
 * have, and what to do: the `file:name` spec of an export that is an
 * application, or, for a module that exports nothing, `export default`
 * (and, when an export named `app` is no application, what it is, not
 * `file:app`). E.g. `./app.ts has no default export (exports: api,
 * handler); pick one with ./app.ts:api`.
 * @param label the module as the message names it
 * @param spec the module as the user gave it, for the `spec:name` hint
 * @param exportName the export asked for (`default` unless `file:name`)
 * @param mod the imported module's namespace
 */
export function missingExportMessage(label: string, spec: string, exportName: string, mod: Record<string, unknown>): string {
  const names = Object.keys(mod).filter((k) => k !== "__esModule");
  const what = exportName === "default" ? "no default export" : `no export named ${exportName}`;
  const has = names.length ? `exports: ${names.join(", ")}` : "it exports nothing";
  let hint = "";
  if (exportName === "default") {
    // Suggest an export that is an application, not merely the first one.
    const apps = names.filter((k) => detectApplication(mod[k]) !== null);
    if (apps.length) hint = `; pick one with ${spec}:${apps[0]}`;
    else if (names.length) {
      const whatIs = `none of them is an application (a function (environ, startResponse), a fetch handler (request) => Response, or an object with a fetch method)`;
      // An export named app that is something else: ${spec}:app would fail in turn, so say what it is.
      hint = names.includes("app")
        ? `; ${whatIs}: export app is ${describeExport(mod["app"])}; the default export is the one served, so export your application with \`export default\`, or name its export after a colon: ${spec}:<name>`
        : `; ${whatIs}: the default export is the one served, so export yours with \`export default app\`, or name it after a colon: ${spec}:app`;
    }
    else hint = "; export your application: `export default app`";
  }
  return `${label} has ${what} (${has})${hint}`;
}
