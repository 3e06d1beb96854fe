/**
 * The user errors of tsgi's commands (`tsgi serve`, `tsgi-dev`): each is
 * printed as one line, without a stack, and ends the command.
 *
 * - {@link UsageError}: the command line or an option is wrong (exit 2);
 * - {@link StartupError}: the command could not start, e.g. the app does not
 *   load or the TLS files cannot be read (exit 1).
 *
 * A socket that cannot be bound is the server's `BindError`
 * (`src/server/bind.ts`), which the commands report the same way (exit 1).
 * @module
 */
import { bindErrorMessage, bindTarget } from "../server/bind.ts";

/** A bad command line or option value: one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure to start: one line, exit code 1. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/**
 * A one-line bind failure of `tsgi serve` (the supervisor's or a worker's):
 * server/bind.ts's message, the address and the reason, and what to do for a
 * busy address (stop the other process, or pick another `--port` or `--uds`),
 * a TCP port below 1024 this user may not bind (a port of 1024 or more,
 * or `CAP_NET_BIND_SERVICE`), or a `--host` address this machine does not
 * have (`EADDRNOTAVAIL`: one of its own, 127.0.0.1 or 0.0.0.0). When the port came from `PORT` (the
 * environment, or a `.env` file, which Bun loads into it unasked), the
 * message says so, and that `--port` or `PORT` changes it: `cannot listen on
 * 127.0.0.1:8000: ... (EADDRINUSE); port 8000 came from PORT (set in the
 * environment or a .env file): stop the process using it, or pick another
 * port with --port (which wins over PORT) or PORT`. When the file `PORT` came
 * from is known (`portFile`), it is named, and the advice is to change `PORT`
 * there (unset in the shell, Bun would load it again at the next start):
 * `... came from PORT (set in .env.local): ... or change PORT in .env.local`.
 * @param server where it was to listen (the resolved server options).
 * @param portSource where `server.port` came from (`ResolvedDeploy.portSource`); default `--port`.
 * @param portFile the dotenv file `PORT` came from (`ResolvedDeploy.portFile`), if one did.
 */
export function listenMessage(
  error: unknown,
  server: { hostname?: string; port?: number; unix?: string; fd?: number },
  portSource: "--port" | "PORT" | "default" | null = "--port",
  portFile?: string,
): string {
  const e = error as Error & { code?: string };
  let message = bindErrorMessage(error, bindTarget(server));
  const tcp = server.unix === undefined && server.fd === undefined;
  const fromEnv = tcp && portSource === "PORT" ? `; port ${server.port} came from PORT (set in ${portFile ?? "the environment or a .env file"})` : "";
  // Where PORT is changed: in its dotenv file, when it came from one.
  const changePort = portFile !== undefined ? `change PORT in ${portFile}` : "PORT";
  if (e.code === "EADDRINUSE" && server.fd === undefined) {
    if (server.unix !== undefined) message += "; stop the server using it, or pick another --uds path";
    else if (fromEnv) message += `${fromEnv}: stop the process using it, or pick another port with --port (which wins over PORT) or ${changePort}`;
    else message += "; stop the process using it, or pick another --port";
  } else if (e.code === "EACCES" && tcp && (server.port ?? 8000) < 1024) {
    message += fromEnv
      ? `${fromEnv}: serve on a port of 1024 or above with --port (which wins over PORT) or ${changePort} (behind nginx, say), or let this user bind it (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE)`
      : "; serve on --port 1024 or above (behind nginx, say), or let this user bind it (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE)";
  } else if (e.code === "EADDRNOTAVAIL" && tcp) {
    // An address of another machine, or one this machine had (a DHCP lease gone, an interface not up yet at boot).
    message += "; give an address of one of this machine's interfaces (ip -brief address lists them), 127.0.0.1 to serve this machine only, or 0.0.0.0 (:: for IPv6 too) to serve on all (a unit started at boot: After=network-online.target)";
  }
  return message;
}
