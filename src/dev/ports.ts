/**
 * Binding the dev server: the next free port when the default one is busy,
 * one-line errors when an explicit port cannot be bound, and the LAN URLs
 * for `--host 0.0.0.0`.
 * @module
 */
import { networkInterfaces } from "node:os";
import { BindError, bindErrorCode } from "../server/bind.ts";

/** Options of {@link listenWithFallback}. */
export interface ListenPlan {
  hostname: string;
  port: number;
  /** The port came from `--port` or `PORT`: never move to another one. */
  explicit: boolean;
  /**
   * The port came from `PORT` (the environment, or a `.env` file Bun loaded
   * into it): a bind failure's message says so, as tsgi serve's does
   * (`listenMessage` in deploy/errors.ts). Default false.
   */
  fromEnv?: boolean;
  /**
   * `PORT` is set too, and `--port` won over it: leaving `--port` out would
   * bind `PORT`'s port, so a busy `--port`'s message says to unset it as
   * well for the next free port. Default false.
   */
  envOverridden?: boolean;
  /**
   * The dotenv file `PORT` came from (`.env`, `.env.local`...), when it did
   * (see `dotenvSource`): the messages name it, and say to change or remove
   * `PORT` there, where unsetting it in the shell would do nothing.
   */
  envFile?: string;
  /** How many following ports to try when not explicit. Default 20. */
  tries?: number;
  /** Told when the port moved: `(busy, chosen)`. */
  onFallback?: (busy: number, chosen: number) => void;
}

/**
 * Call `listen(port)` (which binds and returns, or throws) with the planned
 * port; when it is busy and not explicit, with the next ports in turn.
 *
 * @returns what `listen` returned.
 * @throws BindError with a one-line message saying what to do.
 */
export function listenWithFallback<T>(plan: ListenPlan, listen: (port: number) => T): T {
  const tries = plan.explicit || plan.port === 0 ? 1 : (plan.tries ?? 20);
  const where = (port: number) => `${plan.hostname.includes(":") ? `[${plan.hostname}]` : plan.hostname}:${port}`;
  // A user who passed no --port looks for where the port came from: a PORT exported long ago, or one in .env.
  const fromEnv = (port: number) => (plan.explicit && plan.fromEnv ? `; port ${port} came from PORT (set in ${plan.envFile ?? "the environment or a .env file"})` : "");
  // Where leaving PORT out is done: in its dotenv file, when it came from one (unset in the shell, it is read again from there).
  const dropPort = plan.envFile !== undefined ? `remove PORT from ${plan.envFile}` : "unset PORT";
  for (let i = 0; i < tries; i++) {
    const port = plan.port + i;
    if (port > 65535) break;
    try {
      const result = listen(port);
      if (i > 0) plan.onFallback?.(plan.port, port);
      return result;
    } catch (error) {
      const code = bindErrorCode(error);
      if (code === "EADDRINUSE") {
        if (plan.explicit) {
          // Given --port: another --port, not PORT=<n>, which --port would win over.
          const instead = fromEnv(port)
            ? `pick another port with --port <n> (which wins over PORT), or ${plan.envFile !== undefined ? `change PORT in ${plan.envFile} (or remove it there to take the next free port)` : "leave both out to take the next free port"}`
            : `pick another port with --port <n>, or leave --port out${plan.envOverridden ? ` and ${dropPort}` : ""} to take the next free port`;
          throw new BindError(`${where(port)} is already in use${fromEnv(port)}: stop the process using it, or ${instead}`, code);
        }
        continue;
      }
      if (code === "EACCES") {
        throw new BindError(
          `permission denied binding ${where(port)}${fromEnv(port)}: ports below 1024 need privileges; use a port of 1024 or above, e.g. --port 8000${fromEnv(port) ? " (which wins over PORT)" : ""}`,
          code,
        );
      }
      if (code === "EADDRNOTAVAIL") {
        throw new BindError(`cannot bind ${where(port)}: address ${plan.hostname} is not on this machine; use --host 127.0.0.1 or --host 0.0.0.0`, code);
      }
      const msg = (error as { message?: string } | null)?.message ?? String(error);
      // The server's own BindError (a name that does not resolve) already names the address.
      if (error instanceof BindError) throw error;
      throw new BindError(`cannot listen on ${where(port)}: ${msg}`, "OTHER");
    }
  }
  const last = Math.min(65535, plan.port + tries - 1);
  throw new BindError(`ports ${plan.port} to ${last} on ${plan.hostname} are all in use: pick a free one with --port <n>`, "EADDRINUSE");
}

/** `http://<address>:<port>/` for each non-internal IPv4 address of this machine. */
export function lanUrls(port: number): string[] {
  const urls: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === "IPv4" && !a.internal) urls.push(`http://${a.address}:${port}/`);
    }
  }
  return urls;
}

/** Whether `host` means all interfaces. */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}
