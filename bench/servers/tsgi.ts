/**
 * Benchmark target: the hello endpoint on tsgi (access log off unless TSGI_BENCH_LOG=1).
 * Usage: bun bench/servers/tsgi.ts PORT [hello|echo|fetch|hono]
 * (`fetch`, `hono`: bench/servers/fetch-apps.ts's fetch handler through `fromFetchHandler`.)
 */
import { stdoutLog } from "../../src/deploy/stdio.ts";
import { serve } from "../../src/server/index.ts";
import type { Application } from "../../src/spec.ts";
import { fromFetchHandler } from "../../src/fetch/index.ts";
import { fetchApps, isFetchApp } from "./fetch-apps.ts";
import { serverArgs, usageError } from "../args.ts";

const USAGE = "bun bench/servers/tsgi.ts PORT [hello|echo|fetch|hono]";
const { port, rest } = serverArgs(USAGE, 9001);
// A misspelt mode is refused, not served as hello (and measured as something it is not).
const stray = rest.find((word, i) => i > 0 || !["hello", "echo", "fetch", "hono"].includes(word));
if (stray !== undefined) usageError(USAGE, `unexpected argument ${JSON.stringify(stray)}`);
const body = new TextEncoder().encode("Hello, world!\n");
const app: Application = async (environ, startResponse) => {
  if (environ.REQUEST_METHOD === "POST") {
    const data = await environ["tsgi.input"].read();
    startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
    return [data];
  }
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [body];
};
const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [body];
};
// TSGI_BENCH_LOG=1: access log on, written to stdout as `tsgi serve` writes it
// (bench/hello.ts points stdout at /dev/null; this measures the logging cost).
const log = process.env.TSGI_BENCH_LOG === "1" ? stdoutLog : null;
const mode = rest[0];
serve(mode === "echo" ? app : isFetchApp(mode) ? fromFetchHandler(fetchApps[mode]) : hello, { port, log, keepAliveTimeout: 60000 });
console.log("ready");
