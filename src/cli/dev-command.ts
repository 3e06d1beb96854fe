/**
 * `tsgi-dev`: serve a TSGI app for local development, reloading it when its
 * files change. The entry file `dev.ts` imports this command once it has
 * checked the Bun version (src/cli/bun-version.ts).
 *
 * ```
 * tsgi-dev ./app.ts[:name] [--host 127.0.0.1] [--port 8000] [--log-level info]
 *          [--no-access-log] [--no-reload | --reload=inplace|restart]
 *          [--watch PATH]... [--ignore GLOB]... [--poll] [--no-live] [--no-debug]
 *          [--allowed-hosts HOSTS]... [--backlog N]
 * ```
 * @module
 */
import { existsSync } from "node:fs";
import { defineCommand, runMain, type ArgsDef } from "citty";
import { VERSION } from "../version.ts";
import { BindError } from "../server/bind.ts";
import { StartupError, UsageError } from "../deploy/errors.ts";
import { MODULE_EXTENSIONS, parseAppSpec } from "../deploy/load-app.ts";
import { hostArgument, NUMBER_FLAGS, numberFlag } from "../deploy/options.ts";
import { guardStdio } from "../deploy/stdio.ts";
import { onStopSignals } from "../deploy/signals.ts";
import { allowedHostsArg, parsePort, rejectEmpty, repeated } from "../dev/args.ts";
import { runExecPathChildrenAsBun } from "../dev/compiled.ts";
import { dotenvSource } from "../dev/dotenv.ts";
import type { DevConfig } from "../dev/config.ts";
import { startDevServer, type DevServer } from "../dev/dev-server.ts";
import { createDevLogger, LOG_LEVELS, type LogLevel } from "../dev/log.ts";
import { runSupervisor } from "../dev/supervisor.ts";
import { watchEntryMatches } from "../dev/watcher.ts";
import { runWorker } from "../dev/worker.ts";
import { takeWorkerSpec } from "../dev/worker-flag.ts";
import { checkArgs, lastSwitch, noNegation, positionalArgs, positionalIndexes, versionRequested } from "./args.ts";
import { workingDirectoryGone } from "./cwd.ts";
import { helpPrinter } from "./help.ts";
import { DEPLOY_ARGS, fitBacklogToKernel } from "./serve-command.ts";
import { helpWordGiven, shellWord, versionWordGiven } from "./words.ts";

/**
 * tsgi-dev's own exits. While an in-place load runs, `process.exit` throws
 * (the app's exit at import fails the load: AppLoader's `trapExit`); a stop
 * signal arriving then must still end this process.
 */
const exit: (code: number) => never = process.exit.bind(process);

/** tsgi-dev's flags and its `<app>` argument, as citty defines them (the help and the flag check read them). */
export const DEV_ARGS = {
  app: { type: "positional", description: "The app module: ./app.ts (default export) or ./app.ts:name (a named export). The export is a TSGI application (environ, startResponse), or a fetch handler (request) => Response, or an object with fetch() (Hono, Elysia, itty-router), served through fromFetchHandler", required: true },
  host: { type: "string", description: "Interface to bind, 0.0.0.0 for all", default: "127.0.0.1", valueHint: "host" },
  port: { type: "string", description: "Port to bind (default 8000, or PORT). A busy --port or PORT is an error; a busy default 8000 moves to the next free port", valueHint: "port" },
  "log-level": { type: "enum", options: [...LOG_LEVELS], description: "Terminal verbosity", default: "info" },
  "access-log": { type: "boolean", description: "Print a line per request", default: true, negativeDescription: "No access log" },
  reload: { type: "boolean", description: "How to reload on change: --reload=inplace (the default), or --reload=restart (a fresh process takes over the socket)", default: true, negativeDescription: "Never reload" },
  watch: { type: "string", description: "Also watch this file, directory or glob (repeatable). One that matches nothing yet is still watched, with a warning", valueHint: "path" },
  ignore: { type: "string", description: "Never watch paths matching this glob (repeatable)", valueHint: "glob" },
  poll: { type: "boolean", description: "Poll for changes (network and container file systems)", default: false },
  live: { type: "boolean", description: "Reload the browser page after each reload, and when tsgi-dev is restarted", default: true, negativeDescription: "No live reload script" },
  debug: { type: "boolean", description: "Error pages show the code, stack and request", default: true, negativeDescription: "Error pages show nothing of the code" },
  "allowed-hosts": { type: "string", description: "Also answer requests for these Host names (comma-separated, repeatable; .example.com for a domain and its subdomains; all: any host). Localhost, IP addresses and --host are always answered; others get 403 (DNS rebinding)", valueHint: "hosts" },
  // tsgi serve's, as uvicorn has it with --reload too: a load test of the dev server opens more connections at once than Bun's 512.
  backlog: { type: "string", description: "Listen backlog: connections the kernel queues for accept, as tsgi serve --backlog (Linux; capped at net.core.somaxconn; default 512)", valueHint: "n" },
} satisfies ArgsDef;

/** What to give each string flag instead of an empty value (`--port=`, `--watch=`); see {@link rejectEmpty}. */
const DEV_NON_EMPTY = {
  host: "an address to bind, e.g. --host 127.0.0.1",
  // tsgi serve's words for its --port= (NUMBER_FLAGS).
  port: `${NUMBER_FLAGS.port.takes}, e.g. --port ${NUMBER_FLAGS.port.example}`,
  watch: "a file, directory or glob to watch, e.g. --watch templates",
  ignore: "a glob of paths not to watch, e.g. --ignore 'logs/**'",
  "allowed-hosts": "host names, e.g. --allowed-hosts app.test",
  backlog: `${NUMBER_FLAGS.backlog.takes}, e.g. --backlog ${NUMBER_FLAGS.backlog.example}`,
} as const;

/** `--reload` is a switch that may carry a mode: `--reload=inplace`, `--reload=restart`. */
export const DEV_OPTIONAL_VALUES = { reload: ["inplace", "restart"] } as const;

/** The examples `tsgi-dev --help` ends with (test/cli-help.test.ts checks each against the flags). */
export const DEV_EXAMPLES = [
  ["tsgi-dev ./app.ts", "Serve the default export on http://127.0.0.1:8000/ and reload it in place on each save"],
  ["tsgi-dev ./app.ts:api --port 3000", "A named export, on port 3000"],
  ["tsgi-dev ./app.ts --watch views --ignore '*.log'", "Also reload for the templates in views/ that the app reads itself; never for log files"],
  ["tsgi-dev ./app.ts --reload=restart", "A fresh process for each change, for an app that keeps state outside its modules (or close it in import.meta.hot.dispose())"],
] as const;

/**
 * uvicorn's, flask's and next dev's flags that tsgi-dev lacks, and the
 * production flags of `tsgi serve` (`--fd`, `--https`, `--root-path`...),
 * with what to use instead (see {@link checkArgs}).
 */
export const DEV_FOREIGN_FLAGS: Record<string, string> = {
  H: "use --host <host>",
  hostname: "use --host <host>",
  workers: "tsgi-dev runs the app in one process (uvicorn, too, runs one with --reload); tsgi serve --workers N runs several in production",
  "no-workers": "tsgi-dev runs the app in one process (uvicorn, too, runs one with --reload); tsgi serve --workers N runs several in production",
  b: "tsgi-dev listens on --host and --port (e.g. --host 0.0.0.0 --port 8000)",
  bind: "tsgi-dev listens on --host and --port (e.g. --host 0.0.0.0 --port 8000)",
  "reload-dir": "use --watch <path> (repeatable); the app's imports are watched already",
  "reload-exclude": "use --ignore <glob> (repeatable)",
  "reload-include": "use --watch <glob> (repeatable)",
  // uvicorn's --env-file. Bun's own (bun --env-file=x tsgi-dev) sets the values once; reloads re-read only the default files.
  "env-file":
    "tsgi-dev reads the working directory's .env files as Bun does (.env, .env.local, .env.development, ...) at start and again on each reload: put the variables in one of them",
  // --watch adds to what is watched; turning watching off is --no-reload's (checkArgs says the rest of the --no- forms).
  "no-watch": noNegation("watch", DEV_ARGS.watch, "it adds a path to what is watched (the app's imports); --no-reload watches nothing"),
};
// tsgi serve's flags tsgi-dev lacks (before: "unknown option --fd" and nothing more), and the --no- form of its switches.
for (const name of Object.keys(DEPLOY_ARGS)) {
  if (name in DEV_ARGS || name in DEV_FOREIGN_FLAGS) continue;
  const hint = "a tsgi serve flag (the production server's): in production run tsgi serve ./app.ts with it; tsgi-dev serves plain HTTP on --host and --port with development settings";
  DEV_FOREIGN_FLAGS[name] = hint;
  // Its --no- form too, a switch's or not (--no-fd, --no-workers: the flag is tsgi serve's either way).
  DEV_FOREIGN_FLAGS[`no-${name}`] = hint;
}

const command = defineCommand({
  meta: {
    name: "tsgi-dev",
    version: VERSION,
    description: "Serve a TSGI app for development: hot reload, error pages, live reload in the browser",
  },
  args: DEV_ARGS,
  async run({ args, rawArgs }) {
    const level = args["log-level"] as LogLevel;
    const logger = createDevLogger(level);
    let config: DevConfig;
    try {
      checkArgs("tsgi-dev", rawArgs, DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS);
      rejectEmpty(rawArgs, DEV_NON_EMPTY);
      // The last of --reload, --reload=MODE and --no-reload wins.
      const reloadFlag = rawArgs.findLast((a) => a === "--reload" || a.startsWith("--reload=") || a === "--no-reload");
      const reload: DevConfig["reload"] =
        reloadFlag === "--no-reload" ? false : reloadFlag === "--reload=restart" ? "restart" : "inplace";
      const portFlag = typeof args.port === "string" ? args.port : undefined;
      const envPort = process.env.PORT?.trim() ? process.env.PORT.trim() : undefined;
      // A PORT from a .env file (Bun loaded it unasked): a bind error says to change it there, not to unset it.
      const portEnvFile = envPort !== undefined ? dotenvSource("PORT") : undefined;
      config = {
        app: parseAppSpec(String(args.app)),
        host: args.host ? hostArgument(String(args.host)) : "127.0.0.1",
        port: portFlag !== undefined ? parsePort(portFlag, "--port") : envPort !== undefined ? parsePort(envPort, "PORT") : 8000,
        portExplicit: portFlag !== undefined || envPort !== undefined,
        portFromEnv: portFlag === undefined && envPort !== undefined,
        portEnvOverridden: portFlag !== undefined && envPort !== undefined,
        ...(portEnvFile !== undefined ? { portEnvFile } : {}),
        logLevel: level,
        accessLog: lastSwitch(rawArgs, "access-log", true),
        reload,
        watch: repeated(rawArgs, "watch"),
        ignore: repeated(rawArgs, "ignore"),
        poll: lastSwitch(rawArgs, "poll", false),
        live: lastSwitch(rawArgs, "live", true),
        debug: lastSwitch(rawArgs, "debug", true),
        allowedHosts: allowedHostsArg(repeated(rawArgs, "allowed-hosts")),
        ...(typeof args.backlog === "string" ? { backlog: numberFlag("backlog", args.backlog) } : {}),
        cwd: process.cwd(),
        shutdownTimeout: 5000,
      };
    } catch (error) {
      logger.error((error as Error).message);
      exit(2); // a usage error, as for tsgi serve
    }

    // Above net.core.somaxconn: said once, and asked as the cap (what the kernel gives), as by tsgi serve.
    if (config.backlog !== undefined) config.backlog = fitBacklogToKernel(config.backlog, (line) => logger.warn(line));

    if (config.reload !== false) {
      for (const entry of config.watch) {
        if (!watchEntryMatches(entry, config.cwd)) logger.warn(`--watch ${entry} matches nothing yet: it is watched, and seen once created (a typo?)`);
      }
    } else {
      // As uvicorn warns for --reload-dir without --reload: the flags are kept (a script's line with --no-reload added), but said to do nothing.
      const unused = ["watch", "ignore", "poll"].filter((name) => rawArgs.some((a) => a === `--${name}` || a.startsWith(`--${name}=`)));
      if (unused.length > 0) logger.warn(`${unused.map((n) => `--${n}`).join(", ")} ${unused.length === 1 ? "does" : "do"} nothing with --no-reload (nothing is watched): drop --no-reload to reload on changes`);
    }

    if (config.reload === "restart") {
      exit(await runSupervisor(config, logger));
    }

    // Installed before the app loads: a Ctrl-C while a slow import runs (a top-level await on a
    // database) is a stop like a later one, with its line and exit 0, as in restart mode, not
    // death by SIGINT (130) with nothing said. Nothing is served yet, so nothing waits.
    let dev: DevServer | null = null;
    onStopSignals(
      async (signal) => {
        if (dev === null) {
          logger.info(`${signal}: stopped while the app was loading`);
          exit(0);
        }
        logger.info(`${signal}: stopping (in-flight requests get up to ${config.shutdownTimeout / 1000} s)`);
        await dev.close();
        exit(0);
      },
      (signal) => {
        logger.warn(`${signal} again: exiting now`);
        exit(130);
      },
    );
    try {
      // Set as soon as it listens: a Ctrl-C while the watcher still reads a large --watch tree is a stop that lets requests finish.
      await startDevServer(config, logger, "standalone", { onListening: (d) => (dev = d) });
    } catch (error) {
      if (error instanceof StartupError || error instanceof BindError) logger.error(error.message);
      else logger.error(`cannot start: ${(error as Error)?.message ?? String(error)}`);
      exit(1);
    }
  },
});

/**
 * `tsgi-dev serve ./app.ts`, `tsgi serve`'s word typed to tsgi-dev: "serve"
 * was taken for the app, and the app for a second one ("unexpected argument
 * ./app.ts"), or, alone, "no such file: serve". Said as what it is, unless
 * help is asked for. The bare word is never the app, even with a file named
 * `serve` there (a project's `./serve` script, which tsgi-dev would have
 * imported as a module): that file is served when written as a path,
 * `tsgi-dev ./serve`, which the message says. With no app after it and a
 * module `serve.ts` (or another extension) there, both are said, as for
 * `help`. The word is looked for where the app goes, after flags too
 * (`tsgi-dev --port 9000 serve ./app.ts`), as `help` is.
 * @throws UsageError naming the command line to type instead.
 */
function productionCommandGiven(argv: readonly string[]): void {
  const at = positionalIndexes(argv, DEV_ARGS)[0];
  if (at === undefined || argv[at] !== "serve" || argv.some((a) => a === "--help" || a === "-h" || a === "--version" || a === "-v")) return;
  const without = argv.filter((_, i) => i !== at);
  const app = positionalArgs(without, DEV_ARGS)[0];
  // A file named serve (a script ./serve) and no other app: the production command's word all the same, the file
  // served only as a path (before: imported as the app, a shell script failing as a module).
  if (existsSync("serve") && app === undefined) {
    const rest = argv.map((a, i) => (i === at ? "./serve" : shellWord(a))).join(" ");
    throw new UsageError(`serve is the production command's word (tsgi serve <app>), not taken as the app: tsgi-dev takes the app itself, with no command; to serve the file ./serve here, write its path: tsgi-dev ${rest}`);
  }
  // serve alone with a module serve.ts there (tsgi-dev serve, the .ts left off): which was meant is not known, as for help.
  const ext = app === undefined ? MODULE_EXTENSIONS.find((e) => existsSync(`serve${e}`)) : undefined;
  if (ext !== undefined) throw new UsageError(`no such file: serve; did you mean serve${ext}? (tsgi-dev takes the app itself, with no command; serve is the production command's: tsgi serve <app>)`);
  // No app given (tsgi-dev serve --port 9000): the line to type has one, first.
  const rest = [...(app === undefined ? ["./app.ts"] : []), ...without.map(shellWord)].join(" ");
  throw new UsageError(`tsgi-dev takes the app itself, with no command: tsgi-dev ${rest} (serve is the production command's: tsgi serve ${app === undefined ? "./app.ts" : shellWord(app)})`);
}

/**
 * Run `tsgi-dev` with the process's arguments (`process.argv` past the
 * script), or, in a process the dev server started for an app (restart
 * mode: the spec in a hidden first argument, worker-flag.ts), that app process. Usage errors exit 2.
 * Called by the entry file, src/cli/dev.ts, on a Bun tsgi runs on.
 */
export async function run(): Promise<void> {
  // First, as tsgi serve: a broken stdout or stderr must not end the process, and what waits for a reader
  // that stalls is capped (16 MiB each; Bun queues a pipe's writes without limit). Here and in each app process.
  guardStdio();
  // In the compiled binary, the app's fork() and spawn(process.execPath) run Bun, as under `bun`.
  runExecPathChildrenAsBun();
  // An app process of restart mode: the supervisor's hidden first argument, taken out of process.argv.
  let workerSpec;
  try {
    workerSpec = takeWorkerSpec();
  } catch (error) {
    createDevLogger("info").error((error as Error).message);
    exit(2);
  }
  if (workerSpec) exit(await runWorker(workerSpec));
  // Our one-line usage errors before citty's (it prints the whole help first).
  const argv = process.argv.slice(2);
  // Not a usage error (exit 2): the command line may be right, run where it no longer can be.
  const gone = workingDirectoryGone("tsgi-dev", argv, positionalArgs(argv, DEV_ARGS)[0]);
  if (gone !== undefined) {
    createDevLogger("info").error(gone);
    exit(1);
  }
  const showUsage = helpPrinter({ optionalValues: DEV_OPTIONAL_VALUES, examples: { "tsgi-dev": DEV_EXAMPLES } });
  try {
    // Where the app goes, after flags too (tsgi-dev --port 9000 help).
    const appWord = positionalArgs(argv, DEV_ARGS)[0];
    if (helpWordGiven(appWord, "tsgi-dev")) await runMain(command, { rawArgs: ["--help"], showUsage }); // prints the help, exits 0
    // As tsgi version: the flag is the way (git's `git version` is not), said rather than "no such file: version".
    if (versionWordGiven(appWord)) throw new UsageError("no such file: version; tsgi-dev --version prints the version");
    productionCommandGiven(argv);
    checkArgs("tsgi-dev", argv, DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS);
  } catch (error) {
    createDevLogger("info").error((error as Error).message);
    exit(2);
  }
  // citty answers --version only when it is the only argument; never start a server for it.
  if (versionRequested(argv)) {
    console.log(VERSION);
    exit(0);
  }
  await runMain(command, { showUsage });
}
