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
 * yet is read afresh). So a reload in place cannot pick up the install (restart
 * tsgi-dev), while restart mode's next app process, a fresh Bun, does. A
 * save that fixes a misspelt name recovers as any fix does.
 * @module
 */
import { notInstalledHint } from "../deploy/missing-package.ts";

/**
 * The hint for a failed load whose message is Bun's `Cannot find package
 * 'X' imported from /dir/file.ts`, when `X` is a package name and no
 * `node_modules/X` exists in `/dir` or a directory above it (the deploy
 * module's `notInstalledHint`), with how tsgi-dev then picks up the
 * install; otherwise `undefined` (a package that is there but lacks the
 * subpath imported, any other message).
 *
 * @param message the diagnosis's message (module keys without their
 *   generation query).
 * @param inPlace whether the process reloads the app in place (then the
 *   install needs a restart of tsgi-dev), or is one of restart mode's app
 *   processes (the next save starts a fresh one, which finds it).
 */
export function missingPackageHint(message: string, inPlace: boolean): string | undefined {
  const missing = notInstalledHint(message);
  if (missing === undefined) return undefined;
  return inPlace
    ? `${missing} and restart tsgi-dev: Bun keeps what it read of a node_modules directory until the process ends, so a save may not pick up the install (under --reload=restart it does).`
    : `${missing}, then save a file: the next app process finds it.`;
}
