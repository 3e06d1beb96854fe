/**
 * What walking a request's environ costs (not a test): `for...in` against
 * `Object.keys()`, over environs shaped as the tsgi server makes them, in ns
 * per walk (the median of `--runs` runs, each walking `--objects` environs
 * once). Each shape gets walk functions of its own, so that one shape's
 * inline caches do not slow another's.
 *
 * - in process: an environ as `buildEnviron` makes it (the first request
 *   with a head), as `environFrom` copies it (a repeated head), and the copy
 *   with `tsgi.signal` (`defineSignal`, what `requestSignal` and a fetch
 *   handler's `WANTS_SIGNAL` add: an enumerable accessor and a symbol key
 *   for its source); then the copy with only a symbol key, and with only an
 *   accessor, to show that either alone costs `for...in` its fast path
 *   (JavaScriptCore enumerates a structure with an accessor, a symbol or a
 *   non-enumerable property in its generic mode);
 * - `--socket`: `serve()` in this process on a port the system picks
 *   (127.0.0.1), `requestSignal` off then on, `--requests` keep-alive GETs
 *   with `fetch()`; the app times 50 walks of its own environ per request.
 *   `...+values` walks also read each string value (skipping `tsgi.signal`,
 *   whose first read makes an `AbortController`).
 *
 * Usage: bun bench/environ-walk.ts [--runs 15] [--objects 2000] [--socket] [--requests 3000]
 * Figures move by a factor of up to 2 between runs on a loaded machine; the
 * ratio between `for...in` and `Object.keys()` on one shape is what to read.
 */
import { buildEnviron, environFrom, environTemplate, type EnvironSource } from "../src/gateway/environ.ts";
import { RequestInput } from "../src/gateway/input.ts";
import { defineSignal, RequestSignal } from "../src/gateway/signal.ts";
import { serve } from "../src/server/index.ts";
import type { Environ, ErrorStream } from "../src/spec.ts";
import { benchArgs, numberArg } from "./args.ts";

const usage = "bun bench/environ-walk.ts [--runs 15] [--objects 2000] [--socket] [--requests 3000]";
const values = benchArgs(usage, { runs: { type: "string" }, objects: { type: "string" }, socket: { type: "boolean" }, requests: { type: "string" } });
const runs = numberArg(usage, "runs", values.runs, 15, { min: 1, integer: true });
const objects = numberArg(usage, "objects", values.objects, 2000, { min: 1, integer: true });
const requests = numberArg(usage, "requests", values.requests, 3000, { min: 1, integer: true });

type Walk = (environ: Environ) => number;
/** Fresh walk functions (their own inline caches): key lengths summed, and string values' lengths summed. */
function walks(): Record<string, Walk> {
  return {
    "for...in": new Function("o", "let n = 0; for (const k in o) n += k.length; return n;") as Walk,
    "Object.keys": new Function("o", "let n = 0; const ks = Object.keys(o); for (let i = 0; i < ks.length; i++) n += ks[i].length; return n;") as Walk,
    "for...in+values": new Function("o", "let n = 0; for (const k in o) { if (k === 'tsgi.signal') continue; const v = o[k]; if (typeof v === 'string') n += v.length; } return n;") as Walk,
    "Object.keys+values": new Function("o", "let n = 0; const ks = Object.keys(o); for (let i = 0; i < ks.length; i++) { const k = ks[i]; if (k === 'tsgi.signal') continue; const v = o[k]; if (typeof v === 'string') n += v.length; } return n;") as Walk,
  };
}
/** The middle value, or the mean of the middle two for an even count (`--runs 2`: not the slower run). */
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const row = (name: string, figures: Record<string, number>) =>
  console.log(`${name.padEnd(28)} ${Object.entries(figures).map(([k, v]) => `${k} ${v.toFixed(0).padStart(4)}`).join("   ")}  ns/walk`);
let sink = 0;

if (!values.socket) {
  const errors: ErrorStream = { flush() {}, write() {}, writelines() {} };
  const input = new RequestInput(null);
  // wrk's GET, as the parser gives its fields.
  const src: EnvironSource = {
    method: "GET", target: "/hello?x=1", version: "HTTP/1.1",
    fields: ["Host", "127.0.0.1:8000", "User-Agent", "wrk", "Accept", "*/*", "Accept-Encoding", "gzip", "Connection", "keep-alive"],
    remoteAddr: "127.0.0.1", remotePort: 40000, serverName: "127.0.0.1", serverPort: 8000, urlScheme: "http", input, errors,
  };
  const defaults = { serverSoftware: "tsgi" };
  const template = environTemplate(buildEnviron(src, defaults), input);
  const SYMBOL = Symbol("bench");
  const ACCESSOR = { get: () => 1, set: () => {}, enumerable: true, configurable: true };
  const shapes: Record<string, () => Environ> = {
    "built (buildEnviron)": () => buildEnviron(src, defaults),
    "copied (environFrom)": () => environFrom(template, input),
    "copied + tsgi.signal": () => {
      const environ = environFrom(template, input);
      defineSignal(environ, new RequestSignal());
      return environ;
    },
    "copied + a symbol key only": () => {
      const environ = environFrom(template, input) as Environ & Record<symbol, unknown>;
      environ[SYMBOL] = 1;
      return environ;
    },
    "copied + an accessor only": () => {
      const environ = environFrom(template, input);
      Object.defineProperty(environ, "tsgi.signal", ACCESSOR);
      return environ;
    },
  };
  console.log(`in process: ${Object.keys(template).length} keys; median of ${runs} runs over ${objects} environs`);
  for (const [name, make] of Object.entries(shapes)) {
    const environs = Array.from({ length: objects }, make);
    const figures: Record<string, number> = {};
    for (const [label, walk] of Object.entries(walks())) {
      const times: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = Bun.nanoseconds();
        for (let i = 0; i < objects; i++) sink += walk(environs[i]!);
        times.push((Bun.nanoseconds() - t0) / objects);
      }
      figures[label] = median(times);
    }
    row(name, figures);
  }
} else {
  const REPS = 50;
  console.log(`over a socket: median over the last ${Math.min(requests, 2000)} of ${requests} requests, ${REPS} walks each`);
  for (const requestSignal of [false, true]) {
    const w = walks();
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(w).map((k) => [k, []]));
    let keys = 0;
    const body = new TextEncoder().encode("ok");
    const server = serve(
      (environ, startResponse) => {
        keys = Object.keys(environ).length;
        for (const [label, walk] of Object.entries(w)) {
          const t0 = Bun.nanoseconds();
          for (let i = 0; i < REPS; i++) sink += walk(environ);
          times[label]!.push((Bun.nanoseconds() - t0) / REPS);
        }
        startResponse("200 OK", [["Content-Length", "2"]]);
        return [body];
      },
      { hostname: "127.0.0.1", port: 0, log: null, requestSignal },
    );
    try {
      for (let i = 0; i < requests; i++) await (await fetch(`http://127.0.0.1:${server.port}/hello?x=1`)).arrayBuffer();
    } finally {
      await server.close({ timeout: 1000 });
    }
    row(`requestSignal ${requestSignal ? "on " : "off"} (${keys} keys)`, Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v.slice(-2000))])));
  }
}
if (sink === 0) console.log("(nothing walked)");
