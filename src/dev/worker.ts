/**
 * The app process of restart mode: serve the app on the supervisor's port
 * (with `reusePort`), report `ready` over IPC (with why the app failed to
 * load, if it did), and shut down gracefully when told (or when the
 * supervisor goes away, or on SIGINT/SIGTERM).
 * @module
 */
import { StartupError } from "../deploy/errors.ts";
import { BindError } from "../server/bind.ts";
import { startDevServer } from "./dev-server.ts";
import { createDevLogger, LogHold } from "./log.ts";
import { formatFailure } from "./reloader.ts";
import { INHERITED_FD, type SupervisorMessage, type WorkerMessage, type WorkerSpec } from "./supervisor.ts";

/** Longest the first app process holds its request log lines back for the supervisor's banner, ms. */
const LOG_HOLD_MAX_MS = 30_000;

/**
 * Run as a worker described by `spec`.
 * @returns the exit code (0 after a graceful shutdown, 1 on a fatal startup error).
 */
export async function runWorker(spec: WorkerSpec): Promise<number> {
  // The supervisor went away (killed) while the app was still loading: nobody will ever stop this process.
  const orphaned = () => process.exit(1);
  process.once("disconnect", orphaned);
  // The first app process's request log lines wait for the supervisor's startup banner (heldLogs()):
  // released when it says it printed it, when it stops this process or goes away, or after READY_TIMEOUT_MS at most.
  let hold: LogHold | undefined;
  if (spec.role === "first-worker" && process.connected) {
    const announced = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, LOG_HOLD_MAX_MS);
      timer.unref?.();
      const done = () => {
        clearTimeout(timer);
        process.off("message", done);
        resolve();
      };
      process.on("message", done);
      process.once("disconnect", done);
    });
    hold = new LogHold(announced);
  }
  // Its terminal lines too, once the server listens (a request's traceback): in order with its request lines.
  const logger = createDevLogger(spec.config.logLevel, hold ? { stdout: hold.gate(process.stdout), stderr: hold.gate(process.stderr) } : {});
  let dev;
  try {
    // A module a request imports lazily joins the files to watch: the supervisor watches.
    const onGraph = (files: string[], loaded: ReadonlyMap<string, string>) =>
      process.send?.({ type: "graph", files, prints: Object.fromEntries(loaded) } satisfies WorkerMessage);
    dev = await startDevServer(spec.config, logger, spec.role, { ...(spec.inheritFd ? { fd: INHERITED_FD } : {}), onGraph, ...(hold ? { holdLogs: hold } : {}) });
  } catch (error) {
    logger.error(error instanceof StartupError || error instanceof BindError ? error.message : String(error));
    return 1;
  }
  const state = dev.reloader.state;
  const ready: WorkerMessage = {
    type: "ready",
    port: dev.server.port,
    url: dev.url,
    files: dev.files,
    prints: Object.fromEntries(dev.reloader.loaded),
    loaded: state?.ok ?? false,
    ...(state && !state.ok ? { failure: formatFailure(state.failure, state.diagnosis) } : {}),
  };
  process.send?.(ready);
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (handover: boolean) => {
      if (stopping) return;
      stopping = true;
      await (handover ? dev.handover(() => process.send?.({ type: "handed-over" } satisfies WorkerMessage)) : dev.close());
      resolve(0);
    };
    // `shutdown` with `handover`: a new process listens on the port now; hand the open connections over to it.
    process.on("message", (m: SupervisorMessage) => {
      if (m?.type === "shutdown") void stop(m.handover);
    });
    process.off("disconnect", orphaned);
    process.once("disconnect", () => void stop(false));
    // Ctrl-C reaches the whole process group. The first one stops gracefully;
    // a later one is the supervisor's to act on (it kills this process and
    // exits 130): dying of it here could let the supervisor see a finished
    // stop and exit 0 before it sees the second signal. Without a supervisor,
    // a second signal exits at once.
    const onSignal = () => {
      if (stopping && !process.connected) process.exit(130);
      void stop(false);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    if (!process.connected) void stop(false);
  });
}
