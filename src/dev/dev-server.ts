/**
 * One dev server process: load the app, wrap it (live reload, error pages,
 * the reloader's dispatch), bind with the port rules, print the URLs, and
 * (in-place mode) watch and reload. The restart-mode supervisor runs this in
 * each worker process, without the watcher.
 * @module
 */
import type { ConsolaInstance } from "consola";
import { StartupError } from "../deploy/errors.ts";
import { createServer, RequestHandler, type Server } from "../server/index.ts";
import type { Application, Environ } from "../spec.ts";
import type { DevConfig } from "./config.ts";
import { diagnose, formatDiagnosis, type Diagnosis } from "./diagnose.ts";
import { DotenvReloader } from "./dotenv.ts";
import { HeapGrowth } from "./heap-growth.ts";
import { raisedAfterStart, withErrorPages } from "./error-pages-app.ts";
import { forwardTo, HANDOVER_IDLE_GRACE_MS, loopbackFor } from "./handover.ts";
import { withHostCheck } from "./allowed-hosts.ts";
import { withLive, LiveHub } from "./live.ts";
import { AppLoader } from "./loader.ts";
import { heldLogs, type LogHold, serverLogs } from "./log.ts";
import { isWildcard, lanUrls, listenWithFallback } from "./ports.ts";
import { catchStrayErrors } from "../deploy/stray-errors.ts";
import { isTsgiSource } from "./paths.ts";
import { formatFailure, Reloader } from "./reloader.ts";
import { warnUnaskedSignal } from "./signal-ask.ts";
import { watchErrorReporter } from "./watch-errors.ts";
import { DevWatcher } from "./watcher.ts";

/** How this process runs. */
export type DevRole =
  /** The whole dev server in this process (in-place reload or none). */
  | "standalone"
  /** The first app process of restart mode: startup errors are fatal. */
  | "first-worker"
  /** A later app process of restart mode: load errors become the error page. */
  | "next-worker";

/** A running dev server. */
export interface DevServer {
  server: Server;
  reloader: Reloader;
  hub: LiveHub | null;
  watcher: DevWatcher | null;
  /** The URL to open (`127.0.0.1` for a wildcard bind). */
  url: string;
  /** The app's module graph files (the set to watch). */
  readonly files: string[];
  /**
   * Stop watching, end live streams, close the server gracefully within the
   * configured timeout, then run the app's `import.meta.hot.dispose()`
   * callbacks (up to 5 s).
   */
  close(): Promise<void>;
  /**
   * Restart mode, once a new process listens on the port: stop accepting,
   * end live streams, forward what the open connections still bring to the
   * new process (each answered with `Connection: close`, idle connections
   * kept {@link HANDOVER_IDLE_GRACE_MS}), and close when they are done or
   * after the configured shutdown timeout, then run the app's
   * `import.meta.hot.dispose()` callbacks. `onForwarding` is called as soon
   * as the process stops accepting and forwards: its own app answers no new
   * request from then on.
   */
  handover(onForwarding?: () => void): Promise<void>;
}

/**
 * Start the dev server described by `config`.
 *
 * @param options.fd serve this inherited listening socket (restart mode's
 *   workers get the supervisor's socket as fd 3) instead of binding.
 * @param options.onGraph called with the files to watch whenever they
 *   change after the first load, and what each was when loaded
 *   (`Reloader.loaded`): restart mode's workers tell the supervisor, which
 *   watches.
 * @param options.onListening called with the dev server once it listens,
 *   before the returned promise settles (which waits up to
 *   {@link SCAN_WAIT_MS} for the watcher's scan): from then on a stop is
 *   `close()`, which lets the requests in flight finish.
 * @throws StartupError for the startup errors that end `tsgi-dev` with exit
 *   code 1: no such file, no default (or named) export, export not a
 *   function, any load error when reloading is off; BindError (exit 1 too)
 *   for a port that cannot be bound.
 */
export async function startDevServer(
  config: DevConfig,
  logger: ConsolaInstance,
  role: DevRole = "standalone",
  options: { fd?: number; onGraph?: (files: string[], loaded: ReadonlyMap<string, string>) => void; holdLogs?: LogHold; onListening?: (dev: DevServer) => void } = {},
): Promise<DevServer> {
  const inPlace = role === "standalone" && config.reload === "inplace";
  const dotenv = inPlace ? new DotenvReloader(config.cwd) : undefined;
  // In place, the app's process is the dev server's: an exit at import must not end it.
  const loader = new AppLoader(config.app, { trapExit: inPlace });
  let hub: LiveHub | null = null;
  let watcher: DevWatcher | null = null;
  // In place, every save adds a generation to this process: say so if they pile up.
  const heapGrowth = inPlace ? new HeapGrowth() : undefined;
  const reloader = new Reloader(loader, {
    debug: config.debug,
    logger,
    dotenv,
    onGraph: (files, loaded) => {
      watcher?.setGraph(files);
      options.onGraph?.(files, loaded);
    },
    // Restart mode's app processes report; their supervisor restarts. Reloading off: nothing reloads.
    reloadsItself: inPlace,
    // A file --ignore excludes is never reloaded for, also when found changed by comparing with the disk.
    watches: (file) => watcher?.watches(file) ?? false,
    // A file the app keeps writing as it loads: no more reloads for its writes (the reloader warns).
    guardLoops: inPlace,
    onReloaded: ({ id }) => hub?.reload(id),
    heapGrowth,
  });

  const describeError = (error: unknown) => diagnose(error, { graph: loader.files, internal: isTsgiSource });
  // This process runs the app: a rejection it forgot to await, or a throw in a timer, is reported, not fatal.
  const releaseStray = catchStrayErrors((error, kind) => {
    const what = kind === "unhandledRejection" ? "a promise rejected with nothing to catch it (a missing await?)" : "an error was thrown outside any request (a timer or a listener?)";
    let report: string;
    let inApp = false;
    try {
      const d = describeError(error);
      inApp = d.location !== undefined;
      report = formatDiagnosis(d);
    } catch {
      // A value diagnose cannot read (an object without a prototype, a Proxy that throws).
      try {
        report = String(error);
      } catch {
        report = "(a value that cannot be printed)";
      }
    }
    // Without a frame in the app's code (tsgi-dev's own output failing, say), the app is not blamed.
    logger.error(`${inApp ? "the app: " : ""}${what}; tsgi-dev keeps serving:\n${report}`);
  });

  const state = await reloader.start();
  if (!state.ok) {
    const { failure, diagnosis } = state;
    // A broken module is worth waiting for a fix when something watches; a wrong path or export is a usage error.
    const recoverable = role === "next-worker" || (failure.kind === "import" && (inPlace || role === "first-worker"));
    if (!recoverable) {
      throw new StartupError(failure.kind === "import" ? `cannot load ${config.app.raw}: ${oneLine(diagnosis.title, diagnosis.message, diagnosis.location)}` : failure.message);
    }
    // A later app process of restart mode: the supervisor reports it, as a restart that failed.
    if (role !== "next-worker") {
      logger.error(`the app failed to load:\n${formatFailure(failure, diagnosis)}`);
      logger.info("serving the error page until a save fixes it");
    }
  }
  // Said once: a later app process of restart mode loads the same kind of app (the supervisor already said it).
  if (state.ok && state.kind !== "tsgi" && role !== "next-worker") {
    logger.info(`${config.app.raw} exports a fetch handler (${state.kind === "fetch-object" ? "an object with fetch()" : "(request) => Response"}): served through fromFetchHandler`);
    if (state.warning) logger.warn(state.warning);
  }

  if (config.live) hub = new LiveHub(reloader.id);
  const logRaised = (environ: Environ, d: Diagnosis, note = "") =>
    logger.error(`${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO} raised${note}:\n${formatDiagnosis(d)}`);

  // An app not marked WANTS_SIGNAL that reads tsgi.signal is told it will not get it under tsgi serve.
  const signalAsk = warnUnaskedSignal(reloader.app, {
    loaded: () => (reloader.state?.ok ? reloader.state.app : null),
    name: config.app.raw,
    warn: (message) => logger.warn(message),
    internal: isTsgiSource,
  });
  let app: Application = withErrorPages(signalAsk, {
    debug: config.debug,
    diagnose: describeError,
    onError: (d, environ) => logRaised(environ, d),
  });
  /**
   * Errors that got past the error pages (mostly ones raised after the
   * response started, which the server cuts off) are printed like the
   * others, with code frames and without tsgi's own frames, in place of the
   * server's raw stack.
   */
  class DevHandler extends RequestHandler {
    override handleError(error: unknown, environ: Environ): null {
      logRaised(environ, describeError(error), raisedAfterStart(error) ? " after its response started (the response was cut off)" : "");
      return null;
    }
  }
  if (hub) app = withLive(app, hub);
  app = withHostCheck(app, config.host, config.allowedHosts, (message) => logger.warn(message));
  // What the server calls: the app, until a handover swaps in the forwarder.
  let current = app;
  const served: Application = (environ, startResponse) => current(environ, startResponse);

  const serverOptions = {
    hostname: config.host,
    debug: config.debug,
    ...(options.holdLogs ? heldLogs(serverLogs(config.logLevel, config.accessLog), options.holdLogs) : serverLogs(config.logLevel, config.accessLog)),
    shutdownTimeout: config.shutdownTimeout,
    handlerClass: DevHandler,
    // Any app may read tsgi.signal in development (the dev server's wrappers hide fromFetchHandler's mark);
    // one not marked WANTS_SIGNAL is warned at its first read (signal-ask.ts).
    requestSignal: true,
    ...(config.backlog !== undefined ? { backlog: config.backlog } : {}),
  };
  const server =
    options.fd !== undefined
      ? createServer(served, { ...serverOptions, fd: options.fd }).listen()
      : listenWithFallback(
    {
      hostname: config.host,
      port: config.port,
      explicit: config.portExplicit || role === "next-worker",
      fromEnv: config.portFromEnv === true,
      envOverridden: config.portEnvOverridden === true,
      ...(config.portEnvFile !== undefined ? { envFile: config.portEnvFile } : {}),
      onFallback: (busy, chosen) => logger.warn(`port ${busy} is in use; using ${chosen} instead`),
    },
    (port) => createServer(served, { ...serverOptions, port, reusePort: role !== "standalone" }).listen(),
  );

  const url = isWildcard(config.host) ? `http://127.0.0.1:${server.port}/` : server.url;

  if (inPlace) {
    watcher = new DevWatcher({
      cwd: config.cwd,
      // Every dotenv file Bun would read, also one created later (the reload reads it, as a fresh start would).
      watch: [...config.watch, ...dotenv!.files],
      graph: loader.files,
      ignore: config.ignore,
      poll: config.poll,
      // tsgi-dev's own log, when redirected to a file in a watched directory: each line would reload again.
      ownOutput: [1, 2],
      onChange: (paths) => void reloader.reload(paths),
      onError: watchErrorReporter((line) => logger.warn(line)),
    });
    // The watcher's memory (its scan of a large --watch tree) is not the app's: the heap's baseline is taken after it.
    heapGrowth?.after(watcher.ready());
    // The watcher sees saves from now on; one made since the load read a file (a module that writes
    // a file it imports, a formatter still running as tsgi-dev starts) is seen here.
    const late = reloader.changedSinceLoad();
    if (late.length) void reloader.reload(late);
  }
  const dev: DevServer = {
    server,
    reloader,
    hub,
    watcher,
    url,
    get files() {
      return loader.files;
    },
    async close() {
      releaseStray();
      reloader.close();
      await watcher?.close();
      hub?.closeAll();
      await server.close({ timeout: config.shutdownTimeout });
      // The requests are done: the app's import.meta.hot.dispose() callbacks close what it set up (a pool, a port).
      // Only now does it end import versioning: a request still running until here imported lazily from its own
      // app's modules (before, from fresh copies of the files on disk, a second store, the next version's code under
      // --reload=restart).
      await reloader.dispose("stop");
    },
    async handover(onForwarding) {
      reloader.close();
      current = forwardTo(`http://${loopbackFor(config.host)}:${server.port}`);
      hub?.closeAll();
      // close() stops accepting at once; from here on the old app answers nothing new.
      const closing = server.close({ timeout: config.shutdownTimeout, idleGrace: HANDOVER_IDLE_GRACE_MS });
      onForwarding?.();
      await watcher?.close();
      await closing;
      await reloader.dispose("stop");
    },
  };
  // It serves: a stop from now on lets the requests in flight finish, also while the watcher reads the trees.
  options.onListening?.(dev);
  // Ready means serving and watching: a save from now on is seen. Unless the watcher's scan of the
  // --watch trees takes long: then serving is said when it serves, and watching when it watches.
  if (role === "standalone") {
    const since = performance.now();
    const scanned = watcher === null || (await scanWithin(watcher.ready(), SCAN_WAIT_MS));
    printReady(logger, config, server.port, url);
    if (!scanned) sayWhenWatching(logger, watcher!.ready(), since);
  }
  return dev;
}

/**
 * Longest the "serving" line waits for the watcher's initial scan of the `--watch` trees, ms: past it,
 * serving is said (the server answers already) and watching once the scan is done (see {@link sayWhenWatching}).
 * A large tree takes long: `--watch /usr`, 16,000 directories, 33 s, all of it in silence before.
 */
export const SCAN_WAIT_MS = 1000;

/** Whether `ready` (the watcher's `ready()`) settles within `ms`. */
export async function scanWithin(ready: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([ready.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * After a "serving" line said before the watcher's scan was done: say that saves in the trees
 * being read may go unseen until it is, and when it is, with how long it took.
 * @param since when the wait for the scan began (`performance.now()`, ms).
 */
export function sayWhenWatching(logger: ConsolaInstance, ready: Promise<unknown>, since: number): void {
  logger.info("still reading the --watch trees to watch them (a large tree takes a while): a save in them may go unseen until tsgi-dev says they are watched");
  void ready.then(() => logger.info(`watching: the --watch trees are read (${((performance.now() - since) / 1000).toFixed(1)} s); every save is seen from now on`));
}

/** Print where the server is: the local URL, LAN URLs for a wildcard host, the reload mode. */
export function printReady(logger: ConsolaInstance, config: DevConfig, port: number, url: string): void {
  logger.success(`tsgi-dev serving ${config.app.raw} at ${url}`);
  if (isWildcard(config.host)) {
    for (const u of lanUrls(port)) logger.info(`on your network: ${u}`);
    if (config.debug) logger.warn("error pages show your code, stacks and requests to anyone who can reach this port (--no-debug hides them)");
  }
  const mode = config.reload === false ? "reload off" : config.reload === "restart" ? "reload by restarting the process" : "reload in place";
  // With reloading off nothing reloads, so the script reloads a page only when tsgi-dev itself is started again (a new version id).
  const live = !config.live ? "" : config.reload === false ? "; a page in the browser reloads when tsgi-dev is restarted" : ", live reload in the browser";
  logger.info(`${mode}${live}; Ctrl-C to stop`);
}


function oneLine(title: string, message: string, loc?: { file: string; line: number; column: number }): string {
  const first = message.split("\n")[0];
  return `${title}: ${first}${loc ? ` (${loc.file}:${loc.line}:${loc.column})` : ""}`;
}
