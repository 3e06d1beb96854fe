/**
 * Watching the app's files with chokidar: the module graph's files, plus
 * `--watch` paths (files, directories, globs), minus `--ignore` globs and the
 * default ignores (`.git`, `node_modules`, `dist`, `build`, `coverage`,
 * `.cache` and similar) and SQLite databases with their `-wal`, `-shm` and
 * `-journal` files (see `isDatabaseFile`). A burst of events from one save (write, rename,
 * chmod) is debounced into one change notification, and a file still being
 * written is held back until it stops changing. Graph files are watched
 * through their directories, so saves by rename and atomic replace, a file
 * deleted and re-created or renamed away and back, and a file an import
 * names before it exists are all seen. So is a `--watch` path created after
 * startup, however many of its directories are new, and a file created in a
 * new directory while chokidar was still reading it.
 * @module
 */
import { watch, type FSWatcher } from "chokidar";
import { fstatSync, lstatSync, readdirSync, realpathSync, statSync, type Dirent, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
// Debounce, write-wait, join and new-directory times are on the monotonic clock: on the wall clock a
// step back (NTP, date -s) during a save's debounce held every reload back for the step's length.
import { monotonicNow } from "../deploy/clock.ts";
import { isDatabaseFile } from "./paths.ts";

/** Directory names never watched unless a graph file is inside one. Frozen (writing it throws a `TypeError`). */
export const DEFAULT_IGNORED_DIRS: readonly string[] = Object.freeze([
  ".git",
  ".hg",
  ".svn",
  "node_modules",
  "dist",
  "build",
  "coverage",
  ".cache",
  ".next",
  ".turbo",
  "__pycache__",
]);

/** Options of {@link DevWatcher}. */
export interface DevWatcherOptions {
  /** Base for relative `watch` entries and `ignore` globs. Default `process.cwd()`. */
  cwd?: string;
  /** Extra files, directories (recursive) or globs to watch (`--watch`). */
  watch?: readonly string[];
  /** The module graph's files to start with (absolute); see {@link DevWatcher.setGraph}. */
  graph?: readonly string[];
  /** Globs of paths never to watch (`--ignore`), matched against the path relative to `cwd`; a glob without `/` also matches any single path segment. */
  ignore?: readonly string[];
  /** Poll instead of native events (network and container file systems). Default false. */
  poll?: boolean;
  /** Quiet time after the last event before notifying, ms. Default 50. */
  debounceMs?: number;
  /** Longest a continuous stream of events delays the files that are done changing, ms (unless a graph file is still being written, see `writeWaitMs`). Default 500. */
  maxWaitMs?: number;
  /**
   * Longest a file that keeps being written is held back, ms: a file whose
   * size, modification time or inode changed within the last `debounceMs`
   * is not reported yet, and while a module graph file is being written
   * nothing is (every reload imports it). Default 5000.
   */
  writeWaitMs?: number;
  /**
   * File descriptors whose files are never reported: the process's own
   * stdout and stderr (`[1, 2]`) when they go to a file in a watched
   * directory (`tsgi-dev ./app.ts --watch . > dev.log 2>&1`), which each
   * reload's own line (and each request's access-log line) would change,
   * reloading again without end. Told by device and inode, taken once at
   * start. A descriptor that is not a regular file (a terminal, a pipe) is
   * skipped. Default none.
   */
  ownOutput?: readonly number[];
  /** Called with the absolute paths changed, added or removed in one burst. */
  onChange: (paths: string[]) => void;
  /** Watcher errors (EMFILE, EACCES...). Default: ignored. */
  onError?: (error: Error) => void;
}

const GLOB_CHARS = /[*?[\]{}]/;
/** How long a file that joined the graph is checked for a change chokidar may have missed (ms); see `DevWatcher#checkJoined`. */
const JOIN_CHECK_MS = 2000;
/** How often, until chokidar tracks it (ms). */
const JOIN_POLL_MS = 20;
/** chokidar's polling interval under `--poll` (ms): `interval` of its options. */
const POLL_INTERVAL_MS = 100;
/**
 * Under `--poll`, when a joined file that chokidar tracks is looked at
 * again, ms after the check first found it tracked: past the poller's
 * start and first interval (see `DevWatcher#checkJoined`), and once more
 * later for a loaded machine.
 */
const POLL_JOIN_LOOKS_MS = [2.5 * POLL_INTERVAL_MS, 10 * POLL_INTERVAL_MS];
/**
 * When a directory that appeared while watching is listed again, ms after
 * chokidar reported it, for entries chokidar's scan of it missed (see
 * `DevWatcher#checkNewDirs`): an entry missing from chokidar's list at two
 * of these looks was missed.
 */
const NEW_DIR_LOOKS_MS = [50, 200, 1000];
/**
 * A new directory that still held entries chokidar did not track at its
 * last look (a tree still being written, `tar x` under `--poll`: tar puts
 * each directory's modification time back, so polling never reads it
 * again) is looked at again every second after the last of
 * {@link NEW_DIR_LOOKS_MS}, up to this many looks in all.
 */
const NEW_DIR_MAX_LOOKS = 30;

/** When a new directory's next look is due: ms after it appeared. */
function newDirLookAt(looks: number): number {
  const last = NEW_DIR_LOOKS_MS.length - 1;
  return looks <= last ? NEW_DIR_LOOKS_MS[looks]! : NEW_DIR_LOOKS_MS[last]! + (looks - last) * 1000;
}
/**
 * Least time between two looks at new directories (ms): a tree that keeps
 * growing (a build tool writing its output directory, a slow `cp -r`)
 * raises an `addDir` every few ms, and each look asks chokidar for its
 * whole watch list, so the looks due meanwhile are taken together, a bit
 * late, instead of one by one.
 */
const NEW_DIR_CHECK_GAP_MS = 50;
/**
 * How long a file that is gone is held back before its removal is
 * reported (ms), for the new file of a save by rename to take its place:
 * the time chokidar's "atomic" mode gave it.
 */
const UNLINK_WAIT_MS = 100;
/** At most this many entries of a missed directory are reported. */
const MISSED_DIR_MAX_ENTRIES = 2000;

const EMPTY: ReadonlySet<string> = new Set();

/**
 * Whether a file name is one an editor writes beside a file while it is
 * edited, before any save: Emacs's auto-save file (`#page.html#`, written
 * every 300 keystrokes or 30 s idle and deleted at the save) and its lock
 * (`.#page.html`, a symbolic link made at the first change). Under a
 * `--watch` directory each reloaded the app, and the browser page, while
 * you typed. Also Vim's swap files (`.page.html.swp`, `.swo` ... `.swa`,
 * rewritten as you type) and backups (`page.html~`): chokidar 5 leaves
 * them out already, and they are named here so that they stay out
 * whatever chokidar's own rules and the watch mode. And the files an
 * editor's save makes and removes or renames over the saved file in the
 * same moment, which under a `--watch` directory reloaded once more (in
 * restart mode the reload named them: "restarted in 433 ms:
 * views/.goutputstream-JUYCXM, views/page.html"): Sublime Text's temporary
 * file of an atomic save (`.subl1a2b.tmp`); gedit's and every GLib/GIO
 * program's (`g_file_replace()`: GNOME Text Editor, Mousepad, Pluma)
 * `.goutputstream-XXXXXX` (six random characters), written and renamed
 * over the file; and Vim's write probe `4913` (made and deleted to learn
 * whether the directory takes new files with the file's owner; `4913 +
 * 123 n` when that name is taken, as Vim's `buf_write()` tries them). A
 * name alone: the watcher leaves such a path out only when it is not a
 * directory, and a probe name only while the file is empty (see isScratchAt).
 */
export function isEditorScratch(name: string): boolean {
  return (
    (name.length > 2 && name.startsWith("#") && name.endsWith("#")) ||
    name.startsWith(".#") ||
    /^\..+\.sw[a-p]$/.test(name) ||
    name.endsWith("~") ||
    /^\.subl.*\.tmp$/.test(name) ||
    /^\.goutputstream-[A-Za-z0-9]{6}$/.test(name) ||
    isVimWriteProbe(name)
  );
}

/** Vim's write probe: `4913`, or `4913 + 123 n` (n < 100) when that name was taken. */
function isVimWriteProbe(name: string): boolean {
  if (!/^[1-9]\d{3,4}$/.test(name)) return false;
  const n = Number(name) - 4913;
  return n >= 0 && n % 123 === 0 && n / 123 < 100;
}

/**
 * Whether `abs`, whose name is an editor's scratch name ({@link isEditorScratch}), is
 * that scratch file: not when it is a directory (a `--watch` tree's `5036/` of numbered
 * entries, named like Vim's probe, was left out with everything in it), nor when it is
 * named as Vim's write probe and holds bytes (the probe is made empty and deleted at
 * once: a data file of yours named `4913` is watched). A path that is gone is the
 * scratch file (the probe, deleted; Emacs's lock, a dangling link).
 */
function isScratchAt(abs: string): boolean {
  let st;
  try {
    st = statSync(abs);
  } catch {
    return true;
  }
  if (st.isDirectory()) return false;
  return !(isVimWriteProbe(basename(abs)) && st.size > 0);
}

/** `"src/**\/*.html"` → `{ base: "src", rest: "**\/*.html" }`; plain paths → `{ base: path }`. */
function splitGlob(entry: string): { base: string; rest?: string } {
  if (!GLOB_CHARS.test(entry)) return { base: entry };
  const parts = entry.split(/[\\/]/);
  const i = parts.findIndex((p) => GLOB_CHARS.test(p));
  const base = parts.slice(0, i).join("/") || (i === 0 ? "." : "/");
  return { base, rest: parts.slice(i).join("/") };
}

/**
 * Whether a `--watch` entry names anything now: a path that exists, or a
 * glob with at least one match that would be watched (the scan stops at the
 * first, and does not enter the {@link DEFAULT_IGNORED_DIRS} below the
 * glob's base). An entry that matches nothing is still watched, and what it
 * names is seen once created.
 * @param entry a file, directory or glob, as given to `--watch`.
 * @param cwd the base of a relative entry.
 */
export function watchEntryMatches(entry: string, cwd: string): boolean {
  const { base, rest } = splitGlob(entry);
  const root = resolve(cwd, base);
  if (rest === undefined) return statKind(root) !== "missing";
  if (statKind(root) !== "dir") return false;
  // The default ignores apply below the entry's directory (see DevWatcher.isIgnored): they are not
  // read, so a glob over the project does not list node_modules (often 100,000 entries) for matches
  // that would not be watched anyway.
  const glob = new Bun.Glob(rest);
  const dirs = [""];
  for (let rel = dirs.pop(); rel !== undefined; rel = dirs.pop()) {
    let entries: Dirent[];
    try {
      entries = readdirSync(rel ? join(root, rel) : root, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.isDirectory() && DEFAULT_IGNORED_DIRS.includes(e.name)) continue;
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (glob.match(path)) return true;
      if (e.isDirectory()) dirs.push(path);
    }
  }
  return false;
}

/** Watches the app's files and reports debounced changes. */
export class DevWatcher {
  readonly #cwd: string;
  readonly #ignore: Bun.Glob[];
  readonly #ignoreSegment: Bun.Glob[];
  /** Each `--ignore` entry as the directory its path part names (`../lib/gen` → `/abs/lib/gen`) and the glob under it, if any. */
  readonly #ignoreRooted: Array<{ root: string; glob?: Bun.Glob }>;
  /** Each `--watch` glob as the directory its path part names and the glob under it (`./views/**\/*.html` → `/abs/views`, `**\/*.html`). */
  readonly #globs: Array<{ root: string; glob: Bun.Glob }>;
  readonly #extraRoots: string[];
  /** The `--watch` roots under which only what a glob matches is reported (not also given as a plain path). */
  readonly #globBases = new Set<string>();
  readonly #options: DevWatcherOptions;
  #graph = new Set<string>();
  /** Directories watched for the graph's files (see {@link setGraph}). */
  #dirs = new Set<string>();
  /** Directories that did not exist between a graph file (or a `--watch` path) and its watched directory; let through when they appear. */
  #bridgeDirs = new Set<string>();
  #watcher: FSWatcher;
  /** Paths to report, with what they were (size, mtime, inode) when last seen changing, and when. */
  #pending = new Map<string, { signature: string; first: number; last: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Files named to chokidar by {@link setGraph} (and the graph's at the start), with what they were then (or
   * at their last report), until chokidar tracks them; under `--poll`, from when it did and how many looks
   * they had since (see {@link #checkJoined}).
   */
  #joining = new Map<string, { signature: string; until: number; trackedAt?: number; looks: number }>();
  #joinTimer: ReturnType<typeof setTimeout> | undefined;
  /** When {@link #joinTimer} fires (monotonic ms). */
  #joinAt = 0;
  /** Directories that appeared while watching, with when, how many looks they had and what was not tracked at the last. */
  #newDirs = new Map<string, { appeared: number; looks: number; untracked: Set<string>; reported: Set<string> }>();
  #newDirTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last look at new directories was taken (see {@link NEW_DIR_CHECK_GAP_MS}). */
  #newDirCheckAt = 0;
  /** chokidar's watch list as sets, for the current turn of the event loop only (see {@link #tracked}). */
  #trackedNow: { list: Record<string, string[]>; sets: Map<string, ReadonlySet<string>> } | undefined;
  #firstEventAt = 0;
  /** `dev:ino` of the regular files `ownOutput` names. */
  readonly #outputs = new Set<string>();
  #ready: Promise<void>;
  #closed = false;

  /** Start watching the `watch` entries; add the graph with {@link setGraph}. */
  constructor(options: DevWatcherOptions) {
    this.#options = options;
    this.#cwd = resolve(options.cwd ?? process.cwd());
    for (const fd of options.ownOutput ?? []) {
      try {
        const st = fstatSync(fd);
        if (st.isFile()) this.#outputs.add(`${st.dev}:${st.ino}`);
      } catch {
        // closed
      }
    }
    const ignore = options.ignore ?? [];
    this.#ignore = ignore.map((g) => new Bun.Glob(g.replace(/\\/g, "/").replace(/^\.\//, "")));
    this.#ignoreSegment = ignore.filter((g) => !/[\\/]/.test(g)).map((g) => new Bun.Glob(g));
    // Matched under the directory an entry's path part names, so `./x`, `../lib/x` and absolute entries
    // work as the shell would take them (Bun.Glob matches `./`, `../` and `/` only literally).
    this.#ignoreRooted = ignore.map((entry) => {
      const { base, rest } = splitGlob(entry);
      return { root: resolve(this.#cwd, base), glob: rest === undefined ? undefined : new Bun.Glob(rest) };
    });
    this.#globs = [];
    this.#extraRoots = [];
    for (const entry of options.watch ?? []) {
      const { base, rest } = splitGlob(entry);
      const root = resolve(this.#cwd, base);
      this.#extraRoots.push(root);
      if (rest !== undefined) {
        this.#globs.push({ root, glob: new Bun.Glob(rest) });
        this.#globBases.add(root);
      }
    }
    // A directory also given as a path (`--watch . --watch '*.md'`) is watched whole: the glob narrows nothing.
    for (const entry of options.watch ?? []) if (splitGlob(entry).rest === undefined) this.#globBases.delete(resolve(this.#cwd, entry));
    this.#graph = new Set((options.graph ?? []).filter((f) => !this.#ignoredByUser(f)));
    // A --watch path that does not exist (yet) is watched like a graph file: through the nearest directory that does.
    const missing = this.#extraRoots.filter((r) => statKind(r) === "missing");
    const roots = [...this.#extraRoots.filter((r) => !missing.includes(r)), ...this.#dirsToWatch(missing)];
    // Each path once (`--watch . --watch ./`): see #dirsToWatch for what a path given twice does.
    this.#watcher = watch([...new Set([...roots, ...this.#dirsToWatch(this.#graph)])], {
      ignoreInitial: true,
      persistent: true,
      usePolling: options.poll ?? false,
      // chokidar's "atomic" mode (on by default, also when polling, whatever its docs say) leaves out every
      // path matching its own editor-file pattern (`~$`, `.swp`, `.subl*.tmp`) before `ignored` is asked,
      // so a module in a directory named `lib~/` was never watched, graph file or not. Editor files are
      // left out by isEditorScratch instead, and the unlink-then-add of a save by rename by #flush.
      atomic: false,
      interval: POLL_INTERVAL_MS,
      binaryInterval: 3 * POLL_INTERVAL_MS,
      // chokidar's scan passes each entry's lstat (readdirp's): the loop check costs nothing for what is not a link.
      ignored: (path: string, stats?: Stats) => this.isIgnored(path, stats),
    });
    this.#ready = new Promise((r) =>
      this.#watcher.once("ready", () => {
        // chokidar tracks what its scan found from here on: the check of the files that joined at the
        // start is taken now, not up to JOIN_POLL_MS later, where a save made just after ready() would
        // be reported twice (by chokidar, and by the check, in two notifications if they are apart).
        // Under --poll they are looked at again later (chokidar's poller takes its start status late).
        clearTimeout(this.#joinTimer);
        if (options.poll) this.#relookScanned();
        this.#checkJoined();
        r();
      }),
    );
    this.#watcher.on("all", (event, path) => {
      const abs = resolve(this.#cwd, path);
      // A change chokidar reports is not reported again by the join check's later looks.
      const joining = this.#joining.get(abs);
      if (joining !== undefined) joining.signature = signature(abs);
      if (event === "addDir") this.#newDir(abs);
      // A graph path that is a directory: a symbolic link an import goes through (`./shared` → `../shared-real`).
      if ((event === "addDir" || event === "unlinkDir") && !this.#graph.has(abs)) return;
      this.#event(abs);
    });
    // chokidar raises nothing when a symbolic link to a directory is replaced by another (`ln -sfn`: a
    // rename over it, the path still a directory); its directory's own event names it. Polling: the
    // link's own stat changed (the new target's), which chokidar passes on with the path alone.
    this.#watcher.on("raw", (_event, name, details) => {
      if (typeof name !== "string" || name === "") return;
      const dir = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      const abs = typeof dir === "string" ? resolve(this.#cwd, dir, name) : this.#options.poll ? resolve(this.#cwd, name) : undefined;
      if (abs === undefined) return;
      if (this.#graph.has(abs) && (isLink(abs) || statKind(abs) === "dir")) this.#event(abs);
    });
    this.#watcher.on("error", (e) => this.#options.onError?.(e instanceof Error ? e : new Error(String(e))));
    // The initial scan is asynchronous too, with ignoreInitial: a graph file saved or deleted before it reaches it.
    this.#join([...this.#graph].filter((f) => statKind(f) === "file"));
  }

  /**
   * Resolves once the initial scan is done (its entries raise no events; a
   * graph file saved or deleted during it is reported). A save from then on
   * is reported by chokidar's events alone, once.
   */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The files watched because they are in the module graph. */
  get graph(): string[] {
    return [...this.#graph];
  }

  /**
   * Whether a change to `file` (absolute, or relative to `cwd`) is one this
   * watcher reports: a file of the module graph given to {@link setGraph},
   * or one a `watch` entry covers (a `.env` file, a `--watch` template),
   * unless the user's `--ignore` excludes it.
   */
  watches(file: string): boolean {
    return this.#wanted(resolve(this.#cwd, file));
  }

  /**
   * Make the module graph's files the reported set: the directories of new
   * files are watched, and events on files no longer in it are dropped.
   * A file that failed to import stays as long as the loader lists it.
   * A new file that already exists in a directory watched before is also
   * named to chokidar, so that its deletion or rename is reported: chokidar
   * raises `unlink` only for entries it tracks, and it did not track the
   * file while it was outside the graph.
   */
  setGraph(files: readonly string[]): void {
    const before = this.#graph;
    this.#graph = new Set(files.filter((f) => !this.#ignoredByUser(f)));
    const dirs = this.#dirsToWatch(this.#graph);
    const scanned = new Set(dirs);
    const added: string[] = [...dirs];
    /** New graph files on disk: named to chokidar, or found by its scan of a new directory, both asynchronous. */
    const joined: string[] = [];
    for (const f of this.#graph) {
      if (before.has(f)) continue;
      const kind = statKind(f);
      // A symbolic link to a directory that an import goes through: named as a file is, for the same
      // reason (chokidar raises unlinkDir only for an entry it tracks), not checked as one.
      if (kind === "dir" && isLink(f) && (this.#options.poll || !scanned.has(dirname(f)))) added.push(f);
      if (kind !== "file") continue;
      joined.push(f);
      // On disk before it joined the graph, in a directory scanned before: chokidar skipped it then
      // (ignored) and does not read the directory again until something in it changes. Polling sees
      // only the entries a directory had when they were wanted: there every new graph file is named.
      if (this.#options.poll || !scanned.has(dirname(f))) added.push(f);
    }
    if (added.length) this.#watcher.add(added);
    this.#join(joined);
  }

  /** Check `files` (on disk, just handed to chokidar) until chokidar tracks them: see {@link #checkJoined}. */
  #join(files: Iterable<string>): void {
    const until = monotonicNow() + JOIN_CHECK_MS;
    for (const f of files) this.#joining.set(f, { signature: signature(f), until, looks: 0 });
    if (this.#joining.size > 0) this.#armJoin(JOIN_POLL_MS);
  }

  /**
   * At ready under `--poll`: every file chokidar's scan tracks (what the `--watch` entries hold; the
   * graph's files are being looked at already) is looked at again like a joined graph file, for the
   * save made before Bun's poller took the status it compares with. One stat per file watched now,
   * two more later (5,000 files: 35 to 45 ms at ready, 15 to 80 ms at each look, on a loaded 2-core machine).
   */
  #relookScanned(): void {
    const now = monotonicNow();
    for (const [dir, names] of Object.entries(this.#watcher.getWatched())) {
      for (const name of names) {
        const f = join(dir, name);
        // What chokidar tracks passed isIgnored already; the rest of #wanted is asked of a difference only
        // (#event): asked of each file here, it took 4 times the stats' time (5,000 files: 120 to 200 ms).
        if (this.#joining.has(f)) continue;
        let st;
        try {
          st = statSync(f);
        } catch {
          continue;
        }
        if (st.isFile()) this.#joining.set(f, { signature: signatureOf(st), until: now, trackedAt: now, looks: 0 });
      }
    }
    if (this.#joining.size > 0) this.#armJoin(POLL_JOIN_LOOKS_MS[0]!);
  }

  /** Run {@link #checkJoined} in `ms`, or sooner if it is due sooner already. */
  #armJoin(ms: number): void {
    const at = monotonicNow() + ms;
    if (this.#joinTimer !== undefined && this.#joinAt <= at) return;
    clearTimeout(this.#joinTimer);
    this.#joinAt = at;
    this.#joinTimer = setTimeout(() => this.#checkJoined(), ms);
  }

  /**
   * chokidar's `add()` stats a file (or reads a new directory and stats its
   * entries) asynchronously and only then watches it: a file deleted or saved in between (a test, a formatter run right
   * after the save that imported it) raises no event, and it was never
   * tracked, so no later event either. Until chokidar tracks a joining file
   * (at most {@link JOIN_CHECK_MS}), its size, modification time and inode
   * are compared every {@link JOIN_POLL_MS} with what they were when it
   * joined (or last differed), and a difference is reported as a change at
   * once (a file deleted before chokidar's stat is never tracked). Changes
   * after that are chokidar's to see, except under `--poll`: chokidar tracks
   * a file from its `fs.watchFile()` call, but Bun's `watchFile` takes the
   * status it compares with in the background, a few ms later (more on a
   * loaded machine), and a save in between is never reported (a save right
   * after tsgi-dev said it is serving kept the old text). There a tracked
   * file is looked at again at {@link POLL_JOIN_LOOKS_MS}, and a difference
   * from what it was when it joined, or when chokidar last reported it, is
   * reported. So is each file a `--watch` entry holds that chokidar's scan
   * tracks at ready (see {@link #relookScanned}). A save chokidar reports just after a look is reported twice;
   * the reload compares fingerprints and drops the second.
   */
  #checkJoined(): void {
    this.#joinTimer = undefined;
    if (this.#closed) return;
    const now = monotonicNow();
    let next = Infinity;
    for (const [f, entry] of this.#joining) {
      if (entry.trackedAt !== undefined) {
        const due = entry.trackedAt + POLL_JOIN_LOOKS_MS[entry.looks]!;
        if (now < due) {
          next = Math.min(next, due - now);
          continue;
        }
        entry.looks++;
      }
      const tracked = entry.trackedAt !== undefined || this.#tracked(dirname(f)).has(basename(f));
      const current = signature(f);
      if (current !== entry.signature) {
        entry.signature = current;
        this.#event(f);
      }
      if (this.#options.poll && tracked && entry.looks < POLL_JOIN_LOOKS_MS.length) {
        entry.trackedAt ??= now;
        next = Math.min(next, entry.trackedAt + POLL_JOIN_LOOKS_MS[entry.looks]! - now);
      } else if (tracked || now >= entry.until) this.#joining.delete(f);
      else next = Math.min(next, JOIN_POLL_MS);
    }
    if (this.#joining.size > 0) this.#armJoin(next);
  }

  /** Look at a directory that appeared while watching again, at {@link NEW_DIR_LOOKS_MS}. */
  #newDir(dir: string): void {
    if (this.#closed) return;
    this.#newDirs.set(dir, { appeared: monotonicNow(), looks: 0, untracked: new Set(), reported: new Set() });
    this.#armNewDirs();
  }

  #armNewDirs(): void {
    if (this.#newDirTimer !== undefined || this.#newDirs.size === 0 || this.#closed) return;
    let next = this.#newDirCheckAt + NEW_DIR_CHECK_GAP_MS;
    let due = Infinity;
    for (const e of this.#newDirs.values()) due = Math.min(due, e.appeared + newDirLookAt(e.looks));
    next = Math.max(next, due);
    this.#newDirTimer = setTimeout(() => {
      this.#newDirTimer = undefined;
      this.#checkNewDirs();
    }, Math.max(0, next - monotonicNow()));
  }

  /**
   * chokidar reads a directory that appeared and only then watches it
   * (paulmillr/chokidar#1471): an entry created in between (`mkdir -p
   * out/html` and a file written in it a moment later by a generator, or
   * by a process descheduled on a loaded machine) raises no event, and is
   * not seen until something else in that directory changes. Each new
   * directory is listed again a few times: an entry that chokidar does not
   * track at two looks is reported (a directory: the files in it) and
   * given to chokidar to watch from then on; a directory whose last look
   * still found entries untracked is looked at again a second later (see
   * {@link NEW_DIR_MAX_LOOKS}). The looks due are taken
   * together, at most every {@link NEW_DIR_CHECK_GAP_MS}, with one copy of
   * chokidar's watch list (a tree of thousands of directories appearing).
   */
  #checkNewDirs(): void {
    if (this.#closed) return;
    const now = monotonicNow();
    this.#newDirCheckAt = now;
    for (const [dir, entry] of this.#newDirs) {
      if (now < entry.appeared + newDirLookAt(entry.looks)) continue;
      entry.looks++;
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        this.#newDirs.delete(dir);
        continue;
      }
      const tracked = this.#tracked(dir);
      // Reported once: an entry chokidar never tracks (a dangling symlink) must not reload at every look.
      const untracked = new Set(names.filter((n) => !tracked.has(n) && !entry.reported.has(n) && !this.isIgnored(join(dir, n))));
      for (const n of untracked) {
        if (!entry.untracked.has(n)) continue;
        untracked.delete(n);
        entry.reported.add(n);
        this.#missed(join(dir, n));
      }
      entry.untracked = untracked;
      // Done after the last look, unless entries untracked at it still await their second.
      if (entry.looks >= NEW_DIR_LOOKS_MS.length && (untracked.size === 0 || entry.looks >= NEW_DIR_MAX_LOOKS)) this.#newDirs.delete(dir);
    }
    this.#armNewDirs();
  }

  /**
   * The names chokidar tracks in `dir` (absolute). `getWatched()` copies and
   * sorts chokidar's whole watch list (every directory and file watched,
   * thousands with a `--watch` of assets): it is taken once per turn of the
   * event loop, however many files and directories are looked up in it.
   */
  #tracked(dir: string): ReadonlySet<string> {
    if (this.#trackedNow === undefined) {
      this.#trackedNow = { list: this.#watcher.getWatched(), sets: new Map() };
      queueMicrotask(() => (this.#trackedNow = undefined));
    }
    let set = this.#trackedNow.sets.get(dir);
    if (set === undefined) {
      const names = this.#trackedNow.list[dir];
      set = names ? new Set(names) : EMPTY;
      this.#trackedNow.sets.set(dir, set);
    }
    return set;
  }

  /** An entry chokidar missed: watch it from now on, and report it (a directory: the files in it, looked at again like a new one). */
  #missed(path: string): void {
    this.#watcher.add(path);
    if (statKind(path) !== "dir") return this.#event(path);
    const dirs = [path];
    let count = 0;
    while (dirs.length && count < MISSED_DIR_MAX_ENTRIES) {
      const dir = dirs.pop()!;
      this.#newDir(dir);
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) {
        if (++count > MISSED_DIR_MAX_ENTRIES) break;
        const p = join(dir, n);
        if (this.isIgnored(p)) continue;
        if (statKind(p) === "dir") dirs.push(p);
        else this.#event(p);
      }
    }
  }

  /**
   * The directories to give chokidar for the graph's `files` that it does
   * not watch yet: each file's directory, or for a file in a directory that
   * does not exist (yet), the nearest one that does. Graph files are
   * watched through their directory (a file that joins the graph after its
   * directory was scanned is named too, see {@link setGraph}), and
   * {@link isIgnored} keeps the directory's other entries out. A directory
   * watch sees a file deleted, re-created, renamed away and back or saved
   * by rename, and sees a file created that does not exist yet; chokidar's
   * tracking of a file path alone loses the re-creation in some of these
   * sequences (a path that did not exist when added, or a file also
   * covered by its directory). Directories are never unwatched. A
   * `--watch` directory is not given again (it is watched already).
   */
  #dirsToWatch(files: Iterable<string>): string[] {
    const out: string[] = [];
    for (const f of files) {
      let dir = dirname(f);
      if (this.#dirs.has(dir) || this.#bridgeDirs.has(dir)) continue;
      while (statKind(dir) !== "dir" && dirname(dir) !== dir) {
        this.#bridgeDirs.add(dir);
        dir = dirname(dir);
      }
      if (!this.#dirs.has(dir)) {
        this.#dirs.add(dir);
        // A `--watch` directory is watched already: chokidar given the same directory twice reads it
        // twice at once, and its second read (initial: false) reports the entries the first has not
        // registered yet as added, so files that were there all along reloaded the app at startup.
        if (!this.#extraRoots.includes(dir)) out.push(dir);
      }
    }
    return out;
  }

  /**
   * Whether `path` (absolute) is excluded: by `--ignore`, by the default ignores unless it is a graph
   * file, or as a symbolic link back into its own directory or one above it (see {@link isLoopLink}).
   * @param stats the path's `lstat`, where the caller has it (chokidar's scan does); else it is taken when needed.
   */
  isIgnored(path: string, stats?: Stats): boolean {
    const abs = resolve(this.#cwd, path);
    if (this.#isIgnoredByRules(abs)) return true;
    if (this.#graph.has(abs) || this.#extraRoots.includes(abs)) return false;
    return isLoopLink(abs, stats);
  }

  #isIgnoredByRules(path: string): boolean {
    const abs = resolve(this.#cwd, path);
    if (this.#graph.has(abs)) return this.#ignoredByUser(abs);
    if (this.#extraRoots.includes(abs) || this.#dirs.has(abs) || this.#bridgeDirs.has(abs)) return false;
    // A directory watched for its graph files: nothing else of it (other files, subdirectories).
    // Nor what is in a graph path that is a directory (a link an import goes through: the link is watched, not its tree).
    const parent = dirname(abs);
    if (isEditorScratch(basename(abs)) && isScratchAt(abs)) return true;
    if (this.#graph.has(parent) && !this.#underExtra(abs)) return true;
    if ((this.#dirs.has(parent) || this.#bridgeDirs.has(parent)) && !this.#underExtra(abs)) return true;
    // The default ignores apply below the innermost --watch directory a path is in (`--watch ../lib` does
    // not watch `../lib/node_modules`; `--watch dist`, `--watch node_modules/@acme/ui` watch what they
    // name), else below the working directory.
    const rel = this.#relToExtra(abs) ?? this.#rel(abs);
    if (rel !== null) {
      for (const part of rel.split("/")) if (DEFAULT_IGNORED_DIRS.includes(part)) return true;
    }
    return this.#ignoredByUser(abs);
  }

  /** `abs` relative to the innermost `--watch` root it is under (`/`-separated), or `null`. */
  #relToExtra(abs: string): string | null {
    let best: string | null = null;
    for (const r of this.#extraRoots) {
      if (!abs.startsWith(r + sep) || (best !== null && r.length <= best.length)) continue;
      best = r;
    }
    return best === null ? null : relative(best, abs).split(sep).join("/");
  }

  #rel(abs: string): string | null {
    const rel = relative(this.#cwd, abs);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return null;
    return rel.split(sep).join("/");
  }

  #ignoredByUser(abs: string): boolean {
    if (this.#ignore.length === 0) return false;
    const rel = this.#rel(abs) ?? abs.split(sep).join("/");
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      for (const g of this.#ignore) if (g.match(prefix) || g.match(prefix + "/")) return true;
      for (const g of this.#ignoreSegment) if (g.match(parts[i - 1]!)) return true;
    }
    for (const { root, glob } of this.#ignoreRooted) {
      if (abs !== root && !abs.startsWith(root + sep)) continue;
      if (glob === undefined) return true;
      const under = relative(root, abs).split(sep);
      for (let i = 1; i <= under.length; i++) {
        const prefix = under.slice(0, i).join("/");
        if (glob.match(prefix) || glob.match(prefix + "/")) return true;
      }
    }
    return false;
  }

  #underExtra(abs: string): boolean {
    return this.#extraRoots.some((r) => abs === r || abs.startsWith(r + sep));
  }

  /** Whether an event on `abs` is one to report. */
  #wanted(abs: string): boolean {
    if (this.#graph.has(abs)) return true;
    if (this.isIgnored(abs)) return false;
    if (this.#outputs.size > 0 && this.#isOutput(abs)) return false;
    // A device, FIFO or socket (a log linked to /dev/null, a masked unit, a database's socket): never a source,
    // and inotify reports each write any process makes to the device it reaches (before: a reload per write).
    if (isSpecial(abs)) return false;
    // An SQLite database in a --watch directory (`--watch .`): the app writes it, and its -wal, -shm
    // and -journal files, as it serves, so each request that writes would reload.
    if (isDatabaseFile(abs)) return false;
    for (const root of this.#extraRoots) {
      if (abs !== root && !abs.startsWith(root + sep)) continue;
      if (!this.#globBases.has(root)) return true;
      // A root that came from a glob: the path must match one of the globs, under its own root.
      const matches = ({ root: r, glob }: { root: string; glob: Bun.Glob }) => abs.startsWith(r + sep) && glob.match(relative(r, abs).split(sep).join("/"));
      if (this.#globs.some(matches)) return true;
    }
    return false;
  }

  /** Whether `abs` is one of the files {@link DevWatcherOptions.ownOutput} names (by device and inode). */
  #isOutput(abs: string): boolean {
    try {
      const st = statSync(abs);
      return this.#outputs.has(`${st.dev}:${st.ino}`);
    } catch {
      return false;
    }
  }

  #event(abs: string): void {
    if (this.#closed || !this.#wanted(abs)) return;
    const now = monotonicNow();
    if (this.#pending.size === 0) this.#firstEventAt = now;
    this.#pending.set(abs, { signature: signature(abs), first: this.#pending.get(abs)?.first ?? now, last: now });
    const quiet = this.#options.debounceMs ?? 50;
    const maxWait = this.#options.maxWaitMs ?? 500;
    this.#arm(Math.max(0, Math.min(quiet, this.#firstEventAt + maxWait - now)));
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flush(), ms);
  }

  /**
   * Report the pending paths that are done changing. chokidar reports at
   * most one change per file per 50 ms, so a file written in small pieces
   * can look quiet while it is still being written: each path's size,
   * modification time and inode are compared with what they were at its
   * last event, and a path that changed since counts as changing now.
   *
   * - Nothing changing for `debounceMs`: everything is reported.
   * - A module graph file still changing holds everything back (a reload
   *   would import it half-written), for at most `writeWaitMs`.
   * - Other files still changing (a log in a `--watch` directory) are held
   *   back themselves, for at most `writeWaitMs`, but do not delay the
   *   rest beyond `maxWaitMs`.
   */
  #flush(): void {
    this.#timer = undefined;
    if (this.#pending.size === 0 || this.#closed) return;
    const now = monotonicNow();
    const quiet = this.#options.debounceMs ?? 50;
    const maxWait = this.#options.maxWaitMs ?? 500;
    const writeWait = this.#options.writeWaitMs ?? 5000;
    const busy = new Set<string>();
    for (const [path, entry] of this.#pending) {
      const current = signature(path);
      if (current !== entry.signature) {
        entry.signature = current;
        entry.last = now;
      }
      // A file gone for less than UNLINK_WAIT_MS may be an editor's save by rename (the old file
      // removed, the new one put in its place a moment later): held back, so the load does not find it missing.
      const wait = current === "missing" ? Math.max(quiet, UNLINK_WAIT_MS) : quiet;
      if (now - entry.last < wait && now - entry.first < writeWait) busy.add(path);
    }
    if (busy.size > 0) {
      const holdAll = [...busy].some((p) => this.#graph.has(p)) || now - this.#firstEventAt < maxWait;
      if (holdAll || busy.size === this.#pending.size) {
        this.#arm(quiet);
        return;
      }
    }
    const paths = [...this.#pending.keys()].filter((p) => !busy.has(p));
    for (const p of paths) this.#pending.delete(p);
    if (this.#pending.size > 0) {
      this.#firstEventAt = now;
      this.#arm(quiet);
    }
    this.#options.onChange(paths);
  }

  /** Stop watching; pending notifications are dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#joinTimer);
    clearTimeout(this.#newDirTimer);
    await this.#watcher.close();
  }
}

/** What a file is now, to tell whether it changed: size, modification time and inode, or `"missing"`. */
function signature(path: string): string {
  try {
    return signatureOf(statSync(path));
  } catch {
    return "missing";
  }
}

/** {@link signature} of a status already taken. */
function signatureOf(st: { size: number; mtimeMs: number; ino: number }): string {
  return `${st.size}:${st.mtimeMs}:${st.ino}`;
}

/** Whether `path` (followed, when a symbolic link) is a character or block device, a FIFO or a socket. */
function isSpecial(path: string): boolean {
  try {
    const st = statSync(path);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}

/**
 * Whether `path` is a symbolic link to its own directory or to one above it (`/usr/bin/X11 -> .`,
 * `/usr/lib/llvm-14/build/Release -> ..`): a loop, whose target is watched already as the link's
 * ancestor. chokidar follows links, so it read the target again under the link, and again under the
 * link in that, down to the kernel's 40 links (ELOOP), and then said so with one raw
 * `watcher: ELOOP` line per symbolic link found at that depth (501 for `--watch /usr`).
 * Only a link pays for the check (its `lstat`, given or taken, and two `realpath`s).
 * @param stats the path's `lstat`, if taken already (a followed `stat` says nothing about a link: no loop).
 */
function isLoopLink(path: string, stats?: Stats): boolean {
  try {
    if (!(stats ?? lstatSync(path)).isSymbolicLink()) return false;
    const target = realpathSync(path);
    const parent = realpathSync(dirname(path));
    return parent === target || parent.startsWith(target.endsWith(sep) ? target : target + sep);
  } catch {
    return false;
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function statKind(path: string): "file" | "dir" | "missing" {
  try {
    return statSync(path).isDirectory() ? "dir" : "file";
  } catch {
    return "missing";
  }
}
