/**
 * What to do about an import of a package that is not installed
 * (`import { Hono } from "hono"` before `npm install hono`, or an app run
 * by the compiled tsgi-dev that imports `tsgi/validate` with no `tsgi` in
 * its `node_modules`).
 *
 * Bun (1.4.5) keeps what it read of a `node_modules` directory for the
 * life of the process: once `Cannot find package 'hono'` has been thrown
 * with a `node_modules` there (the usual project, other packages
 * installed), the same import fails the same way after `npm install hono`,
 * however often the app is saved (a project with no `node_modules` at all
 * yet is read afresh), until a file of the package is resolved once by its
 * own path (`node_modules/hono/package.json`), after which the package
 * resolves too. {@link refreshPackage} does that before each load, so a
 * save after the install picks it up in place, as restart mode's next app
 * process, a fresh Bun, does. A save that fixes a misspelt name recovers
 * as any fix does. (`node_modules` is not watched: the install itself
 * reloads nothing.)
 * @module
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { notInstalledHint } from "../deploy/missing-package.ts";

/** The package a bare specifier names (`hono` for `hono/jsx`, `@acme/ui` for `@acme/ui/button`), or `undefined` (relative, `#`, a scheme, no name). */
function packageName(specifier: string): string | undefined {
  if (/^\.{0,2}\/|^#|^[a-z][a-z0-9+.-]*:/i.test(specifier)) return undefined;
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
  return /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/i.test(name) ? name : undefined;
}

/**
 * After `Cannot find package`: if the package is now in a `node_modules`
 * from `dir` up (installed since), make Bun's resolver read it again by
 * resolving its `package.json` by path (see the module comment). Returns
 * whether there was one to read (the import may resolve now). Never throws.
 *
 * @param specifier the import's specifier as written (`hono/jsx`).
 * @param dir the importing module's directory, absolute.
 * @param resolve the resolver to use (tsgi-dev's unversioned one).
 */
export function refreshPackage(specifier: string, dir: string, resolve: (specifier: string, dir: string) => string): boolean {
  const name = packageName(specifier);
  if (name === undefined) return false;
  for (let d = dir; ; d = dirname(d)) {
    const manifest = join(d, "node_modules", name, "package.json");
    if (existsSync(manifest)) {
      try {
        resolve(manifest, d);
        return true;
      } catch {
        return false;
      }
    }
    if (dirname(d) === d) return false;
  }
}

/**
 * The hint for a failed load whose message is Bun's `Cannot find package
 * 'X' imported from /dir/file.ts`, when `X` is a package name and no
 * `node_modules/X` exists in `/dir` or a directory above it (the deploy
 * module's `notInstalledHint`), with how tsgi-dev then picks up the
 * install (a save); otherwise `undefined` (a package that is there but lacks the
 * subpath imported, any other message).
 *
 * @param message the diagnosis's message (module keys without their
 *   generation query).
 * @param inPlace whether the process reloads the app in place (the next
 *   load looks again, see {@link refreshPackage}), or is one of restart
 *   mode's app processes (the next save starts a fresh one, which finds it).
 */
export function missingPackageHint(message: string, inPlace: boolean): string | undefined {
  const missing = notInstalledHint(message);
  if (missing === undefined) return undefined;
  return inPlace ? `${missing}, then save a file: tsgi-dev looks for it again at each load.` : `${missing}, then save a file: the next app process finds it.`;
}
