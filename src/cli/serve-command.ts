/**
 * `tsgi`: the production command, which the entry file `serve.ts` imports
 * once it has checked the Bun version (src/cli/bun-version.ts).
 *
 * ```
 * tsgi serve ./app.ts[:name] [--host 127.0.0.1] [--port 8000] [--uds PATH [--uds-mode 660]] [--fd N] [--backlog N]
 *            [--certfile F --keyfile F [--ca-certs F] | --https]
 *            [--workers N [--reuse-port] [--max-requests N] [--max-requests-jitter N] [--timeout S]]
 *            [--proxy-headers [--forwarded-allow-ips LIST] [--forwarded-header x-forwarded|forwarded]]
 *            [--root-path /prefix] [--graceful-timeout S] [--peercreds[=resolve]] [--no-access-log]
 *            [--keep-alive S] [--max-connections N] [--header-timeout S] [--socket-timeout S] [--request-timeout S]
 *            [--url-length-limit BYTES] [--max-header-bytes BYTES] [--max-header-count N] [--log-format FMT]
 *            [--max-request-body-size BYTES]
 * ```
 *
 * The app module may default-export a TSGI application, an object with a
 * `fetch` method (Hono, Elysia) or a one-parameter fetch function.
 * @module
 */
import { statSync } from "node:fs";
import { defineCommand, runMain } from "citty";
import { createConsola } from "consola";
import { VERSION } from "../version.ts";
import { createServer } from "../server/server.ts";
import { connectionsOverFileLimit, inetSocketAddress, listenBacklogCap, unixSocketPath } from "../server/sys.ts";
import { DEFAULT_SERVER_OPTIONS } from "../server/options.ts";
import { DEFAULT_LOG_FORMAT } from "../server/log.ts";
import { shellQuote } from "../server/shell.ts";
import { listenMessage, StartupError, UsageError } from "../deploy/errors.ts";
import { loadApp, MODULE_EXTENSIONS, parseAppSpec } from "../deploy/load-app.ts";
import { fdFlag, listenFds, numberFlag, NUMBER_FLAGS, resolveDeployOptions, type DeployOptions, type NumberFlag } from "../deploy/options.ts";
import { resolveTls, servedCertificate, stopOptions, tlsFilesForWorkers, withDeployMiddleware } from "../deploy/setup.ts";
import { guardStdio, stdioFlushed, stdoutLog } from "../deploy/stdio.ts";
import { logStrayErrors } from "../deploy/stray-errors.ts";
import { prefixedLog } from "../deploy/worker-log.ts";
import { exitAtOnceHint, onOperatorSignals, onStopSignals, signalExitCode } from "../deploy/signals.ts";
import { Supervisor } from "../deploy/supervisor.ts";
import { checkArgs, lastSwitch, noNegation, positionalArgs, versionRequested } from "./args.ts";
import { workingDirectoryGone } from "./cwd.ts";
import { helpPrinter } from "./help.ts";
import { helpWordGiven, nearestWord, shellWord, versionWordGiven } from "./words.ts";
import { wantsSignal } from "../gateway/signal.ts";
import { dotenvSource } from "../dev/dotenv.ts";
import { uriHost } from "../http/uri-host.ts";

/**
 * The CLI's messages: always at info level (consola lowers it under test
 * runners and CI otherwise), all on stderr: stdout carries only the access
 * log. On a terminal, consola's badges; otherwise (journald, Docker, a log
 * file) one plain line per message, `[error] ...`, without the blank lines
 * consola puts around a badge, each of which a log collector keeps as an entry.
 */
// `fancy` is createConsola's own option (consola's node entry), which the options type this
// project resolves does not list: passed in a variable, not a literal checked against that type.
const consolaOptions = { level: 3, stdout: process.stderr, fancy: process.stderr.isTTY === true };
const consola = createConsola(consolaOptions);

/** citty argument definitions for the deployment flags of `tsgi serve`. */
export const DEPLOY_ARGS = {
  host: { type: "string", description: "Interface to bind, 0.0.0.0 for all", default: "127.0.0.1", valueHint: "host" },
  port: { type: "string", description: "TCP port (default 8000, or PORT)", valueHint: "port" },
  uds: { type: "string", description: "Listen on a Unix domain socket at this path instead of TCP; @name: a Linux abstract socket (no file, no --uds-mode)", valueHint: "path" },
  "uds-mode": { type: "string", description: "Octal permission bits for the socket file, 000 to 777, e.g. 660 (owner and group may connect; default: the umask's)", valueHint: "mode" },
  fd: { type: "string", description: "Serve an inherited listening socket (systemd socket activation: 3, found by itself from LISTEN_FDS when no place to listen is given)", valueHint: "n" },
  backlog: { type: "string", description: "Listen backlog: connections the kernel queues for accept (Linux; capped at net.core.somaxconn; default 512, 511 on an inherited socket: give --fd's socket its Backlog= here)", valueHint: "n" },
  certfile: { type: "string", description: "TLS certificate chain (PEM)", valueHint: "file" },
  keyfile: { type: "string", description: "TLS private key (PEM)", valueHint: "file" },
  "ca-certs": { type: "string", description: "CA bundle (PEM): require client certificates signed by it", valueHint: "file" },
  https: { type: "boolean", description: "TLS with a cached self-signed certificate for localhost (development; --certfile and --keyfile, when given, are served instead)" },
  workers: { type: "string", description: "Run N worker processes under a supervisor (SIGHUP reloads, SIGTERM drains); at most 32 per CPU core", valueHint: "n" },
  "reuse-port": { type: "boolean", description: "Workers bind the port with SO_REUSEPORT instead of sharing the supervisor's socket" },
  "max-requests": { type: "string", description: "Recycle a worker after N requests (0: never)", valueHint: "n" },
  "max-requests-jitter": { type: "string", description: "Add 0..N to each worker's --max-requests", valueHint: "n" },
  timeout: { type: "string", description: "Kill and replace a worker silent, or not listening after its start, for S seconds (0: never; default 30)", valueHint: "s" },
  "graceful-timeout": { type: "string", description: "Seconds in-flight requests get on stop, reload and recycle (default 30)", valueHint: "s" },
  "proxy-headers": { type: "boolean", description: "Trust X-Forwarded-For/-Proto/-Host (or Forwarded) from --forwarded-allow-ips" },
  "forwarded-allow-ips": { type: "string", description: "Trusted proxies: IPs/CIDRs, comma-separated, or * (default 127.0.0.1,::1 or FORWARDED_ALLOW_IPS)", valueHint: "list" },
  "forwarded-header": { type: "string", description: "x-forwarded (default) or forwarded (RFC 7239)", valueHint: "name" },
  "root-path": { type: "string", description: "The path the app is mounted at (SCRIPT_NAME), e.g. /api", valueHint: "path" },
  peercreds: { type: "boolean", description: "Unix sockets: put the client's pid/uid/gid in environ (X_REMOTE_*); --peercreds=resolve adds names" },
  "keep-alive": { type: "string", description: "Seconds an idle keep-alive connection is kept (default 5; 0: no keep-alive). Behind a proxy that pools connections, set it above the proxy's idle timeout", valueHint: "s" },
  "max-connections": { type: "string", description: "Open client connections per process; one more closes the one idle longest between requests, or, with none idle, is answered 503 (default 10000; lowered to fit the open-file limit)", valueHint: "n" },
  "header-timeout": { type: "string", description: "Seconds a request head has to arrive; a started head gets 408 (default 30, or --socket-timeout)", valueHint: "s" },
  "socket-timeout": { type: "string", description: "Seconds a client may stall sending a body (408) or taking the response; also the head's time unless --header-timeout is given (default 60)", valueHint: "s" },
  "request-timeout": { type: "string", description: "Seconds from request head to response end; past it 503, or the response is cut (0: off; default 0)", valueHint: "s" },
  "url-length-limit": { type: "string", description: "Longest request-target in bytes; longer is 414 (default 8192)", valueHint: "bytes" },
  "max-header-bytes": { type: "string", description: "Largest request header section in bytes; larger is 431 (default 65536)", valueHint: "bytes" },
  "max-header-count": { type: "string", description: "Most request header fields; more is 431 (default 100)", valueHint: "n" },
  "max-request-body-size": { type: "string", description: "Largest request body in bytes; larger is 413 (0: no limit; default 0)", valueHint: "bytes" },
  "log-format": { type: "string", description: `Access log line, eventlet's log_format (default eventlet's: ${DEFAULT_LOG_FORMAT}); fields: %(client_ip)s %(client_port)s %(date_time)s %(request_line)s %(status_code)s %(body_length)s %(wall_seconds).3f`, valueHint: "format" },
} as const;

/** The values a boolean deploy flag may also take as `--flag=value`. */
export const DEPLOY_OPTIONAL_VALUES = { peercreds: ["resolve"] } as const;

/** The examples `tsgi serve --help` ends with (test/cli-help.test.ts checks each against the flags). */
export const SERVE_EXAMPLES = [
  ["tsgi serve ./app.ts", "Serve the default export on http://127.0.0.1:8000/"],
  ["tsgi serve ./app.ts:api --host 0.0.0.0 --port 8080 --workers 4", "A named export on every interface, in 4 worker processes"],
  ["tsgi serve ./app.ts --uds /run/app.sock --proxy-headers", "Behind nginx on a Unix socket, trusting its X-Forwarded-For and X-Forwarded-Proto"],
  ["tsgi serve ./app.ts --certfile cert.pem --keyfile key.pem --port 8443 --workers 2", "HTTPS in 2 workers; SIGHUP (systemctl reload) starts new ones with renewed certificate files"],
] as const;

const TO_LISTEN = "tsgi serve listens on --host and --port (e.g. --host 0.0.0.0 --port 8000), --uds <path> or --fd <n>";
const TO_LOG = "tsgi serve writes its access log to stdout and errors to stderr: redirect them (>>access.log 2>>error.log) or let journald keep them; --no-access-log turns the access log off";
const TO_WORKERS = "tsgi serve runs one kind of worker: --workers N processes, each an event loop";
const TO_CONFIG = "tsgi serve takes its settings as flags or from a systemd unit; there is no config file";
const TO_KEY = "tsgi serve takes no key passphrase: decrypt the key once (openssl pkey -in key.pem -out plain-key.pem) and let only the service's user read it (chmod 600)";
const TO_SYSTEMD = "tsgi serve stays in the foreground and writes no pid file: run it under systemd, which tracks its pid (docs/deploy.md)";

const TO_DEV = "a tsgi-dev flag (the dev server's): in development run tsgi-dev ./app.ts with it; tsgi serve, the production server, watches and reloads nothing";

/**
 * gunicorn's and uvicorn's flags that `tsgi serve` lacks, and tsgi-dev's,
 * with what to use instead (see {@link checkArgs}).
 */
export const SERVE_FOREIGN_FLAGS: Record<string, string> = {
  b: TO_LISTEN,
  bind: TO_LISTEN,
  w: "use --workers <n>",
  // next dev's and bun's spellings of the address.
  H: "use --host <host>",
  hostname: "use --host <host>",
  k: TO_WORKERS,
  "worker-class": TO_WORKERS,
  threads: "each worker is one event loop; use --workers N for more processes",
  c: TO_CONFIG,
  config: TO_CONFIG,
  pid: TO_SYSTEMD,
  daemon: TO_SYSTEMD,
  D: TO_SYSTEMD,
  chdir: "start tsgi serve in that directory (cd <dir> && tsgi serve ./app.ts), or give the app's path",
  "log-level": TO_LOG,
  "access-logfile": TO_LOG,
  "error-logfile": TO_LOG,
  "log-file": TO_LOG,
  "ssl-certfile": "use --certfile <file>",
  "ssl-keyfile": "use --keyfile <file>",
  "ssl-keyfile-password": TO_KEY,
  "keyfile-password": TO_KEY,
  reload: "tsgi-dev ./app.ts reloads on every change; tsgi serve --workers reloads its workers on SIGHUP",
  "no-reload": "tsgi serve reloads nothing by itself (tsgi serve --workers reloads its workers on SIGHUP); tsgi-dev ./app.ts reloads on every change",
  // tsgi-dev's own (before: "unknown option --watch", and --poll "did you mean --port?").
  watch: TO_DEV,
  ignore: TO_DEV,
  poll: TO_DEV,
  "no-poll": TO_DEV,
  live: TO_DEV,
  "no-live": TO_DEV,
  debug: TO_DEV,
  "no-debug": TO_DEV,
  "allowed-hosts": TO_DEV,
  // uvicorn's --env-file: Bun reads the default files itself, and its own --env-file reads another (its workers inherit the values).
  "env-file":
    "Bun reads .env, .env.$NODE_ENV and .env.local in the working directory by itself; for another file, run tsgi under bun --env-file: bun --env-file=prod.env node_modules/.bin/tsgi serve ./app.ts (under systemd, EnvironmentFile=)",
  // tsgi-dev's flags that take a value, in their --no- form (--watch's is TO_DEV too).
  "no-watch": TO_DEV,
  "no-ignore": TO_DEV,
  "no-allowed-hosts": TO_DEV,
  "no-log-level": TO_LOG,
  // The --no- form of a flag that takes a value, where leaving it out is not all there is to say (checkArgs says
  // "leave it out for its default" for the others): the value that turns it off, or what leaving it out does.
  "no-workers": noNegation("workers", DEPLOY_ARGS.workers, "leave it out to serve in one process, with no supervisor"),
  "no-fd": noNegation("fd", DEPLOY_ARGS.fd, "leave it out to listen on --host and --port, or --uds (given one of them, sockets systemd passes in LISTEN_FDS are not served)"),
  "no-timeout": noNegation("timeout", DEPLOY_ARGS.timeout, "--timeout 0 never kills a silent worker"),
  "no-max-requests": noNegation("max-requests", DEPLOY_ARGS["max-requests"], "leave it out, or --max-requests 0, never to recycle a worker"),
  "no-graceful-timeout": noNegation("graceful-timeout", DEPLOY_ARGS["graceful-timeout"], "--graceful-timeout 0 gives in-flight requests no time on stop"),
  "no-keep-alive": noNegation("keep-alive", DEPLOY_ARGS["keep-alive"], "--keep-alive 0 closes each connection after its response"),
  "no-request-timeout": noNegation("request-timeout", DEPLOY_ARGS["request-timeout"], "leave it out, or --request-timeout 0, for no limit"),
  "no-max-request-body-size": noNegation("max-request-body-size", DEPLOY_ARGS["max-request-body-size"], "leave it out, or --max-request-body-size 0, for no limit"),
  "no-log-format": noNegation("log-format", DEPLOY_ARGS["log-format"], "--no-access-log turns the access log off"),
};

/** Turn parsed citty arguments into {@link DeployOptions} (a number flag's value checked as `resolveDeployOptions` checks it, with its message). */
export function deployOptionsFromArgs(args: Record<string, unknown>, rawArgs: readonly string[] = []): DeployOptions {
  const str = (k: string) => (typeof args[k] === "string" && args[k] !== "" ? (args[k] as string) : undefined);
  // A file, socket or list flag given empty (`--certfile "$CERT"` with CERT unset) is a mistake: taken as
  // unset it would quietly serve plain HTTP, or TCP on 8000 in place of the socket. `--host ""` and
  // `--root-path ""` stay the defaults (127.0.0.1, no mount point), as uvicorn and the seeds take them.
  const text = (k: string, what: string) => {
    if (args[k] === "") throw new UsageError(`--${k} needs a value, got an empty one: ${what}`);
    return str(k);
  };
  /** A number flag's value: decimal digits (not `5s`, `four`, `1e6`) and a number the flag takes, else numberFlagError's message. */
  const num = (k: NumberFlag) => {
    // `--port=` (an unset variable in `--port=$PORT`) is a mistake, not "use the default".
    if (args[k] === "") throw new UsageError(`--${k} needs a value, got an empty one: ${NUMBER_FLAGS[k].takes}, e.g. --${k} ${NUMBER_FLAGS[k].example}`);
    const v = str(k);
    if (v === undefined) return undefined;
    return k === "fd" ? fdFlag(v) : numberFlag(k, v);
  };
  const peerFlag = args.peercreds !== false && rawArgs.some((a) => a === "--peercreds" || a.startsWith("--peercreds="));
  const peerResolve = rawArgs.includes("--peercreds=resolve");
  return {
    host: str("host"),
    port: num("port"),
    uds: text("uds", "the socket's path, e.g. --uds /run/app/app.sock"),
    udsMode: text("uds-mode", "octal permission bits, e.g. --uds-mode 660"),
    fd: num("fd"),
    backlog: num("backlog"),
    certfile: text("certfile", "the certificate chain's PEM file, e.g. --certfile cert.pem"),
    keyfile: text("keyfile", "the private key's PEM file, e.g. --keyfile key.pem"),
    caCerts: text("ca-certs", "the CA bundle's PEM file, e.g. --ca-certs clients-ca.pem"),
    https: lastSwitch(rawArgs, "https", args.https === true),
    workers: num("workers"),
    reusePort: lastSwitch(rawArgs, "reuse-port", args["reuse-port"] === true),
    maxRequests: num("max-requests"),
    maxRequestsJitter: num("max-requests-jitter"),
    timeout: num("timeout"),
    gracefulTimeout: num("graceful-timeout"),
    proxyHeaders: lastSwitch(rawArgs, "proxy-headers", args["proxy-headers"] === true),
    forwardedAllowIps: text("forwarded-allow-ips", "IPs or CIDRs, comma-separated, or *, e.g. --forwarded-allow-ips 10.0.0.1"),
    forwardedHeader: text("forwarded-header", "x-forwarded or forwarded") as DeployOptions["forwardedHeader"],
    rootPath: str("root-path"),
    peercreds: !peerFlag ? undefined : peerResolve ? "resolve" : true,
    keepAlive: num("keep-alive"),
    maxConnections: num("max-connections"),
    headerTimeout: num("header-timeout"),
    socketTimeout: num("socket-timeout"),
    requestTimeout: num("request-timeout"),
    urlLengthLimit: num("url-length-limit"),
    maxHeaderBytes: num("max-header-bytes"),
    maxHeaderCount: num("max-header-count"),
    maxRequestBodySize: num("max-request-body-size"),
    logFormat: text("log-format", "an eventlet log_format string, e.g. --log-format '%(client_ip)s %(request_line)s %(status_code)s' (--no-access-log turns the log off)"),
  };
}

/** `tsgi serve`'s flags and its `<app>` argument, as citty defines them (the help and the flag check read them). */
export const SERVE_ARGS = {
  app: { type: "positional", description: "The app module: ./app.ts or ./app.ts:name", required: true },
  ...DEPLOY_ARGS,
  "access-log": { type: "boolean", description: "Print a line per request on stdout", default: true, negativeDescription: "No access log" },
} as const;

const serveCommand = defineCommand({
  meta: {
    name: "serve",
    description:
      "Serve an app in production. The module's default export (or ./app.ts:name) may be a TSGI application (environ, startResponse), an object with a fetch() method (Hono, Elysia), or a fetch function (request) => Response.",
  },
  args: SERVE_ARGS,
  async run({ args, rawArgs }) {
    const fail = (error: unknown): never => {
      consola.error((error as Error).message);
      process.exit(error instanceof UsageError ? 2 : 1);
    };
    let deploy;
    /** `--https` was given (the last of it and `--no-https`), for the line said when files are given with it. */
    let httpsAsked = false;
    try {
      checkArgs("tsgi serve", rawArgs, SERVE_ARGS, DEPLOY_OPTIONAL_VALUES, SERVE_FOREIGN_FLAGS);
      const given = deployOptionsFromArgs(args as Record<string, unknown>, rawArgs);
      httpsAsked = given.https === true;
      deploy = resolveDeployOptions(withSocketActivation(given, rawArgs));
      parseAppSpec(String(args.app), undefined, "tsgi serve"); // `./app.ts:` is a bad command line (exit 2), not an app that failed to load
    } catch (error) {
      return fail(error);
    }
    // A PORT from a .env file (Bun loaded it unasked): a bind error names the file, to change PORT there.
    if (deploy.portSource === "PORT") deploy.portFile = dotenvSource("PORT");
    const accessLog = lastSwitch(rawArgs, "access-log", true);
    fitConnectionsToFiles(deploy);
    if (deploy.server.backlog !== undefined) deploy.server.backlog = fitBacklogToKernel(deploy.server.backlog, (line) => consola.warn(line));
    // TLS material is read (and a development certificate made) once the signals are answered:
    // making one can take a while, or wait on another process's lock.
    // Under --workers each worker reads the files again and reports a date warning itself (the supervisor says it once).
    const readTls = async (warnDates: boolean) => {
      const tls = await resolveTls(deploy.tls);
      if (tls?.warning && warnDates) consola.warn(tls.warning);
      if (tls?.dev) {
        consola.warn(`${tls.dev.created ? "generated" : "using"} a self-signed development certificate (${tls.dev.certfile}), SHA-256 fingerprint ${tls.dev.fingerprint}; clients must trust it (curl --cacert ${shellQuote(tls.dev.certfile)})`);
      }
      return tls;
    };
    const app = String(args.app);
    // The files win over --https (its development certificate is for when none are given): said, not an error.
    if (httpsAsked && deploy.tls !== null && deploy.tls !== "dev") {
      consola.info(`--https with --certfile and --keyfile: serving ${deploy.tls.certfile}, not the development certificate (--https alone serves that; with the files it is not needed)`);
    }
    /** The start line's `, certificate cert.pem for example.com until 2027-03-01` over TLS. */
    const certificate = (tls: Awaited<ReturnType<typeof readTls>>) => (tls ? `, ${servedCertificate(tls, deploy.tls !== null && deploy.tls !== "dev" ? deploy.tls.certfile : undefined)}` : "");
    if (deploy.workers) {
      // Before a pipe is read (and its bytes lost): the workers could not read it again.
      const once = tlsFilesForWorkers(deploy.tls);
      if (once) return fail(new StartupError(once));
      const supervisor = new Supervisor({ config: { app, cwd: process.cwd(), deploy, accessLog } });
      // Signals first: a SIGTERM that comes while workers boot must still stop them.
      // After a clean stop, the access log's last lines and the error log's reach a lagging reader before the exit.
      supervisor.installSignals((code) => (code === 0 ? void stdioFlushed().then(() => process.exit(0)) : process.exit(code)));
      let tls;
      try {
        tls = await readTls(false);
      } catch (error) {
        return fail(error);
      }
      let serving: boolean;
      try {
        serving = await supervisor.start();
      } catch (error) {
        const code = (error as { code?: string }).code;
        return fail(code ? new StartupError(listenMessage(error, deploy.server, deploy.portSource, deploy.portFile)) : error);
      }
      // Stopped while the workers booted: nothing serves, and the stop is under way.
      if (!serving) return;
      consola.success(`tsgi ${VERSION}: ${supervisor.workers} worker(s) serving ${app} on ${where(deploy.server, supervisor.port, !!tls)}${certificate(tls)} (supervisor pid ${process.pid}; SIGHUP reloads, SIGTERM stops)`);
      return;
    }
    // From the app's import on: a stray rejection or exception is logged, not the server's end.
    // One error log for their reports and the server's: each report on a line of its own, after an app's unended tsgi.errors line too.
    const errorLog = prefixedLog("");
    logStrayErrors(errorLog);
    // Signals before the import, which may take seconds (a database to reach): none may kill the process meanwhile.
    let server: ReturnType<typeof createServer> | undefined;
    // What a stop before the server exists interrupts: nothing is in flight then, so no grace is promised.
    let starting = "starting";
    onStopSignals(
      (signal) => {
        consola.info(server ? `${signal}: stopping; in-flight requests get ${deploy.gracefulTimeout / 1000}s ${exitAtOnceHint(signal)}` : `${signal}: stopped while ${starting}, before serving`);
        void (async () => {
          // As a worker does: idle keep-alive connections get 1 s for a request already on its way.
          if (server) await server.close(stopOptions(deploy.gracefulTimeout));
          // process.exit() drops what Bun still holds for a lagging stdout or stderr reader: the last lines of both logs.
          await stdioFlushed();
          process.exit(0);
        })().catch((error: unknown) => {
          // Never left half stopped (closed, yet alive until the service manager's SIGKILL).
          consola.error(`stopping failed: ${(error as Error)?.stack ?? String(error)}`);
          process.exit(1);
        });
      },
      (signal) => {
        consola.warn(`${signal} again: exiting now`);
        process.exit(signalExitCode(signal));
      },
      // SIGQUIT too (a terminal's Ctrl-\, nginx's graceful stop): its default action would drop every request in flight.
      ["SIGTERM", "SIGINT", "SIGQUIT"],
    );
    // The habits of other servers' operators must not end this one (their default action would, at once).
    onOperatorSignals(
      (message) => consola.info(message),
      (message) => consola.warn(message),
    );
    process.on("SIGHUP", () => consola.warn("SIGHUP: reloading needs --workers (a single process cannot replace itself without dropping its socket)"));
    let tls;
    try {
      tls = await readTls(true);
    } catch (error) {
      return fail(error);
    }
    let loaded;
    starting = "the app was loading";
    try {
      loaded = await loadApp(app);
    } catch (error) {
      return fail(error);
    }
    try {
      server = createServer(withDeployMiddleware(loaded.app, deploy), {
        ...deploy.server,
        ...(tls ? { tls: tls.config } : {}),
        // tsgi.signal for an app that wants it (a fetch handler's request.signal), judged before the deploy middleware wraps it.
        requestSignal: wantsSignal(loaded.app),
        log: accessLog ? stdoutLog : null,
        ...(deploy.server.errorLog === undefined ? { errorLog } : {}),
      }).listen();
    } catch (error) {
      return fail(new StartupError(listenMessage(error, deploy.server, deploy.portSource, deploy.portFile)));
    }
    if (loaded.warning) consola.warn(loaded.warning);
    consola.success(`tsgi ${VERSION}: serving ${app}${loaded.kind === "tsgi" ? "" : ` (a fetch handler, through fromFetchHandler)`} on ${deploy.server.unix !== undefined || deploy.server.fd !== undefined ? where(deploy.server, server.port, !!tls) : server.url}${certificate(tls)} (pid ${process.pid})`);
  },
});

/**
 * A `--max-connections` (default 10000) the open-file limit cannot hold is
 * lowered to what fits, with a warning naming the flag, once for all
 * workers (the server would warn in each, naming its `maxConnections` option).
 */
function fitConnectionsToFiles(deploy: { server: { maxConnections?: number }; workers: unknown }): void {
  const given = deploy.server.maxConnections;
  const over = connectionsOverFileLimit(given ?? DEFAULT_SERVER_OPTIONS.maxConnections);
  if (over === null) return;
  const each = deploy.workers ? " per worker" : "";
  consola.warn(
    `--max-connections ${given ?? `${DEFAULT_SERVER_OPTIONS.maxConnections} (the default)`} is more than the open-file limit (${over.files}) can hold: serving at most ${over.fits} connections${each}. Raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more, or pass --max-connections ${over.fits} to serve that many without this warning`,
  );
  deploy.server.maxConnections = over.fits;
}

/**
 * A `--backlog` above `net.core.somaxconn` (`/proc/sys/net/core/somaxconn`),
 * which the kernel cuts to it without a word (`listen(2)`), is warned about
 * with `warn`, naming the sysctl and the value in force, once for all
 * workers (the server would warn in each, naming its `backlog` option), and
 * asked as the cap, which is what the kernel gives anyway. Off Linux (no
 * such file) nothing. `tsgi serve` and `tsgi-dev` both call it.
 * @returns the backlog to ask for: `given`, or the cap when below it.
 */
export function fitBacklogToKernel(given: number, warn: (line: string) => void): number {
  const cap = listenBacklogCap();
  if (cap === undefined || given <= cap) return given;
  warn(
    `--backlog ${given} is more than net.core.somaxconn (${cap}), at which the kernel caps it: the socket listens with ${cap}. Raise it (sysctl -w net.core.somaxconn=${given}, kept in /etc/sysctl.d/) to queue more, or pass --backlog ${cap} to use that without this warning`,
  );
  return cap;
}

/**
 * systemd socket activation, as gunicorn reads it: when the service manager
 * passed listening sockets (`LISTEN_FDS`, {@link listenFds}) and no place to
 * listen was given (`--host`, `--port`, `--uds`, `--fd`, `--reuse-port`),
 * the first one, fd 3, is served (said on stderr). The variables are then
 * removed from `process.env` (`sd_listen_fds(1)`), so the app and the
 * workers do not take the sockets for theirs. (A child the app starts with
 * `Bun.spawn` and no `env` may still see them, since Bun hands children the
 * environment it started with; its pid is not `LISTEN_PID`, so they are not
 * its.) Sockets passed and not served, or passed to another pid (a shell
 * in `ExecStart` that does not `exec`), are warned about: their clients
 * would hang.
 */
function withSocketActivation(options: DeployOptions, rawArgs: readonly string[]): DeployOptions {
  if (process.env.LISTEN_FDS !== undefined && process.env.LISTEN_PID !== String(process.pid)) {
    consola.warn(`LISTEN_FDS is set for another process (LISTEN_PID ${process.env.LISTEN_PID ?? "unset"}, this is ${process.pid}): the socket-activated sockets are not served here; in a systemd unit, exec tsgi (no shell in between) or pass --fd 3`);
  }
  const fds = listenFds();
  if (fds === 0) return options;
  for (const name of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) delete process.env[name];
  // (`host` always has a value: citty fills in its default; only the command line says it was asked for.)
  const hostGiven = rawArgs.some((a) => a === "--host" || a.startsWith("--host="));
  if (options.fd !== undefined || options.uds !== undefined || hostGiven || options.port !== undefined || options.reusePort) {
    if (options.fd !== 3) consola.warn(`systemd passed ${fds} socket(s) (LISTEN_FDS) that are not served: a place to listen was given on the command line`);
    return options;
  }
  consola.info(`systemd socket activation: serving fd 3 (LISTEN_FDS=${fds}${fds > 1 ? "; the other sockets are not served" : ""})`);
  return { ...options, fd: 3 };
}

function where(server: { unix?: string; fd?: number; hostname?: string }, port: number, tls: boolean): string {
  if (server.unix !== undefined) return `unix:${server.unix}`;
  if (server.fd !== undefined) {
    const path = unixSocketPath(server.fd);
    if (path) return `unix:${path} (inherited fd ${server.fd})`;
    const inet = inetSocketAddress(server.fd);
    if (inet) return `${tls ? "https" : "http"}://${uriHost(inet.host)}:${inet.port}/ (inherited fd ${server.fd})`;
    return `inherited fd ${server.fd}`;
  }
  const host = server.hostname ?? "127.0.0.1";
  return `${tls ? "https" : "http"}://${uriHost(host)}:${port}/`;
}

/** The `tsgi` command: `tsgi serve ...`. */
export const main = defineCommand({
  meta: { name: "tsgi", version: VERSION, description: "TSGI production server" },
  subCommands: { serve: serveCommand },
});

/**
 * Run `tsgi` with the process's arguments (`process.argv` past the script):
 * usage errors exit 2, `serve` serves until a stop signal. Called by the
 * entry file, src/cli/serve.ts, on a Bun tsgi runs on.
 */
export async function run(): Promise<void> {
  // First: a broken stderr or stdout (a pipe's reader gone, a terminal hung up) must not end the process.
  guardStdio();
  // Our one-line usage errors (exit 2) before citty's, which print the whole help first.
  const argv = process.argv.slice(2);
  const usage = (message: string): never => {
    consola.error(message);
    process.exit(2);
  };
  // Not a usage error: the command line may be right, run where it no longer can be.
  // The word help or version answers there too: tsgi help, tsgi serve help (where the app goes).
  const gone = workingDirectoryGone(argv[0] === "serve" ? "tsgi serve" : "tsgi", argv, argv[0] === "serve" ? positionalArgs(argv.slice(1), SERVE_ARGS)[0] : argv[0]);
  if (gone !== undefined) {
    consola.error(gone);
    process.exit(1);
  }
  const showUsage = helpPrinter({ optionalValues: DEPLOY_OPTIONAL_VALUES, examples: { "tsgi serve": SERVE_EXAMPLES } });
  const first = argv[0];
  if (first === undefined) usage("missing command: tsgi serve <app> [options], e.g. tsgi serve ./app.ts (see tsgi --help)");
  else if (first === "help") {
    // git's, npm's and cargo's word: tsgi help, tsgi help serve.
    const topic = argv[1];
    if (topic === undefined || topic.startsWith("-")) await runMain(main, { rawArgs: ["--help"], showUsage }); // prints the help, exits 0
    else if (topic === "serve") await runMain(main, { rawArgs: ["serve", "--help"], showUsage });
    else if (topic === "dev") usage("the dev server is its own command, tsgi-dev: see tsgi-dev --help (tsgi serve is the production server; see tsgi help serve)");
    else usage(`no help for ${JSON.stringify(topic)}: ${nearestWord(topic, ["serve"]) ? "did you mean tsgi help serve?" : "tsgi's one command is serve (tsgi help serve)"}`);
  } else if (first === "serve") {
    const rest = argv.slice(1);
    try {
      // tsgi serve help: the help, as tsgi-dev help is tsgi-dev's, unless a file named help is the app.
      // Where the app goes, after flags too (tsgi serve --port 9000 help), as git --no-pager help is git help.
      const appWord = positionalArgs(rest, SERVE_ARGS)[0];
      if (helpWordGiven(appWord, "tsgi serve")) await runMain(main, { rawArgs: ["serve", "--help"], showUsage });
      // As tsgi-dev version: the flag prints it, said rather than "no such file: version" (exit 1).
      if (versionWordGiven(appWord)) throw new UsageError("no such file: version; tsgi serve --version prints the version");
      checkArgs("tsgi serve", rest, SERVE_ARGS, DEPLOY_OPTIONAL_VALUES, SERVE_FOREIGN_FLAGS);
    } catch (error) {
      usage((error as Error).message);
    }
    // citty answers --version on the root command only.
    if (versionRequested(rest)) {
      console.log(VERSION);
      process.exit(0);
    }
  } else if (first === "dev") {
    // As in next dev, vite dev, fastapi dev: here the dev server is a command of its own.
    const rest = argv.slice(1).join(" ");
    usage(`the dev server is its own command, tsgi-dev: ${rest ? `tsgi-dev ${rest}` : "tsgi-dev ./app.ts"} (tsgi serve is the production server; see tsgi-dev --help)`);
  } else if (!first.startsWith("-")) {
    usage(unknownCommand(first, argv.slice(1)));
  } else if ((first === "--version" || first === "-v") && versionRequested(argv)) {
    // citty answers --version only when it is the only argument: tsgi -v serve ./app.ts would serve the
    // app, tsgi --version serve print serve's help and exit 1. The version, as tsgi serve ./app.ts -v prints it.
    console.log(VERSION);
    process.exit(0);
  } else if (!["--help", "-h", "--version", "-v"].includes(first)) {
    const name = first.split("=")[0]!;
    const near = name.startsWith("--") ? nearestWord(name.slice(2), ["help", "version"]) : undefined;
    usage(
      near
        ? `unknown option ${name}; did you mean --${near}? (see tsgi --help)`
        : `unknown option ${name}: options go after the command, as in tsgi serve ./app.ts --port 8000 (see tsgi --help)`,
    );
  }
  await runMain(main, { showUsage });
}

/**
 * The one line for `tsgi <word> ...rest` when `word` is no command: a
 * misspelt `serve` (`serv`, `server`, `srve`) gets the command line meant,
 * with the user's own arguments and, when they name no app, the module
 * named like the word if there is one (`tsgi server` beside server.ts:
 * `tsgi serve server.ts`), else `./app.ts` as the example; an app path
 * given first (`./app.ts`, `server.ts:api`, or `main` beside main.ts)
 * gets `tsgi serve` put before it; `version` is pointed at `--version`.
 * Only a module with an extension the app may have (`MODULE_EXTENSIONS`)
 * is suggested: a file or directory named like the word itself (a script
 * `./serv`, a directory `./main`) is not.
 */
function unknownCommand(word: string, rest: readonly string[]): string {
  const quoted = JSON.stringify(word);
  if (word === "version") return `unknown command ${quoted}: tsgi --version prints the version`;
  const args = rest.map(shellWord);
  // The module the word names in the working directory, with an extension the app may have (server → server.ts). The
  // word itself, a file or directory without one (a script ./serv, a directory ./main), is never suggested as the app.
  const isFile = (path: string) => statSync(path, { throwIfNoEntry: false })?.isFile() === true;
  const ext = MODULE_EXTENSIONS.find((e) => isFile(`${word}${e}`));
  const module = ext === undefined ? undefined : shellWord(`${word}${ext}`);
  // A module path (./app.ts, app.ts:api, src/app): the app, even when it starts like the command (server.ts:api).
  const path = /[/.:]/.test(word);
  if (!path && nearestWord(word, ["serve"]) !== undefined) {
    // A directory ./server is no app (tsgi serve server is refused): the example then.
    // An app given after -- is one too, as citty takes it (tsgi server --port 9000 -- main.ts).
    const end = rest.indexOf("--");
    const appGiven = positionalArgs(rest, SERVE_ARGS).length > 0 || (end !== -1 && end < rest.length - 1);
    const line = appGiven ? args : [module ?? "./app.ts", ...args];
    return `unknown command ${quoted}; did you mean tsgi serve ${line.join(" ")}? (see tsgi --help)`;
  }
  // A module path, or main beside main.ts: the command was left out.
  if (path || module !== undefined) {
    return `unknown command ${quoted}: the command, serve, goes first: tsgi serve ${[module ?? shellWord(word), ...args].join(" ")} (see tsgi --help)`;
  }
  return `unknown command ${quoted}: the command is serve, as in tsgi serve ./app.ts (see tsgi --help)`;
}
