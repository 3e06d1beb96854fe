/**
 * The `app` argument of `tsgi serve` and `tsgi-dev`: `./app.ts` (the default export) or
 * `./app.ts:name` (a named export, gunicorn's `module:callable`).
 * @module
 */
import { resolve } from "node:path";

/** A parsed app argument. */
export interface AppSpec {
  /** Absolute path of the module file. */
  file: string;
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
  return { file: resolve(cwd, path), exportName, raw };
}
