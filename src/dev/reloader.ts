/**
 * The in-place reloader: holds the current app (or the reason it failed to
 * load), reloads it when files change, and gives the server one stable
 * {@link Reloader.app} that dispatches each request to whatever is current
 * when the request starts. Requests that arrive while a reload is loading
 * wait for it, and for a reload queued behind it (bounded by `waitMs` in
 * all, after which they go to the previous app); requests already running
 * finish on the app they started on.
 * @module
 */
import { relative } from "node:path";
import { isTsgiSource } from "./paths.ts";
import type { ApplicationKind } from "../fetch/index.ts";
import { fingerprint } from "./fingerprint.ts";
import { isImportedManifest, isImportLink, isPackageManifest, isResolverConfig, linkPrint, manifestPrint } from "./graph.ts";
import type { Application } from "../spec.ts";
import { escapeControls } from "../server/log.ts";
import { diagnose, formatDiagnosis, type Diagnosis } from "./diagnose.ts";
import type { DotenvReloader } from "./dotenv.ts";
import { renderErrorPage } from "./error-page.ts";
import type { HeapGrowth } from "./heap-growth.ts";
import { DISPOSE_TIMEOUT_MS } from "./hot.ts";
import { DRAIN_TIMEOUT_MS, InFlight } from "./in-flight.ts";
import { messageOf, type AppLoader, type LoadFailure } from "./loader.ts";
import { missingPackageHint } from "./missing-package.ts";
import { loopWarning, ReloadLoopGuard, writtenDuringLoad } from "./reload-loop.ts";

/** The minimal logger the reloader prints through (a consola instance fits). */
export interface ReloadLogger {
  info(message: string): void;
  success?(message: string): void;
  warn?(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

/** Options of {@link Reloader}. */
export interface ReloaderOptions {
  /** Show error details on load-error pages. Default true. */
  debug?: boolean;
  /** Longest a request waits for a reload in progress (and those queued behind it), ms. Default 10000. */
  waitMs?: number;
  /** Terminal output. */
  logger: ReloadLogger;
  /** Re-read `.env` files before each reload. */
  dotenv?: DotenvReloader;
  /**
   * Called after every load, and when a request imported a module lazily,
   * with the module graph's files (to watch) and what each was when loaded
   * (see {@link Reloader.loaded}).
   */
  onGraph?: (files: string[], loaded: ReadonlyMap<string, string>) => void;
  /**
   * Whether this process reloads the app itself: a file found changed since
   * it was read, when it joins the files to watch (a save in the moment
   * between a module's import and the watcher taking it on), is reloaded.
   * False where something else decides (restart mode's app processes: the
   * supervisor compares what they report; reloading off). Default true.
   */
  reloadsItself?: boolean;
  /**
   * Whether a file of the app is watched (see `DevWatcher.watches`): a file
   * found changed by comparing the disk with what was loaded (see
   * {@link Reloader.changedSinceLoad}, and the checks after a load, after a
   * request imported a module, and shortly after each reload) is reloaded
   * only when it is, so a file the user's `--ignore` excludes (one the app
   * writes as it loads, say) reloads nothing. Default: every file.
   */
  watches?: (file: string) => boolean;
  /**
   * Look for a reload loop (see reload-loop.ts): a file each of the last
   * loads changed while it ran, which one more load, started once the file
   * stayed unchanged for a while, changed again. Such a file, with a
   * warning, no longer reloads for what the loads write to it; a change to
   * it made between loads (a save) reloads as before and ends that.
   * Default false.
   */
  guardLoops?: boolean;
  /** Called after each successful (re)load with the new version id. */
  onReloaded?: (info: { id: string; ms: number; changed: string[] }) => void;
  /** Called after each failed (re)load. */
  onFailed?: (info: { failure: LoadFailure; diagnosis: Diagnosis; changed: string[] }) => void;
  /** Decide which stack frames are not user code (tsgi's own sources). */
  internal?: (file: string) => boolean;
  /**
   * Watch the heap across reloads and warn when old generations pile up (an
   * app that leaves a timer, a server or a global cache behind at import):
   * for a process that reloads in place. Default none.
   */
  heapGrowth?: HeapGrowth;
}

/** The app loaded, with the requests running on it (see {@link InFlight}), or why it failed to load. */
type State =
  | { ok: true; app: Application; kind: ApplicationKind; warning: string | null; requests: InFlight }
  | { ok: false; failure: LoadFailure; diagnosis: Diagnosis };

/** What {@link Reloader.reload} did. */
export type ReloadOutcome = "reloaded" | "failed" | "skipped";

/**
 * A load failure that says a port is taken (Bun's `Failed to start server.
 * Is port N in use?`, `EADDRINUSE` from `node:net`): after a first load,
 * most likely by a server the app itself started at import.
 */
export const ADDRESS_IN_USE = /EADDRINUSE|address already in use|Is port \d+ in use\?/i;

const PORT_HELD_HINT =
  "(A server the app starts at import keeps running after a reload in place, with its port: stop it in an import.meta.hot.dispose() callback, start it once behind a globalThis flag, or use --reload=restart.)";

/** How long after a request the module cache is searched for modules it imported lazily (ms). */
const DISCOVER_DELAY_MS = 200;

/** How long a file the settle check found changed must stay the same before it reloads it (ms): the watcher's debounce. */
const SETTLE_STEADY_MS = 50;

/**
 * How long a failed reload waits for the files that changed while it loaded
 * to be back and steady before it loads once more (ms); see `#reload`.
 */
const UNDER_LOAD_WAIT_MS = 1000;

/**
 * Of the files a load fingerprinted before the app ran (`before`), those
 * that are not the same now: changed, deleted or created while it loaded.
 */
function changedUnder(before: ReadonlyMap<string, string>): string[] {
  return [...before].filter(([f, print]) => fingerprint(f) !== print).map(([f]) => f);
}

/**
 * Wait until every file of `before` that existed then exists again and none
 * has changed for `steadyMs`, or `maxMs` passed (a file deleted for good).
 * Looks every 10 ms: one `lstat` per file (see `fingerprint`).
 */
async function settle(before: ReadonlyMap<string, string>, steadyMs: number, maxMs: number): Promise<void> {
  const files = [...before.keys()];
  const look = () => files.map((f) => fingerprint(f));
  const deadline = performance.now() + maxMs;
  let last = look();
  let since = performance.now();
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    const now = look();
    if (now.some((p, i) => p !== last[i])) {
      last = now;
      since = performance.now();
      continue;
    }
    const gone = files.some((f, i) => now[i] === "missing" && before.get(f) !== "missing");
    if (!gone && performance.now() - since >= steadyMs) return;
  }
}

/** Holds the current app and reloads it. */
export class Reloader {
  readonly #loader: AppLoader;
  readonly #options: ReloaderOptions;
  readonly #instance = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  #state: State | null = null;
  #generation = 0;
  #loading: Promise<ReloadOutcome> | null = null;
  #queued: { paths: Set<string>; promise: Promise<ReloadOutcome> } | null = null;
  #fingerprints = new Map<string, string>();
  /** The symbolic links imports go through, as first loaded or last warned about (see `linkPrint`). */
  #links = new Map<string, string>();
  /** The `package.json` files of the app's modules, as first loaded or last warned about (see `manifestPrint`). */
  #manifests = new Map<string, string>();
  #reloads = 0;
  readonly #loop = new ReloadLoopGuard();
  /** Files found looping (see {@link ReloaderOptions.guardLoops}), with what they were as the last load that wrote them ended. */
  #looping = new Map<string, string | undefined>();

  constructor(loader: AppLoader, options: ReloaderOptions) {
    this.#loader = loader;
    this.#options = options;
  }

  /** The id of the current app version: changes after every successful load. */
  get id(): string {
    return `${this.#instance}-${this.#generation}`;
  }

  /** Successful reloads so far (the initial load not counted). */
  get reloads(): number {
    return this.#reloads;
  }

  /**
   * What each file of the app was when loaded: its fingerprint (see
   * `fingerprint.ts`), taken as Bun read it where the versioning plugin saw
   * the read (see `AppLoader.loadedFingerprint`), else just before the load
   * for a file known then, else just after. A file whose fingerprint differs
   * now changed since the app read it.
   */
  get loaded(): ReadonlyMap<string, string> {
    return this.#fingerprints;
  }

  /**
   * The app's files that changed since they were loaded (see {@link loaded}),
   * deleted ones included. For whoever starts watching after a load: a save
   * before the watcher took a file on is seen here, one after by the watcher.
   */
  changedSinceLoad(): string[] {
    return [...this.#fingerprints].filter(([f, fp]) => this.#watches(f) && fingerprint(f) !== fp).map(([f]) => f);
  }

  #watches(file: string): boolean {
    return this.#options.watches?.(file) ?? true;
  }

  /** The current state: the app, or why it failed to load; `null` before the first load. */
  get state(): Readonly<State> | null {
    return this.#state;
  }

  /**
   * The first load. Unlike a reload, it reports failures to the caller
   * instead of logging them, so the CLI can decide whether they are fatal.
   */
  async start(): Promise<State> {
    // Its `late` files are the caller's, who starts watching after this: see changedSinceLoad.
    const result = await this.#load();
    if (result.ok) {
      this.#generation++;
      this.#options.heapGrowth?.start();
    }
    return this.#state!;
  }

  /**
   * The `paths` that are not of a kind a reload cannot apply (`isKind`: a
   * resolver config, a symbolic link an import goes through). Each of those
   * whose print (`print`, kept in `prints`) changed gets one warning: it
   * `changed` (or `was created`, from a print of `"missing"`, or `was deleted`, to one) and `why`
   * (which starts with its punctuation), and that --reload=restart restarts by itself.
   * A print of `null` (a `package.json` that does not parse, mid-save) is no change: the next is compared with the last.
   * Those `reloads` (a `package.json` the app imports) are warned about and kept: the module reloads.
   */
  #warnRestart(paths: string[], isKind: (path: string) => boolean, print: (path: string) => string | null, prints: Map<string, string>, why: string, reloads: (path: string) => boolean = () => false): string[] {
    if (!paths.some(isKind)) return paths;
    for (const p of paths.filter(isKind)) {
      const now = print(p);
      if (now === null || prints.get(p) === now) continue;
      // One that was not there (a package.json made by npm init after the start, a first tsconfig.json) was created;
      // one that is not there now was deleted.
      const what = prints.get(p) === "missing" ? "was created" : now === "missing" ? "was deleted" : "changed";
      prints.set(p, now);
      const say = this.#options.logger.warn ?? this.#options.logger.info;
      say.call(this.#options.logger, `${display(p)} ${what}${why} (--reload=restart restarts by itself)`);
    }
    return paths.filter((p) => !isKind(p) || reloads(p));
  }

  /**
   * Reload because `paths` changed. Serialised: a reload requested while one
   * runs is queued (and merged with further requests) to run after it.
   * Paths whose content is what the current version was loaded from are
   * dropped (a late event from a save already loaded, a `chmod`, a save that
   * changed nothing); when none is left the reload is skipped. While the
   * app is failing to load, every event retries. A changed `tsconfig.json`
   * is not reloaded (Bun's resolver reads it once per process): it gets a
   * warning that says to restart, once per change. So does a changed
   * symbolic link an import goes through (Bun keeps what it resolved to),
   * and a `package.json` of the app whose resolver fields (`imports`,
   * `type`, `exports`...) changed; one with other changes is dropped (one
   * the app imports, for its version, is reloaded either way).
   */
  reload(paths: string[]): Promise<ReloadOutcome> {
    // Files whose change takes a new process to apply: a warning to restart (once per change), no reload.
    paths = this.#warnRestart(paths, isResolverConfig, fingerprint, this.#fingerprints, ": Bun reads it once per process, so its changes (paths, baseUrl, jsx, decorators) apply after you restart tsgi-dev");
    paths = this.#warnRestart(paths, isPackageManifest, manifestPrint, this.#manifests, ": Bun reads it once per process, so its changes (imports, type, exports) apply after you restart tsgi-dev", isImportedManifest);
    paths = this.#warnRestart(paths, isImportLink, linkPrint, this.#links, ", a symbolic link an import goes through: Bun resolves each import once per process, so the app keeps the file it pointed to until you restart tsgi-dev");
    if (paths.length === 0) return Promise.resolve("skipped");
    if (this.#loading) {
      if (this.#queued) {
        for (const p of paths) this.#queued.paths.add(p);
        return this.#queued.promise;
      }
      const queued = { paths: new Set(paths), promise: Promise.resolve<ReloadOutcome>("skipped") };
      queued.promise = this.#loading.then(() => {
        this.#queued = null;
        return this.reload([...queued.paths]);
      });
      this.#queued = queued;
      return queued.promise;
    }
    // While the app is broken any event retries (a `touch`, or a fix the
    // fingerprints cannot see, such as a package installed meanwhile).
    const failed = this.#state !== null && !this.#state.ok;
    let changed = failed ? paths : paths.filter((p) => this.#fingerprints.get(p) !== fingerprint(p));
    if (changed.length === 0) {
      this.#options.logger.debug?.(`no content change in ${paths.map(display).join(", ")}; not reloading`);
      return Promise.resolve("skipped");
    }
    if (this.#options.guardLoops) {
      // A file found looping: what a load wrote to it reloads nothing; anything else is a save, which reloads as before.
      if (this.#looping.size > 0) {
        const own = changed.filter((p) => this.#looping.has(p) && this.#looping.get(p) === fingerprint(p));
        for (const p of changed) {
          if (!this.#looping.has(p) || own.includes(p)) continue;
          this.#looping.delete(p);
          this.#options.logger.info(`${display(p)} changed between loads (a save, not the app's own write): reloading for it again`);
        }
        changed = changed.filter((p) => !own.includes(p));
        if (changed.length === 0) {
          this.#options.logger.debug?.(`${summarize(own)}: written by the app as it loaded; not reloading`);
          return Promise.resolve("skipped");
        }
      }
      // A file each of the last loads changed while it ran: held until it stays quiet, then one more load decides.
      const { reload, hold } = this.#loop.check(changed);
      if (hold.length) {
        this.#options.logger.debug?.(`${summarize(hold)}: changed while each of the last loads ran; reloading once it stays unchanged for ${this.#loop.quietMs} ms`);
        this.#holdLoop();
        changed = reload;
        if (changed.length === 0) return Promise.resolve("skipped");
      }
    }
    const run = this.#reload(changed).catch((error: unknown) => {
      this.#options.logger.error(`reload failed: ${error instanceof Error ? error.message : String(error)}`);
      return "failed" as const;
    });
    this.#loading = run;
    void run.finally(() => {
      if (this.#loading === run) this.#loading = null;
      this.#scheduleSettle();
    });
    return run;
  }

  #loopTimer: ReturnType<typeof setTimeout> | undefined;
  /** Files the last load found looping (see ReloadLoopGuard.loaded), to warn about. */
  #loopFound: string[] = [];

  /**
   * Files the loop guard holds back (see reload-loop.ts) are reloaded for
   * once they have stayed unchanged for its quiet time (a hold again, for
   * another event of the app's write, starts it over) and no load runs.
   */
  #holdLoop(): void {
    clearTimeout(this.#loopTimer);
    this.#loopTimer = setTimeout(() => {
      if (this.#closed) return;
      if (this.#loading) return this.#holdLoop();
      const files = this.#loop.release();
      if (files.length) void this.reload(files);
    }, this.#loop.quietMs);
    this.#loopTimer.unref?.();
  }

  /** The warning for files the last load found looping, once. */
  #warnLoop(): void {
    const files = this.#loopFound;
    this.#loopFound = [];
    if (files.length) (this.#options.logger.warn ?? this.#options.logger.info).call(this.#options.logger, loopWarning(files, "reload"));
  }

  #settleTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * chokidar drops a change event that comes within 50 ms of the previous
   * one for the same file; so shortly after each reload, compare the loaded
   * files with the disk once more and reload again if one changed unseen.
   * A save may be under way then (delete then create, truncate then write,
   * a branch checkout): only files that exist and stay the same for
   * {@link SETTLE_STEADY_MS} are reloaded; the rest is left to the watcher's
   * own (debounced) events.
   */
  #scheduleSettle(): void {
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => {
      if (this.#loading || this.#closed) return;
      const seen = new Map<string, string>();
      for (const [f, fp] of this.#fingerprints) {
        if (!this.#watches(f)) continue;
        const now = fingerprint(f);
        if (now !== fp && now !== "missing") seen.set(f, now);
      }
      if (seen.size === 0) return;
      this.#settleTimer = setTimeout(() => {
        if (this.#loading || this.#closed) return;
        const steady = [...seen].filter(([f, fp]) => fingerprint(f) === fp).map(([f]) => f);
        if (steady.length) void this.reload(steady);
      }, SETTLE_STEADY_MS);
      this.#settleTimer.unref?.();
    }, 150);
    this.#settleTimer.unref?.();
  }

  #closed = false;
  #discoverTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * A request may import a module lazily (a computed `import()` in a
   * handler), which no scan of the source finds: shortly after requests,
   * look for such modules in the module cache and watch them from then on
   * (at most once per {@link DISCOVER_DELAY_MS}). A module of the graph
   * that a request imported lazily (a literal `import()`, which the scan
   * finds but the load does not run) is recorded as the load's scan read
   * it; if the request's import read other bytes (a save after the scan),
   * those are what serves: recorded now, so that a save back to the
   * scanned text (an undo before the watcher reported the save) reloads.
   */
  #scheduleDiscover(): void {
    if (this.#discoverTimer !== undefined || this.#closed) return;
    this.#discoverTimer = setTimeout(() => {
      this.#discoverTimer = undefined;
      if (this.#loading || this.#closed) return;
      const added = this.#loader.discover();
      // Known files whose import by a request read something else than what was recorded (a map lookup each).
      // After a failed load what was recorded is newer than anything the app before it read (a file that
      // load found missing was no "later save" of the old app's copy): only that load's own reads count.
      const reread: string[] = [];
      const lazily = !this.#loader.lastLoadFailed;
      for (const [f, recorded] of this.#fingerprints) {
        const read = this.#loader.loadedFingerprint(f, lazily);
        if (read !== undefined && read !== recorded) {
          this.#fingerprints.set(f, read);
          reread.push(f);
        }
      }
      if (added.length === 0 && reread.length === 0) return;
      // What the request's import read (a save since then is a change), else what the file is now.
      for (const f of added) this.#fingerprints.set(f, this.#loader.loadedFingerprint(f, true) ?? fingerprint(f));
      if (added.length) this.#options.onGraph?.(this.#loader.files, this.#fingerprints);
      // The watcher sees a save from when it took the file on (onGraph); one since the read is seen here.
      const changed = [...added, ...reread].filter((f) => this.#watches(f) && fingerprint(f) !== this.#fingerprints.get(f));
      if (added.length) this.#options.logger.debug?.(`watching ${added.map(display).join(", ")} (imported by a request)`);
      if (reread.length) this.#options.logger.debug?.(`${summarize(reread)}: a request imported a later save than the load read`);
      if (changed.length && this.#options.reloadsItself !== false) void this.reload(changed);
    }, DISCOVER_DELAY_MS);
    this.#discoverTimer.unref?.();
  }

  /**
   * Stop the pending settle check and the looks for lazily imported modules
   * (on shutdown). The loader's import versioning stays on: the requests
   * still running, which a stop or a handover lets finish, import lazily
   * from the app they run on: `dispose("stop")` ends it, once they are done.
   */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#settleTimer);
    clearTimeout(this.#discoverTimer);
    clearTimeout(this.#loopTimer);
  }

  /**
   * Run the app's `import.meta.hot.dispose()` callbacks (see
   * `AppLoader.dispose`): before each reload in place, and when the
   * process stops (after the server closed). A callback that throws or
   * rejects is reported with its code frame, one still running after
   * `DISPOSE_TIMEOUT_MS` (5 s) is named; neither stops the reload or the stop.
   * On `"stop"` (the requests are done, see {@link close}) the loader's
   * import versioning ends too, once the callbacks ran: from then on an
   * import of a user file resolves as Bun resolves it.
   * @param when what goes on afterwards, for the messages.
   */
  async dispose(when: "reload" | "stop" = "stop"): Promise<void> {
    const problems = await this.#loader.dispose();
    if (when === "stop") this.#loader.close();
    const log = this.#options.logger;
    const goOn = when === "reload" ? "reloading" : "stopping";
    for (const p of problems) {
      const of = `an import.meta.hot.dispose() callback of ${display(p.file)}`;
      if (p.timedOut) {
        (log.warn ?? log.info).call(log, `${of} did not finish within ${DISPOSE_TIMEOUT_MS / 1000} s; ${goOn} without waiting for it`);
        continue;
      }
      let report: string;
      try {
        report = formatDiagnosis(diagnose(p.error, { graph: this.#loader.files, internal: this.#options.internal ?? isTsgiSource }));
      } catch {
        report = messageOf(p.error);
      }
      log.error(`${of} threw; ${goOn} anyway:\n${report}`);
    }
  }

  /**
   * Before the serving version's dispose callbacks run, wait for its
   * requests still running to finish, for up to {@link DRAIN_TIMEOUT_MS}
   * (a stream or a long poll would hold every reload for ever): then say how
   * many still run, and go on. Only when a callback is registered: without
   * one, nothing is taken from those requests. Requests arriving meanwhile
   * wait for the reload, as for a load.
   */
  async #drain(): Promise<void> {
    const state = this.#state;
    if (!state?.ok || state.requests.count === 0 || !this.#loader.disposePending) return;
    const log = this.#options.logger;
    log.debug?.(`waiting for ${plural(state.requests.count, "request")} of the old version before its import.meta.hot.dispose() callbacks`);
    const left = await state.requests.idle(DRAIN_TIMEOUT_MS);
    if (left === 0) return;
    (log.warn ?? log.info).call(
      log,
      `${plural(left, "request")} of the old version still running after ${DRAIN_TIMEOUT_MS / 1000} s (a stream or a long poll?); ` +
        `running its import.meta.hot.dispose() callbacks anyway, which may cut ${left === 1 ? "it" : "them"} short`,
    );
  }

  async #reload(changed: string[]): Promise<ReloadOutcome> {
    const started = performance.now();
    // Its requests still running finish first (bounded), on what the callbacks would close.
    await this.#drain();
    // The old version lets go of what it set up (a timer, a server's port) before the new one sets it up again.
    await this.dispose("reload");
    const envChanged = this.#options.dotenv?.reload() ?? [];
    if (envChanged.length) this.#options.logger.debug?.(`.env changed: ${envChanged.join(", ")}`);
    let result = await this.#load(changed);
    // Files that changed while the load ran (a branch checkout under way: a module deleted and written again a few
    // ms later) may have failed it with a state of the tree no one made: once they are back and steady, load
    // once more before saying so. Requests meanwhile wait for the load, as for any. A file deleted for good
    // before the load started is no change under it: that failure is said at once.
    const moved = result.ok ? [] : changedUnder(result.before);
    if (moved.length && !this.#closed) {
      this.#options.logger.debug?.(`the load failed and ${summarize(moved)} changed while it loaded; loading again once they settle`);
      await settle(result.before, SETTLE_STEADY_MS, UNDER_LOAD_WAIT_MS);
      const first = result.late;
      result = await this.#load([...new Set([...changed, ...moved])]);
      result.late = [...new Set([...first, ...result.late])];
    }
    // Saved after the load read it, before the watcher took it on: queued to run after this reload.
    if (result.late.length && this.#options.reloadsItself !== false) void this.reload(result.late);
    const ms = Math.round(performance.now() - started);
    const what = summarize(changed);
    if (result.ok) {
      this.#generation++;
      this.#reloads++;
      const log = this.#options.logger;
      if (log.success) log.success(`reloaded in ${ms} ms: ${what}`);
      else log.info(`reloaded in ${ms} ms: ${what}`);
      this.#options.onReloaded?.({ id: this.id, ms, changed });
      this.#warnLoop();
      const growth = this.#options.heapGrowth;
      if (growth) {
        // The baseline is the first good load's: after a failed start, this one.
        if (!growth.started) growth.start();
        const warning = growth.check(this.#reloads);
        if (warning) (log.warn ?? log.info).call(log, warning);
      }
      return "reloaded";
    }
    const s = this.#state as Extract<State, { ok: false }>;
    this.#options.logger.error(`reload failed after ${ms} ms (${what}):\n${formatFailure(s.failure, s.diagnosis)}`);
    this.#options.onFailed?.({ failure: s.failure, diagnosis: s.diagnosis, changed });
    this.#warnLoop();
    return "failed";
  }

  /**
   * Load the app; `late` lists the files new to the graph that changed
   * after the load read them, before the watcher took them on (onGraph).
   */
  async #load(changed: string[] = []): Promise<{ ok: boolean; late: string[]; before: ReadonlyMap<string, string> }> {
    // `since` is compared with files' mtimes (wall clock); the load's duration is measured on the monotonic clock.
    const since = Date.now();
    const started = performance.now();
    const before = this.#fingerprints;
    const result = await this.#loader.load(changed);
    // What each file was before the app ran (see AppLoader.load), so a save during the load is seen as a change...
    const fp = new Map(result.before);
    const loadMs = performance.now() - started;
    // ... or better, as the load read it (a file new to the graph is watched only from onGraph on).
    for (const f of result.files) {
      const read = this.#loader.loadedFingerprint(f);
      if (read !== undefined) fp.set(f, read);
      else if (!fp.has(f)) fp.set(f, fingerprint(f));
    }
    this.#fingerprints = fp;
    // Files written while the app loaded (by the app at import, most likely): see reload-loop.ts.
    if (this.#options.guardLoops) {
      const written = writtenDuringLoad(result.files, (f) => fp.get(f), since);
      const looping = this.#loop.loaded(written, loadMs);
      // Warned about after the reload's own line (see #reload).
      this.#loopFound = looping;
      for (const f of written) if (this.#looping.has(f) || looping.includes(f)) this.#looping.set(f, fingerprint(f));
    }
    for (const f of result.files) if (isImportLink(f) && !this.#links.has(f)) this.#links.set(f, linkPrint(f));
    for (const f of result.files) if (isPackageManifest(f) && !this.#manifests.has(f)) this.#manifests.set(f, manifestPrint(f) ?? "unparsable");
    this.#options.onGraph?.(result.files, fp);
    const late = result.files.filter((f) => !before.has(f) && this.#watches(f) && fingerprint(f) !== fp.get(f));
    if (result.ok) {
      this.#state = { ok: true, app: result.app, kind: result.kind, warning: result.warning, requests: new InFlight() };
    } else {
      const diagnosis =
        result.failure.kind === "import"
          ? diagnose(result.failure.error, { graph: result.files, internal: this.#options.internal ?? isTsgiSource })
          : { title: "Error", message: result.failure.message, stack: [], raw: result.failure.message };
      // Most likely the app's own server, started at import by an earlier generation, which a reload in place does not stop.
      if (this.#generation > 0 && ADDRESS_IN_USE.test(diagnosis.message)) diagnosis.message += ` ${PORT_HELD_HINT}`;
      // A package not installed: Bun keeps not finding it in this process, also after the install. (Not a `paths`
      // alias, which Bun reports the same way: its hint is already there.)
      const missing = diagnosis.title === "ModuleNotFound" && diagnosis.hint === undefined ? missingPackageHint(diagnosis.message, this.#options.reloadsItself ?? true) : undefined;
      if (missing !== undefined) diagnosis.hint = missing;
      this.#state = { ok: false, failure: result.failure, diagnosis };
    }
    return { ok: result.ok, late, before: result.before };
  }

  /**
   * The app to install in the server, once: waits for a reload in progress,
   * then calls the current app, or answers with the load-error page.
   */
  readonly app: Application = async (environ, startResponse) => {
    // Also for a reload queued behind this one (a save while it ran): it starts as this one ends and
    // disposes the version this one loaded, so a request let through between them would run on that.
    const deadline = this.#loading ? performance.now() + (this.#options.waitMs ?? 10_000) : 0;
    for (let loading = this.#loading; loading !== null && performance.now() < deadline; loading = this.#loading) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([loading, new Promise((r) => (timer = setTimeout(r, deadline - performance.now())))]);
      clearTimeout(timer);
    }
    const state = this.#state;
    if (state?.ok) {
      this.#scheduleDiscover();
      // Counted until its body is done: a reload lets it finish before the dispose callbacks run.
      return state.requests.run(() => state.app(environ, startResponse));
    }
    const page = renderErrorPage({
      kind: "load",
      diagnosis: state?.diagnosis ?? { title: "Error", message: "the app is not loaded yet", stack: [], raw: "" },
      debug: this.#options.debug ?? true,
      environ: undefined,
      accept: typeof environ.HTTP_ACCEPT === "string" ? environ.HTTP_ACCEPT : undefined,
    });
    startResponse(page.status, page.headers);
    return [page.body];
  };
}


/** `"1 request"`, `"3 requests"`. */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** A path relative to the working directory when inside it. */
export function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

/** `"src/a.ts, src/b.ts and 3 more"`: the first three paths, relative to the working directory. */
export function summarize(paths: string[]): string {
  const shown = paths.slice(0, 3).map(display);
  return paths.length > 3 ? `${shown.join(", ")} and ${paths.length - 3} more` : shown.join(", ");
}

/** The terminal text for a failed load. */
export function formatFailure(failure: LoadFailure, diagnosis: Diagnosis): string {
  return failure.kind === "import" ? formatDiagnosis(diagnosis) : escapeControls(failure.message);
}
