/**
 * The Bun version check `tsgi` and `tsgi-dev` run before anything else.
 *
 * tsgi needs the Bun versions package.json's `engines.bun` names
 * ({@link BUN_RANGE}): an older Bun fails deep in the program (Bun 1.1.0
 * cannot link `node:crypto`'s `X509Certificate`, Bun 1.2.0 cannot load a
 * TypeScript app in tsgi-dev, Bun 1.3 ends a cut response with a FIN that
 * makes it look whole), or worse, serves almost right. So each entry file imports this
 * module alone, calls {@link requireBun}, and only then imports the command
 * (a dynamic `import()`): a module Bun cannot parse or link is never reached
 * on a Bun that is too old. Keep this module's imports to what every Bun
 * (and Node) has.
 * @module
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUN_RANGE } from "../version.ts";

/** The runtime a command runs on, as {@link bunVersionProblem} reads it. */
export interface Runtime {
  /** `Bun.version` (`"1.4.5"`), or null when this is not Bun (Node). */
  bun: string | null;
  /** `process.version` (`"v22.1.0"`), named when this is not Bun. */
  node: string;
  /** The running executable (`process.execPath`). */
  execPath: string;
}

/** A Bun found beside tsgi: its `bun` npm dependency's, installed with it. */
export interface InstalledBun {
  /** Its executable (`.../node_modules/bun/bin/bun.exe`), an absolute path. */
  path: string;
  /** Its version, from its package.json (`"1.4.5"`). */
  version: string;
}

/**
 * Whether `version` (`"1.3.14"`, `"1.4.3-canary.1"`) is in `range` (a semver
 * range such as `">=1.4.3"`), by `Bun.semver` when there is one. Without it
 * (Bun before 1.0.11, or not Bun) only the plain `>=X.Y.Z` form is read;
 * any other range is taken as not satisfied.
 */
export function satisfiesRange(version: string, range: string = BUN_RANGE): boolean {
  const semver = (globalThis as { Bun?: { semver?: { satisfies?: (v: string, r: string) => boolean } } }).Bun?.semver;
  if (typeof semver?.satisfies === "function") return semver.satisfies(version, range);
  const min = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(range.trim());
  const have = /^(\d+)\.(\d+)\.(\d+)(-)?/.exec(version);
  if (!min || !have) return false;
  for (let i = 1; i <= 3; i++) {
    const a = Number(have[i]);
    const b = Number(min[i]);
    if (a !== b) return a > b;
  }
  return have[4] === undefined; // 1.4.3-canary.1 comes before 1.4.3
}

/**
 * The one-line message for a runtime tsgi does not run on, or null when it
 * does (any Bun in `range`, newer ones included: no warning).
 * @param command the command as a user types it: `"tsgi serve"` or `"tsgi-dev"`.
 * @param runtime what runs now.
 * @param installed the Bun installed with tsgi, if any (see {@link findInstalledBun}); named
 *   as the way out when it is in `range` and is not the one running.
 * @param script the entry file, named with the installed Bun (`.../src/cli/serve.ts`).
 * @param range the supported versions, default package.json's `engines.bun`.
 */
export function bunVersionProblem(command: string, runtime: Runtime, installed: InstalledBun | null, script: string, range: string = BUN_RANGE): string | null {
  if (runtime.bun !== null && satisfiesRange(runtime.bun, range)) return null;
  const [program, ...sub] = command.split(" ");
  const args = [...sub, "..."].join(" ");
  const found = runtime.bun === null ? `Node.js ${runtime.node}` : `Bun ${runtime.bun}`;
  const own = installed !== null && installed.path !== runtime.execPath && satisfiesRange(installed.version, range)
    ? `run it with the Bun ${installed.version} tsgi installed: npx ${program} ${args}, or ${installed.path} ${script} ${args}`
    : `install tsgi with npm, whose "bun" dependency brings a Bun it runs on, and run npx ${program} ${args}`;
  const upgrade = runtime.bun === null ? "install Bun (https://bun.sh)" : "upgrade it (bun upgrade)";
  return `${program}: this is ${found} (${runtime.execPath}), and tsgi needs Bun ${range}: ${upgrade}, or ${own}`;
}

/**
 * The Bun tsgi's `bun` npm dependency installed, beside this package (npm
 * hoists it: `node_modules/bun`) or inside it (`node_modules/tsgi/node_modules/bun`,
 * or a checkout's own `node_modules`), as the entry files' shell launcher looks
 * for it; null when there is none (installed with `--ignore-scripts`, which
 * leaves no `bin/bun.exe`, or not installed at all).
 * @param packageRoot tsgi's own directory (the one with its package.json).
 */
export function findInstalledBun(packageRoot: string): InstalledBun | null {
  for (const dir of [join(packageRoot, "node_modules/bun"), join(packageRoot, "../bun")]) {
    const path = join(dir, "bin/bun.exe");
    if (!existsSync(path)) continue;
    try {
      const version = (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: unknown }).version;
      if (typeof version === "string") return { path: realpathSync(path), version };
    } catch {
      // an unreadable package.json: not a Bun to offer
    }
  }
  return null;
}

/**
 * Stop here, with the one line of {@link bunVersionProblem} on stderr and
 * exit code 2 (a usage error, as the commands' other ones), unless this is
 * a Bun tsgi runs on. Call it first in an entry file, before importing the
 * command itself.
 * @param command `"tsgi serve"` or `"tsgi-dev"`.
 * @param entry the entry file, named in the message: its `import.meta.url`
 *   (Node, which may run the entry file by mistake, has no `import.meta.path`),
 *   or its path.
 */
export function requireBun(command: string, entry: string): void {
  const bun = (globalThis as { Bun?: { version?: string } }).Bun?.version;
  let execPath = process.execPath;
  try {
    execPath = realpathSync(execPath);
  } catch {
    // keep it as given
  }
  const runtime: Runtime = { bun: typeof bun === "string" ? bun : null, node: process.version, execPath };
  if (runtime.bun !== null && satisfiesRange(runtime.bun)) return;
  const problem = bunVersionProblem(command, runtime, findInstalledBun(join(dirname(fileURLToPath(import.meta.url)), "../..")), entry.startsWith("file:") ? fileURLToPath(entry) : entry);
  if (problem === null) return;
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
