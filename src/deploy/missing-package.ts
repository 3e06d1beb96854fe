/**
 * Whether a failed import is of a package that is not installed (`import
 * { Hono } from "hono"` before `npm install hono`, a deploy whose `npm ci
 * --omit=dev` left out a package listed in `devDependencies`, an app run by
 * the compiled tsgi-dev that imports `tsgi/validate` with no `tsgi` in its
 * `node_modules`), and what to do: shared by `tsgi serve`'s start-up error
 * and tsgi-dev's error page (which adds how its reload picks up the install).
 * @module
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Bun's message for a bare specifier whose package it did not find (the
 * package's name, not the whole specifier: `hono` for `hono/jsx`,
 * `@acme/ui` for `@acme/ui/button`), and the importing file.
 */
const NOT_FOUND = /^Cannot find package '([^']+)' imported from (.+)$/;

/**
 * An npm package name, scoped or not (validate-npm-package-name's pattern,
 * upper case allowed as old packages have it). Not a tsconfig `paths`
 * alias of the common shapes, which Bun reports the same way: `@/lib`
 * (an empty scope), `~/utils`, nor `bun:x` or `#internal`.
 */
const PACKAGE_NAME = /^(?:@[a-z0-9-][a-z0-9-._]*\/)?[a-z0-9-][a-z0-9-._]*$/i;

/**
 * For Bun's `Cannot find package 'X' imported from /dir/file.ts`, when `X`
 * is a package name and no `node_modules/X` exists in `/dir` or a directory
 * above it: `"X is not installed here (no node_modules/X in /dir or above).
 * If the name is right, install it (npm install X, or bun add X)"`, without
 * a final stop; otherwise `undefined` (a package that is there but lacks the
 * subpath imported, a `paths` alias, any other message).
 * @param message the error's message (module keys without a query).
 */
export function notInstalledHint(message: string): string | undefined {
  const m = NOT_FOUND.exec(message);
  if (!m) return undefined;
  const name = m[1]!;
  const importer = m[2]!;
  if (!PACKAGE_NAME.test(name)) return undefined;
  const from = dirname(importer);
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "node_modules", name))) return undefined;
    if (dirname(dir) === dir) break;
  }
  return `${name} is not installed here (no node_modules/${name} in ${from} or above). If the name is right, install it (npm install ${name}, or bun add ${name})`;
}
