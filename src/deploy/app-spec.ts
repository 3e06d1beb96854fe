/**
 * The `app` argument of `tsgi serve` and `tsgi-dev`: `./app.ts` (the default export) or
 * `./app.ts:name` (a named export, gunicorn's `module:callable`).
 * @module
 */
import { statSync } from "node:fs";
import { join, resolve } from "node:path";

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
 * @throws Error when `raw` is empty or the export name is empty (`app.ts:`).
 */
export function parseAppSpec(raw: string, cwd: string = process.cwd()): AppSpec {
  if (!raw) throw new Error("no app given: usage `tsgi-dev ./app.ts` or `tsgi-dev ./app.ts:name`");
  let path = raw;
  let exportName = "default";
  const m = /^(.+):([A-Za-z_$][\w$]*)?$/.exec(raw);
  if (m && !/^[A-Za-z]$/.test(m[1]!)) {
    if (m[2] === undefined) throw new Error(`no export name after ':' in ${JSON.stringify(raw)}`);
    path = m[1]!;
    exportName = m[2];
  }
  return { file: resolve(cwd, path), path, exportName, raw };
}

/** Extensions tried when the app argument names no file: `app` → `app.ts`. */
const MODULE_EXTENSIONS = [".ts", ".tsx", ".mts", ".js", ".mjs"];
/** Module names looked for in a directory given as the app argument. */
const DIRECTORY_ENTRIES = ["app", "index", "main", "server"];

function isFileAt(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Why `spec` names no module to load, as one line for the user, or `null`
 * when its file exists. Says what to do: a path without its extension gets
 * the file that exists (`app` → `did you mean app.ts?`), a directory the
 * module found in it (`app.ts`, `index.ts`, `main.ts` or `server.ts`).
 */
export function appFileProblem(spec: AppSpec): string | null {
  const path = spec.path;
  let stat;
  try {
    stat = statSync(spec.file);
  } catch {
    const ext = MODULE_EXTENSIONS.find((e) => isFileAt(spec.file + e));
    return `no such file: ${path}${ext ? `; did you mean ${path}${ext}?` : ""}`;
  }
  if (stat.isFile()) return null;
  if (stat.isDirectory()) {
    let entry: string | undefined;
    for (const name of DIRECTORY_ENTRIES) {
      const ext = MODULE_EXTENSIONS.find((e) => isFileAt(join(spec.file, name + e)));
      if (ext) {
        entry = `${path.replace(/\/+$/, "")}/${name}${ext}`;
        break;
      }
    }
    return `${path} is a directory: give the app's module file${entry ? `, e.g. ${entry}` : ""}`;
  }
  return `${path} is not a regular file`;
}
