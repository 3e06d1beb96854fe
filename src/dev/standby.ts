/**
 * Restart mode while no app process runs (the last one exited on its own,
 * and no save has started a new one yet): the supervisor still holds the
 * listening socket, so connections would queue there unanswered until the
 * client gives up. Instead the supervisor answers them itself with the 503
 * error page (same pages as the rest of tsgi-dev: HTML for browsers, the live
 * reload script, the Host check). When a new app process listens, the
 * standby server hands over to it the way an old app process does
 * (handover.ts): it stops accepting, and what its open connections still
 * bring is forwarded to the port.
 * @module
 */
import type { ConsolaInstance } from "consola";
import { createServer } from "../server/index.ts";
import { dupFd } from "../server/sys.ts";
import type { Application } from "../spec.ts";
import { withHostCheck } from "./allowed-hosts.ts";
import type { DevConfig } from "./config.ts";
import { renderErrorPage } from "./error-page.ts";
import { forwardTo, HANDOVER_IDLE_GRACE_MS, loopbackFor } from "./handover.ts";
import { LiveHub, withLive } from "./live.ts";
import { serverLogs } from "./log.ts";

/** The supervisor's own server on the shared socket. */
export interface Standby {
  /** Say this on the page from now on (e.g. a later restart that failed too). */
  setMessage(message: string): void;
  /**
   * A new app process listens on the port: stop accepting and forward what
   * the open connections still bring to it (idle ones are kept
   * {@link HANDOVER_IDLE_GRACE_MS}); resolves when they are done.
   */
  handover(): Promise<void>;
  /** Stop accepting and close (on shutdown); resolves when the open connections are done. */
  close(): Promise<void>;
}

/**
 * Answer every request on the listening socket `fd` with the 503 page saying
 * `message`, until {@link Standby.handover} or {@link Standby.close}. The
 * server gets its own duplicate of `fd`, closed when it closes; `fd` itself
 * stays open.
 */
export function serveStandby(fd: number, config: DevConfig, logger: ConsolaInstance, message: string): Standby {
  let text = message;
  const page: Application = (environ, startResponse) => {
    const p = renderErrorPage({
      kind: "exited",
      diagnosis: { title: "", message: text, stack: [], raw: text },
      debug: config.debug,
      accept: typeof environ.HTTP_ACCEPT === "string" ? environ.HTTP_ACCEPT : undefined,
    });
    startResponse(p.status, p.headers);
    return [p.body];
  };
  // A page rendered here reloads once a new process serves (its stream ends, the page reconnects and sees another id).
  const hub = config.live ? new LiveHub(`standby-${process.pid.toString(36)}${Date.now().toString(36)}`) : null;
  const app = withHostCheck(hub ? withLive(page, hub) : page, config.host, config.allowedHosts, (message) => logger.warn(message));
  let current = app;
  const server = createServer((environ, startResponse) => current(environ, startResponse), {
    fd: dupFd(fd),
    debug: config.debug,
    ...serverLogs(config.logLevel, config.accessLog),
    shutdownTimeout: config.shutdownTimeout,
    // The forwarder a handover swaps in passes request.signal to its fetch(): the served wrapper hides
    // fromFetchHandler's mark, so asked for here, or a forwarded request runs on after its client left.
    requestSignal: true,
  }).listen();
  let closing: Promise<void> | null = null;
  return {
    setMessage(m) {
      text = m;
    },
    handover() {
      if (closing) return closing;
      current = forwardTo(`http://${loopbackFor(config.host)}:${server.port}`);
      hub?.closeAll();
      return (closing = server.close({ timeout: config.shutdownTimeout, idleGrace: HANDOVER_IDLE_GRACE_MS }));
    },
    close() {
      if (closing) return closing;
      hub?.closeAll();
      return (closing = server.close({ timeout: config.shutdownTimeout }));
    },
  };
}
