/**
 * The dev server's settings, as the CLI resolves them from flags and the
 * environment.
 * @module
 */
import type { AppSpec } from "../deploy/load-app.ts";
import type { AllowedHosts } from "./allowed-hosts.ts";
import type { LogLevel } from "./log.ts";

/** Resolved settings of one `tsgi-dev` run. */
export interface DevConfig {
  /** The app to serve. */
  app: AppSpec;
  /** Interface to bind. Default `127.0.0.1`. */
  host: string;
  /** Port to bind. Default 8000 (or `PORT`). */
  port: number;
  /** The port was asked for (`--port` or `PORT`): never move to another one. */
  portExplicit: boolean;
  /** The port came from `PORT` (the environment or a `.env` file), not `--port`: bind errors say so. Default false. */
  portFromEnv?: boolean;
  /** `PORT` is set too, and `--port` won over it: a busy `--port`'s message says to unset it as well for the next free port. Default false. */
  portEnvOverridden?: boolean;
  /** The dotenv file `PORT` came from (`.env`, `.env.local`...), when one did: bind errors point at it, not at the shell. */
  portEnvFile?: string;
  /** Terminal verbosity. Default `info`. */
  logLevel: LogLevel;
  /** Print an access-log line per request. Default true. */
  accessLog: boolean;
  /** `false` (`--no-reload`), reload in place (default), or restart the process. */
  reload: false | "inplace" | "restart";
  /** Extra files, directories or globs to watch (`--watch`), relative to `cwd`. */
  watch: string[];
  /** Globs never to watch (`--ignore`), relative to `cwd`. */
  ignore: string[];
  /** Poll the file system instead of native events. */
  poll: boolean;
  /** Inject the live-reload script into HTML pages. Default true. */
  live: boolean;
  /** Error pages with code, stack and environ. Default true. */
  debug: boolean;
  /** `Host` names answered besides localhost, IP literals and the bound host (`--allowed-hosts`); `true`: any. Default `[]`. */
  allowedHosts: AllowedHosts;
  /**
   * The listen backlog, in connections (`--backlog`, as `tsgi serve`'s:
   * `ServerOptions.backlog`). Default: Bun's, 512.
   */
  backlog?: number;
  /** The working directory (dotenv files, relative paths). */
  cwd: string;
  /** Graceful-shutdown budget for in-flight requests on exit, ms. Default 5000. */
  shutdownTimeout: number;
}
