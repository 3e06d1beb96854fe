/**
 * Throughput of the hello endpoint: tsgi vs Bun.serve vs node:http, in one run.
 *
 * Each server runs in its own process pinned to CPU 0 (taskset); wrk runs on
 * CPU 1. Servers are measured interleaved (A B C A B C ...) over several rounds
 * and the median requests/s is reported, with the ratio to Bun.serve.
 *
 * "tsgi+log" is tsgi with its access log on (written to /dev/null).
 *
 * Usage: bun bench/hello.ts [--rounds 3] [--duration 5] [--connections 50] [--pipeline 1] [--post 4096] [--only tsgi,Bun.serve]
 * Needs wrk (apt-get install wrk) and taskset (util-linux).
 */
import { parseArgs } from "node:util";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "50" },
    pipeline: { type: "string", default: "1" },
    post: { type: "string", default: "0" },
    only: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const connections = Number(values.connections);
const pipeline = Number(values.pipeline);
const postBytes = Number(values.post);

if (!Bun.which("wrk")) {
  console.error("wrk is not installed: apt-get install wrk");
  process.exit(2);
}
const pin = Bun.which("taskset") ? ["taskset", "-c"] : null;
const root = join(import.meta.dir, "..");
const bun = process.execPath;
const node = Bun.which("node");

interface Target {
  name: string;
  cmd: (port: number) => string[];
}
const tsgiCmd = (p: number) => [bun, join(root, "bench/servers/tsgi.ts"), String(p), postBytes ? "echo" : "hello"];
const targets: Target[] = [
  { name: "tsgi", cmd: tsgiCmd },
  { name: "tsgi+log", cmd: (p: number) => ["env", "TSGI_BENCH_LOG=1", ...tsgiCmd(p)] },
  { name: "Bun.serve", cmd: (p: number) => [bun, join(root, "bench/servers/bun-serve.ts"), String(p)] },
  ...(node ? [{ name: "node:http", cmd: (p: number) => [node, join(root, "bench/servers/node-http.mjs"), String(p)] }] : []),
].filter((t) => !values.only || values.only.split(",").includes(t.name));

// wrk Lua script for pipelining and POST bodies.
const dir = mkdtempSync(join(tmpdir(), "tsgi-bench-"));
const script = join(dir, "script.lua");
const body = postBytes ? "x".repeat(postBytes) : "";
writeFileSync(
  script,
  `init = function(args)
  local r = {}
  for i = 1, ${pipeline} do
    r[i] = wrk.format(${postBytes ? `"POST", "/", {["Content-Type"]="application/octet-stream"}, string.rep("x", ${postBytes})` : `"GET", "/"`})
  end
  req = table.concat(r)
end
request = function() return req end
`,
);
void body;

async function startServer(t: Target, port: number) {
  const cmd = t.cmd(port);
  const proc = Bun.spawn(pin ? [...pin, "0", ...cmd] : cmd, { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const deadline = Date.now() + 10000;
  let out = "";
  while (!out.includes("ready") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  if (!out.includes("ready")) throw new Error(`${t.name} did not start`);
  return proc;
}

async function runWrk(port: number): Promise<{ rps: number; errors: number; p99: string }> {
  const args = ["wrk", "-t1", `-c${connections}`, `-d${duration}s`, "--latency", "-s", script, `http://127.0.0.1:${port}/`];
  const proc = Bun.spawn(pin ? [...pin, "1", ...args] : args, { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0) * 1;
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const errors = (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  const p99 = /99%\s+(\S+)/.exec(text)?.[1] ?? "?";
  return { rps, errors, p99 };
}

// wrk counts every response, pipelined or not, so its Requests/sec is already per request.
const results = new Map<string, number[]>();
const p99s = new Map<string, string[]>();
let errorsTotal = 0;
let port = 19000 + Math.floor(Math.random() * 1000);
for (let round = 0; round < rounds; round++) {
  for (const t of targets) {
    const p = port++;
    const proc = await startServer(t, p);
    const r = await runWrk(p);
    proc.kill();
    await proc.exited;
    const rps = r.rps;
    (results.get(t.name) ?? results.set(t.name, []).get(t.name)!).push(rps);
    (p99s.get(t.name) ?? p99s.set(t.name, []).get(t.name)!).push(r.p99);
    errorsTotal += r.errors;
    console.error(`round ${round + 1} ${t.name}: ${Math.round(rps)} req/s, p99 ${r.p99}, errors ${r.errors}`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(results.get("Bun.serve") ?? [1]);
console.log(
  `\nhello ${postBytes ? `POST ${postBytes} B echo` : "GET"}, ${connections} connections, pipeline ${pipeline}, ${rounds} rounds x ${duration}s (median):`,
);
console.log("| server | requests/s | vs Bun.serve | p99 latency |");
console.log("|---|---:|---:|---:|");
for (const t of targets) {
  const m = median(results.get(t.name)!);
  console.log(`| ${t.name} | ${Math.round(m)} | ${(m / base).toFixed(2)}x | ${p99s.get(t.name)!.join(" / ")} |`);
}
console.log(`socket errors + non-2xx: ${errorsTotal}`);
