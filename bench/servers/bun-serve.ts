/**
 * Benchmark target: the same endpoints on Bun.serve. Usage: bun bench/servers/bun-serve.ts PORT [fetch|hono]
 * (`fetch`, `hono`: bench/servers/fetch-apps.ts's fetch handler, as tsgi.ts serves it through `fromFetchHandler`.)
 */
import { fetchApps, isFetchApp } from "./fetch-apps.ts";
import { serverArgs, usageError } from "../args.ts";

const USAGE = "bun bench/servers/bun-serve.ts PORT [fetch|hono]";
const { port, rest } = serverArgs(USAGE, 9002);
const mode = rest[0];
const stray = rest.find((word, i) => i > 0 || !isFetchApp(word));
if (stray !== undefined) usageError(USAGE, `unexpected argument ${JSON.stringify(stray)}`);
/** The hello and echo endpoints of the other servers. */
async function hello(req: Request): Promise<Response> {
  if (req.method === "POST") {
    return new Response(await req.arrayBuffer(), { headers: { "Content-Type": "application/octet-stream" } });
  }
  return new Response("Hello, world!\n", { headers: { "Content-Type": "text/plain" } });
}
Bun.serve({ hostname: "127.0.0.1", port, fetch: isFetchApp(mode) ? fetchApps[mode] : hello });
console.log("ready");
