/**
 * Telling a reload loop the app causes itself from the user's saves: an app
 * that writes a file it imports (or one a `--watch` covers) as it loads (a
 * JSON cache, a generated `routes.ts`, a build stamp) would otherwise
 * reload, or restart, without end. A loop shows as a file that changed
 * while the app was loading (after the load read it, before the load
 * ended: nobody could have seen the new version yet), and then reloads
 * it, again and again; after {@link LOOP_RELOADS} loads in a row each wrote
 * the same file tsgi-dev stops reloading (or restarting) for what the loads
 * write to it, and says so; a change between loads is a save, and reloads
 * as before (see `Reloader`, and the supervisor's `looping`). Saves made after a load (a
 * user's, an editor's, a coding agent's, however quick) are not counted;
 * saves made while the app loads (faster than it loads) look the same.
 * @module
 */
import { statSync } from "node:fs";
import { relative } from "node:path";
import { fingerprint } from "./fingerprint.ts";

/** How many loads in a row, each of which changed the file whose change the next reloads for, make a loop. */
export const LOOP_RELOADS = 5;

/** Slack for the file system's coarse clock when a file's modification time is compared with a load's start, ms. */
const MTIME_SLACK_MS = 50;

/**
 * Of `files`, those that changed while a load ran: modified since
 * `sinceMs` (a `Date.now()` taken as the load started) and no longer what
 * the load read (`read(file)`: the fingerprint, see fingerprint.ts; a file
 * without one is left out). Call it as the load ends.
 */
export function writtenDuringLoad(files: Iterable<string>, read: (file: string) => string | undefined, sinceMs: number): string[] {
  const out: string[] = [];
  for (const f of files) {
    const print = read(f);
    if (print === undefined) continue;
    let mtime: number;
    try {
      mtime = statSync(f).mtimeMs;
    } catch {
      continue;
    }
    if (mtime >= sinceMs - MTIME_SLACK_MS && fingerprint(f) !== print) out.push(f);
  }
  return out;
}

/**
 * Counts reloads for a file the load before them wrote itself. The caller
 * tells it, as each load ends, which files changed while it ran
 * ({@link loaded}, with {@link writtenDuringLoad}), and asks {@link check}
 * before each reload.
 */
export class ReloadLoopGuard {
  readonly #reloads: number;
  /** What the last load saw written while it ran. */
  #written: ReadonlySet<string> = new Set();
  /** Reloads in a row so far for a file the load before had written, and the files they had in common. */
  #streak = 0;
  #files: Set<string> | null = null;

  /** @param options.reloads how many loads in a row make a loop; default {@link LOOP_RELOADS}. */
  constructor(options: { reloads?: number } = {}) {
    this.#reloads = options.reloads ?? LOOP_RELOADS;
  }

  /** A load ended (the first, a reload, a new app process), and `written` changed while it ran. */
  loaded(written: Iterable<string>): void {
    this.#written = new Set(written);
  }

  /**
   * A reload for `paths` (absolute; changed in content) is about to run.
   * @returns the files that make this the reload after {@link LOOP_RELOADS}
   *   loads in a row each wrote them while it ran (the first load counts):
   *   the app's own writes, to stop reloading for.
   *   Empty otherwise (the reload goes ahead).
   */
  check(paths: readonly string[]): string[] {
    const same = paths.filter((p) => this.#written.has(p) && (this.#files === null || this.#files.has(p)));
    if (same.length === 0) {
      this.#streak = 0;
      this.#files = null;
      return [];
    }
    this.#streak++;
    this.#files = new Set(same);
    if (this.#streak < this.#reloads) return [];
    const looping = [...this.#files];
    this.#streak = 0;
    this.#files = null;
    return looping;
  }
}

/**
 * The terminal's warning for files {@link ReloadLoopGuard.check} found
 * looping: which, why it looks like the app's doing, what tsgi-dev does
 * now and what to pass. `what` is `reload` or `restart`.
 */
export function loopWarning(files: readonly string[], what: "reload" | "restart"): string {
  const it = files.length === 1 ? "it" : "them";
  const stops =
    `no longer ${what}s for what the app writes to ${it} as it loads; a save of ${it} made between loads ${what}s as before and ends this. ` +
    `If the app does write ${it}, pass`;
  // --ignore takes a glob: a name's own glob characters (`routes/[id].ts`) are escaped.
  const ignores = files.map((f) => `--ignore ${quote(relativeName(f).replace(/[*?[\]{}\\]/g, "\\$&"))}`).join(" ");
  return (
    `${files.map(relativeName).join(", ")} changed while the app loaded, ${LOOP_RELOADS} loads in a row: does the app write ${it} as it loads ` +
    `(at import)? To end the ${what} loop tsgi-dev ${stops} ${ignores} to keep ${it} out of watching, ` +
    `or have the app write ${it} only when the content changes.`
  );
}

/** A path relative to the working directory when inside it (as the reloader's lines show paths). */
function relativeName(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") ? rel : file;
}

/** A path as a shell argument: quoted when it holds anything but safe characters. */
function quote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
