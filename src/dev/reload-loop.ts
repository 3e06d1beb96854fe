/**
 * Telling a reload loop the app causes itself from the user's saves: an app
 * that writes a file it imports (or one a `--watch` covers) as it loads (a
 * JSON cache, a generated `routes.ts`, a build stamp) would otherwise
 * reload, or restart, without end. A loop shows as a file that changed
 * while the app was loading (after the load read it, before the load
 * ended: nobody could have seen the new version yet), and then reloads
 * it, again and again. A user saving faster than the app loads (autosave,
 * a coding agent's edits in a row, on an app with a second of setup) looks
 * the same while the saves go on; what tells them apart is that the saves
 * stop, while a loop goes on by itself. So after {@link LOOP_RELOADS} - 1
 * loads in a row each wrote a file the next reload was for (the same
 * file, or another at each load, taking turns), the next reload for it
 * (the load that would make {@link LOOP_RELOADS}) waits
 * until the file has stayed as the last load left it for a while (see
 * {@link ReloadLoopGuard.quietMs}; a save meanwhile is a save, and reloads
 * at once), then runs: a load that starts from quiet files and writes one
 * of them again is the app's own doing, and tsgi-dev stops reloading (or
 * restarting) for what the loads write to it, and says so; a load that
 * leaves them alone ends the count (the user's last save is loaded).
 * A change whose content is not what the last load left (a save made after
 * a load, however quick) is never counted (see `Reloader`, and the
 * supervisor's `looping`).
 * @module
 */
import { statSync } from "node:fs";
import { relative } from "node:path";
import { fingerprint } from "./fingerprint.ts";

/** How many loads in a row, each of which changed the file whose change the next reloads for, make a loop (the last of them started after {@link LOOP_QUIET_MS}). */
export const LOOP_RELOADS = 5;

/** Least time a file suspected of looping must stay as the last load left it before the load that decides, ms (see {@link ReloadLoopGuard.quietMs}). */
export const LOOP_QUIET_MS = 1000;

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

/** What {@link ReloadLoopGuard.check} decided for the files of a reload about to run. */
export interface LoopCheck {
  /** The files to reload for now. */
  reload: string[];
  /**
   * Files suspected of looping, held back: call {@link ReloadLoopGuard.release}
   * once they stayed unchanged for {@link ReloadLoopGuard.quietMs} and no
   * load runs, and reload for what it returns.
   */
  hold: string[];
}

/**
 * Counts reloads for a file the load before them wrote itself. The caller
 * tells it, as each load ends, which files changed while it ran
 * ({@link loaded}, with {@link writtenDuringLoad}), asks {@link check}
 * before each reload, and calls {@link release} for the files it holds.
 */
export class ReloadLoopGuard {
  readonly #reloads: number;
  readonly #quietMs: number;
  /** What the last load saw written while it ran, with each file's fingerprint as the load ended. */
  #written = new Map<string, string>();
  /** How long the last load took, ms. */
  #loadMs = 0;
  /** Reloads in a row so far for a file the load before had written, and the files they were for (the suspects). */
  #streak = 0;
  #files: Set<string> | null = null;
  /** Files held back after {@link LOOP_RELOADS} - 1 such loads, until they stay quiet. */
  #held = new Set<string>();
  /** Files released after a quiet time: the next load decides whether the app writes them. */
  #verifying = new Set<string>();

  /**
   * @param options.reloads how many loads in a row make a loop; default {@link LOOP_RELOADS}.
   * @param options.quietMs least quiet time before the deciding load, ms; default {@link LOOP_QUIET_MS}.
   */
  constructor(options: { reloads?: number; quietMs?: number } = {}) {
    this.#reloads = options.reloads ?? LOOP_RELOADS;
    this.#quietMs = options.quietMs ?? LOOP_QUIET_MS;
  }

  /**
   * How long a held file must stay unchanged before {@link release}, ms:
   * `quietMs`, or the last load's time when longer (a user saving faster
   * than the app loads does so more often than once a load).
   */
  get quietMs(): number {
    return Math.max(this.#quietMs, this.#loadMs);
  }

  /**
   * Whether the load that decides is due or running and `file` is one it
   * looks at (a released file, or another the loads in a row wrote): a
   * change of it while that load runs is no save to act on.
   */
  verifying(file: string): boolean {
    return this.#verifying.size > 0 && (this.#verifying.has(file) || this.#files?.has(file) === true);
  }

  /**
   * A load ended (the first, a reload, a new app process), and `written`
   * changed while it ran; it took `ms` milliseconds.
   * @returns the files found looping: those of the loads in a row (the
   *   released ones, see {@link release}, and the others they wrote: an
   *   app may write a different file at each load) that this load,
   *   started once they were quiet, wrote again. The caller stops
   *   reloading for what the loads write to them (and warns, see
   *   {@link loopWarning}). A load that wrote nothing ends the count.
   */
  loaded(written: Iterable<string>, ms = 0): string[] {
    this.#written = new Map([...written].map((f) => [f, fingerprint(f)]));
    this.#loadMs = ms;
    if (this.#verifying.size === 0) {
      if (this.#written.size === 0) {
        this.#streak = 0;
        this.#files = null;
      }
      return [];
    }
    const suspects = new Set([...this.#verifying, ...(this.#files ?? [])]);
    const looping = [...this.#written.keys()].filter((f) => suspects.has(f));
    this.#verifying.clear();
    this.#streak = 0;
    this.#files = null;
    return looping;
  }

  /**
   * A reload for `paths` (absolute; changed in content) is about to run.
   * A file counts when it is as the last load left it, having changed while
   * that load ran (the app's write, or a save during it); a change since (a
   * save after the load) ends the count. After {@link LOOP_RELOADS} - 1
   * loads in a row wrote such a file (the first load counts; not
   * necessarily the same file each time), the reload for it is held back
   * (see {@link LoopCheck.hold}). The reload of a released file (the load
   * that decides) counts nothing.
   */
  check(paths: readonly string[]): LoopCheck {
    const reload: string[] = [];
    const hold: string[] = [];
    const rest: string[] = [];
    for (const p of paths) {
      if (this.#verifying.has(p)) reload.push(p);
      else if (this.#held.has(p) && this.#isLastWrite(p)) hold.push(p);
      else {
        this.#held.delete(p);
        rest.push(p);
      }
    }
    // The load that decides (a released file's) counts nothing: its other files (restart mode's, which waited) are no save.
    if (reload.length) return { reload: [...reload, ...rest], hold };
    // Any file the last load wrote continues the count (an app may write another file at each load: a loop all the same).
    const same = rest.filter((p) => this.#isLastWrite(p));
    if (same.length === 0) {
      if (rest.length) {
        this.#streak = 0;
        this.#files = null;
      }
      return { reload: [...reload, ...rest], hold };
    }
    this.#streak++;
    this.#files ??= new Set();
    for (const p of same) this.#files.add(p);
    if (this.#streak < this.#reloads - 1) return { reload: [...reload, ...rest], hold };
    for (const p of same) this.#held.add(p);
    return { reload: [...reload, ...rest.filter((p) => !this.#held.has(p))], hold: [...hold, ...same] };
  }

  /**
   * The held files stayed quiet for {@link quietMs} and no load runs: they
   * are returned to be reloaded for, and the load that follows decides
   * (see {@link loaded}). A held file changed since the last load (a save)
   * is returned too, and counts no more.
   */
  release(): string[] {
    const out = [...this.#held];
    this.#held.clear();
    for (const f of out) {
      if (this.#isLastWrite(f)) this.#verifying.add(f);
      else {
        this.#streak = 0;
        this.#files = null;
      }
    }
    return out;
  }

  /** Whether `file` is what the last load left it as, having changed while that load ran. */
  #isLastWrite(file: string): boolean {
    const print = this.#written.get(file);
    return print !== undefined && fingerprint(file) === print;
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
