/**
 * Reload latency of the dev server: the time from saving a file to the
 * first response that shows the new code, as a user at a browser sees it.
 *
 *     bun bench/reload.ts                       # every case, 50 saves each
 *     npm run bench:reload -- --saves 20
 *     bun bench/reload.ts --case hello --case modules
 *     bun bench/reload.ts --binary              # dist/tsgi-dev (npm run build) instead of bun src/cli/dev.ts
 *
 * Cases:
 * - `hello`: fixtures/hello/app.ts copied into a temp dir, reloaded in place;
 *   each save changes the greeting in the entry file.
 * - `modules`: a generated app of 200 modules (`--modules N`): the entry
 *   imports the root of a binary tree of small modules; each save edits the
 *   last module, the deepest in the graph (8 imports below the entry).
 * - `restart`: the hello app under `--reload=restart` (a fresh process per save).
 *
 * Method: `tsgi-dev ./app.ts --port P --no-access-log` is spawned in the temp
 * dir (fixtures/dev/harness.ts). One keep-alive client polls `GET /` every
 * `--interval` ms (default 2) for the whole run. Each save writes the file in
 * place, and its latency is the time from just before the write to the
 * arrival of the first response carrying the new version. Between saves the
 * client keeps polling for `--gap` ms (default 250; chokidar drops a second
 * change of a file within 50 ms of the first, and the reloader re-checks the
 * files 150 ms after a reload). Every response must be a 200 whose body is
 * the old or the new version; anything else, a timeout or a socket error
 * counts as a failed request. After a response with `Connection: close`
 * (restart mode's old process hands its connections over that way) the next
 * request goes on a new connection. A reused keep-alive connection that the
 * server closes, or resets, before answering (a request crossing the close
 * on the wire, RFC 9112 §9.3.1) is reopened and the request retried once, as
 * browsers do; those are counted as "reconnects" (with how many were resets),
 * not failures; a second failure, or one on a fresh connection, is a failure. "server ms" is the median of what the server itself logs
 * ("reloaded in N ms" / "restarted in N ms"): the load alone, without the
 * watcher's detection and debounce.
 *
 * Options: `--saves N` (50), `--case hello|modules|restart` (repeatable;
 * default all), `--modules N` (200), `--interval MS` (2), `--gap MS` (250),
 * `--timeout MS` per save (10000), `--binary [PATH]` (default dist/tsgi-dev).
 *
 * Exit status 0 only when every save was seen within the timeout and no
 * request failed. The targets (median under 100 ms for hello, under 500 ms
 * for 200 modules) are reported, not enforced.
 * @module
 */
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DevProcess, freePort, KeepAliveSession, ROOT, TempApp, until } from "../fixtures/dev/harness.ts";
import { parseArgsError, usageError } from "./args.ts";
import { ownChild } from "./children.ts";

const CASES = ["hello", "modules", "restart"] as const;
type CaseName = (typeof CASES)[number];

const USAGE = "bun bench/reload.ts [--saves 50] [--case hello|modules|restart]... [--modules 200] [--interval 2] [--gap 250] [--timeout 10000] [--binary [path]]";
const options = {
  saves: { type: "string", default: "50" },
  case: { type: "string", multiple: true },
  modules: { type: "string", default: "200" },
  interval: { type: "string", default: "2" },
  gap: { type: "string", default: "250" },
  timeout: { type: "string", default: "10000" },
  binary: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;
// Positionals: the path `--binary` may take (parseArgs sees it as one).
const values = (() => {
  try {
    return parseArgs({ options, allowPositionals: true }).values;
  } catch (error) {
    return parseArgsError(USAGE, error);
  }
})();
if (values.help) {
  console.log(`usage: ${USAGE}`);
  process.exit(0);
}

function positiveInt(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) usageError(USAGE, `--${name} must be an integer from 1 to ${max}, got ${raw}`);
  return n;
}
const SAVES = positiveInt("saves", values.saves, 10_000);
const MODULES = positiveInt("modules", values.modules, 5000);
const INTERVAL = positiveInt("interval", values.interval, 1000);
const GAP = positiveInt("gap", values.gap, 60_000);
const TIMEOUT = positiveInt("timeout", values.timeout, 600_000);
const selected: CaseName[] = (values.case ?? [...CASES]).map((c) => {
  if (!(CASES as readonly string[]).includes(c)) usageError(USAGE, `--case must be one of ${CASES.join(", ")}, got ${c}`);
  return c as CaseName;
});

// `--binary` takes an optional path: `--binary ./x` (parseArgs sees it as a positional). Any other
// positional is a mistake (`bun bench/reload.ts modules`, meant as `--case modules`), not ignored.
const argv = process.argv.slice(2);
const isBinaryPath = (a: string, i: number) => argv[i - 1] === "--binary" && !a.startsWith("-");
const binaryPath = argv.find(isBinaryPath);
const stray = argv.find((a, i) => !a.startsWith("-") && !isBinaryPath(a, i) && !/^--(saves|case|modules|interval|gap|timeout)$/.test(argv[i - 1] ?? ""));
if (stray !== undefined) usageError(USAGE, `unexpected argument ${JSON.stringify(stray)}${(CASES as readonly string[]).includes(stray) ? ` (a case is chosen with --case ${stray})` : ""}`);
let command: string[] | undefined;
if (values.binary) {
  // Absolute: tsgi-dev is spawned in the temp app's directory, where a relative path finds nothing.
  const path = resolve(binaryPath ?? join(ROOT, "dist", process.platform === "win32" ? "tsgi-dev.exe" : "tsgi-dev"));
  if (!existsSync(path)) {
    console.error(`${path} is not built: run \`npm run build\` first`);
    process.exit(2);
  }
  command = [path];
}

// ---------------------------------------------------------------- the apps

/** An app in a temp dir whose response body names a version, and how to save a new version. */
interface BenchApp {
  app: TempApp;
  /** The body the app answers at version `n`. */
  body(n: number): string;
  /** Save version `n` (in place, as most editors do). */
  save(n: number): void;
}

/** fixtures/hello/app.ts, its greeting carrying the version. */
function helloApp(): BenchApp {
  const app = new TempApp();
  copyFileSync(join(ROOT, "fixtures/hello/app.ts"), app.path("app.ts"));
  const original = app.read("app.ts");
  if (!original.includes("Hello, world!\\n")) throw new Error("fixtures/hello/app.ts no longer says Hello, world!");
  return {
    app,
    body: (n) => (n === 0 ? "Hello, world!\n" : `Hello, world! v${n}\n`),
    save: (n) => app.write("app.ts", original.replace("Hello, world!\\n", `Hello, world! v${n}\\n`)),
  };
}

const pad = (i: number) => String(i).padStart(3, "0");

/**
 * `count` small modules in lib/, a binary tree (module i imports 2i+1 and
 * 2i+2); the last one holds the version, every module passes it up, and the
 * entry answers "<count> modules, v<n>".
 */
function treeApp(count: number): BenchApp {
  const app = new TempApp();
  const target = count - 1;
  const moduleSource = (i: number, version: number) => {
    const kids = [2 * i + 1, 2 * i + 2].filter((k) => k < count);
    const imports = kids.map((k, j) => `import * as c${j} from "./m${pad(k)}.ts";`).join("\n");
    const own = i === target ? `"v${version}"` : '""';
    return `${imports}

/** Module ${i} of ${count}. */
export interface Node${i} {
  id: number;
  label: string;
  children: number[];
}

export const node: Node${i} = { id: ${i}, label: "m${pad(i)}", children: [${kids.join(", ")}] };
export const count: number = 1${kids.map((_, j) => ` + c${j}.count`).join("")};
export const version: string = ${[own, ...kids.map((_, j) => `c${j}.version`)].join(" || ")};

export function describe(prefix = ""): string {
  return \`\${prefix}\${node.label} (\${count} below)\`;
}
`;
  };
  for (let i = 0; i < count; i++) app.write(`lib/m${pad(i)}.ts`, moduleSource(i, 0));
  app.write(
    "app.ts",
    `import { count, version } from "./lib/m000.ts";

const enc = new TextEncoder();

export default function app(_environ: Record<string, unknown>, startResponse: (status: string, headers: [string, string][]) => void) {
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [enc.encode(\`\${count} modules, \${version}\\n\`)];
}
`,
  );
  return {
    app,
    body: (n) => `${count} modules, v${n}\n`,
    save: (n) => app.write(`lib/m${pad(target)}.ts`, moduleSource(target, n)),
  };
}

// ---------------------------------------------------------------- the client

/** Counts of one case's requests. */
interface Counts {
  requests: number;
  failed: number;
  /** Requests retried on a new connection: the server had closed (or reset) the reused one. */
  reconnects: number;
  /** Of those, how many saw a reset rather than a close. */
  resets: number;
  errors: string[];
}

/** A keep-alive poller that reopens its connection when the server closes it between requests. */
class Poller {
  /** New connection after `Connection: close` (restart mode's old process ends its connections that way) or a failure. */
  #session: KeepAliveSession;
  readonly counts: Counts = { requests: 0, failed: 0, reconnects: 0, resets: 0, errors: [] };
  constructor(readonly port: number) {
    this.#session = new KeepAliveSession(port);
  }

  #fail(message: string): void {
    this.counts.failed++;
    if (this.counts.errors.length < 5) this.counts.errors.push(message);
  }

  /** One GET /: the body, or `null` when the request failed (counted). */
  async get(): Promise<string | null> {
    this.counts.requests++;
    for (let attempt = 0; attempt < 2; attempt++) {
      const reused = this.#session.served > 0;
      try {
        const r = await this.#session.get("/", 5000);
        if (r.status !== 200) {
          this.#fail(`status ${r.status}: ${r.body.slice(0, 200)}`);
          return null;
        }
        return r.body;
      } catch (error) {
        const message = (error as Error).message;
        // The keep-alive race (RFC 9112 §9.3.1): the server closed an idle connection while the request was on its way.
        if (attempt === 0 && reused && /connection closed by the server|ECONNRESET/.test(message)) {
          if (/ECONNRESET/.test(message)) this.counts.resets++;
          this.counts.reconnects++;
          continue;
        }
        this.#fail(message);
        return null;
      }
    }
    return null;
  }

  /**
   * Poll until the body is `want` (returns the time it arrived) or the
   * deadline passes (returns null). Every body must be `want` or one of
   * `also`; anything else counts as a failed request.
   */
  async until(want: string, also: string[], deadline: number): Promise<number | null> {
    while (performance.now() < deadline) {
      const body = await this.get();
      const at = performance.now();
      if (body === want) return at;
      if (body !== null && !also.includes(body)) this.#fail(`unexpected body ${JSON.stringify(body.slice(0, 200))}`);
      await Bun.sleep(INTERVAL);
    }
    return null;
  }

  /** Keep polling for `ms`, every body must be `want`. */
  async hold(want: string, ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const body = await this.get();
      if (body !== null && body !== want) this.#fail(`unexpected body after the reload ${JSON.stringify(body.slice(0, 200))}`);
      await Bun.sleep(INTERVAL);
    }
  }

  close(): void {
    this.#session.close();
  }
}

// ---------------------------------------------------------------- one case

interface Result {
  name: string;
  saves: number;
  seen: number;
  latencies: number[];
  server: number[];
  counts: Counts;
  target?: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function runCase(name: CaseName): Promise<Result> {
  const bench = name === "modules" ? treeApp(MODULES) : helloApp();
  const label = name === "hello" ? "hello, in place" : name === "modules" ? `${MODULES} modules, in place` : "hello, --reload=restart";
  const target = name === "hello" ? 100 : name === "modules" && MODULES === 200 ? 500 : undefined;
  const port = freePort();
  const args = ["./app.ts", "--port", String(port), "--no-access-log", ...(name === "restart" ? ["--reload=restart"] : [])];
  const latencies: number[] = [];
  const server: number[] = [];
  let dev: DevProcess | undefined;
  let poller: Poller | undefined;
  // The temp app goes when the case ends, or when the script exits first (a signal: bench/children.ts).
  const removeApp = () => bench.app.remove();
  process.on("exit", removeApp);
  try {
    // Killed with the script too (a `kill PID` or a timeout reaches the script alone); in restart
    // mode its app process exits when tsgi-dev's IPC channel closes.
    const running = (dev = new DevProcess(args, { cwd: bench.app.dir, command }));
    ownChild(running.proc);
    await running.ready(30_000);
    poller = new Poller(port);
    const first = await poller.until(bench.body(0), [], performance.now() + 10_000);
    if (first === null) throw new Error(`the app never answered ${JSON.stringify(bench.body(0))}; output:\n${running.output}`);
    const logged = /(?:reloaded|restarted) in (\d+) ms/;
    for (let n = 1; n <= SAVES; n++) {
      await poller.hold(bench.body(n - 1), GAP);
      const from = running.output.length;
      const t0 = performance.now();
      bench.save(n);
      const at = await poller.until(bench.body(n), [bench.body(n - 1)], t0 + TIMEOUT);
      if (at === null) {
        console.error(`  ${name}: save ${n} not seen within ${TIMEOUT} ms; output since the save:\n${running.output.slice(from)}`);
        break;
      }
      latencies.push(at - t0);
      // The server's own figure is logged after the reload; give the line a moment to arrive.
      await until(() => logged.test(running.output.slice(from)) || null, 2000, 5).catch(() => null);
      const m = logged.exec(running.output.slice(from));
      if (m) server.push(Number(m[1]));
      process.stderr.write(`\r  ${label}: ${n}/${SAVES} saves, last ${Math.round(at - t0)} ms   `);
    }
    process.stderr.write("\n");
    await poller.hold(bench.body(latencies.length), GAP);
  } finally {
    poller?.close();
    await dev?.kill("SIGTERM");
    removeApp();
    process.off("exit", removeApp);
  }
  return { name: label, saves: SAVES, seen: latencies.length, latencies, server, counts: poller!.counts, target };
}

// ---------------------------------------------------------------- main

const results: Result[] = [];
const startedAt = new Date();
for (const c of selected) {
  try {
    results.push(await runCase(c));
  } catch (error) {
    console.error(`${c}: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

const runner = command ? `${command[0]!.replace(ROOT + "/", "")}` : `bun ${Bun.version} src/cli/dev.ts`;
const cpu = cpus();
console.log(`\ntsgi-dev reload latency: ${runner}, ${cpu.length} cores (${cpu[0]?.model.trim() ?? "?"}), ${process.platform}-${process.arch}, ${startedAt.toISOString().slice(0, 16)}Z`);
console.log(`save → first response with the new version; ${INTERVAL} ms poll interval on one keep-alive connection, ${GAP} ms between saves\n`);
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");
const rows: string[][] = [["case", "saves", "median ms", "p95 ms", "max ms", "server ms", "requests", "failed", "reconnects", "target", "met"]];
for (const r of results) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const serverSorted = [...r.server].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  rows.push([
    r.name,
    r.seen === r.saves ? String(r.saves) : `${r.seen}/${r.saves}`,
    fmt(median),
    fmt(quantile(sorted, 0.95)),
    fmt(sorted[sorted.length - 1] ?? NaN),
    fmt(quantile(serverSorted, 0.5)),
    String(r.counts.requests),
    String(r.counts.failed),
    r.counts.resets ? `${r.counts.reconnects} (${r.counts.resets} reset)` : String(r.counts.reconnects),
    r.target ? `< ${r.target} ms` : "-",
    r.target ? (median < r.target && r.seen === r.saves ? "yes" : "NO") : "-",
  ]);
  if (r.counts.failed || r.seen < r.saves) process.exitCode = 1;
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")} |`;
console.log(line(rows[0]!));
console.log(`|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 1) + "-" : "-".repeat(w + 1) + ":")).join("|")}|`);
for (const row of rows.slice(1)) console.log(line(row));
for (const r of results) for (const e of r.counts.errors) console.log(`  ${r.name}: ${e}`);
if (existsSync("/proc/loadavg")) {
  console.log(`\nload average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
}
