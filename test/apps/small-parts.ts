/**
 * Applications that send many small parts, for the output-backlog tests
 * (test/server-output-backlog.test.ts). Each reuses one buffer, refilled
 * before every part with the part's index (`partBytes`), so that a part sent
 * twice, lost or changed after it was handed over shows in the body.
 *
 * `GET /writes?n=N&size=S`: N unawaited `write()` calls of S bytes (PEP 3333
 * style), chunked. `GET /yield?n=N&size=S`: a generator of N chunks of S
 * bytes. `&length=1` declares Content-Length instead. `GET /array?n=N&size=S`:
 * those N parts joined, returned as an array body of one chunk (Content-Length;
 * `&async=1`: the app awaits first, so the response ends outside the read
 * that brought the request); `GET /file?n=N&size=S`: the same bytes as a
 * `tsgi.file_wrapper` over a `Blob`.
 *
 * Run as a script (`bun test/apps/small-parts.ts`), it serves these on a
 * free port of 127.0.0.1 and prints `listening <port> <pid>`; SIGTERM stops it.
 */
import { serve } from "../../src/server/index.ts";
import type { Application } from "../../src/spec.ts";

/** Fill `buf` with part `i`'s bytes: its index in decimal, then '.' up to its size. */
function fillPart(buf: Uint8Array, i: number): void {
  buf.fill(0x2e);
  const s = String(i);
  for (let k = 0; k < s.length && k < buf.length; k++) buf[k] = s.charCodeAt(k);
}

/** The body the apps send for `n` parts of `size` bytes. */
export function partBytes(n: number, size: number): Buffer {
  const out = Buffer.alloc(n * size);
  for (let i = 0; i < n; i++) fillPart(out.subarray(i * size, (i + 1) * size), i);
  return out;
}

export const smallParts: Application = (environ, startResponse) => {
  const q = new URLSearchParams(environ.QUERY_STRING);
  const n = Number(q.get("n") ?? 1000);
  const size = Number(q.get("size") ?? 16);
  if (environ.PATH_INFO === "/array" || environ.PATH_INFO === "/file") {
    const body = partBytes(n, size);
    const respond = () => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
      return environ.PATH_INFO === "/file" ? environ["tsgi.file_wrapper"]!(new Blob([body])) : [body];
    };
    return q.get("async") === "1" ? Promise.resolve().then(respond) : respond();
  }
  const headers: Array<[string, string]> = [["Content-Type", "application/octet-stream"]];
  if (q.get("length") === "1") headers.push(["Content-Length", String(n * size)]);
  const write = startResponse("200 OK", headers);
  const buf = new Uint8Array(size);
  if (environ.PATH_INFO === "/writes") {
    for (let i = 0; i < n; i++) {
      fillPart(buf, i);
      void write(buf);
    }
    return [];
  }
  return (function* () {
    for (let i = 0; i < n; i++) {
      fillPart(buf, i);
      yield buf;
    }
  })();
};

if (import.meta.main) {
  const server = serve(smallParts, { hostname: "127.0.0.1", port: 0, log: null });
  process.on("SIGTERM", () => void server.close({ timeout: 100 }).then(() => process.exit(0)));
  console.log(`listening ${server.port} ${process.pid}`);
}
