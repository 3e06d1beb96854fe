/**
 * Gateway edges found uncovered by a hand mutation pass over src/gateway/
 * (each test names the mutant it catches), on real sockets: a file
 * wrapper's source (a pipe) left when the client leaves or the app's
 * Content-Length is sent.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import type { Application } from "../src/spec.ts";
import { enc, get, parseResponses, raw, serverPool } from "./helpers.ts";

const start = serverPool();
const dir = mkdtempSync(join(tmpdir(), "tsgi-gateway-edges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** This process's open descriptors whose target is `path` (Linux /proc). */
function openOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** A FIFO whose writer writes a line, then holds the pipe open 5 s before closing it. */
function quietPipe(name: string): string {
  const path = join(dir, name);
  Bun.spawnSync(["mkfifo", path]);
  Bun.spawn(["sh", "-c", `printf 'from a pipe\\n' > "$1"; exec 3>"$1"; sleep 5`, "sh", path], { stdout: "ignore", stderr: "ignore" });
  return path;
}

/** Wait (up to 2 s) until no descriptor of this process is open on `path`; how many still are. */
async function closedSoon(path: string): Promise<number> {
  let open = openOn(path);
  for (let k = 0; k < 100 && open > 0; k++) {
    await Bun.sleep(20);
    open = openOn(path);
  }
  return open;
}

describe("a file wrapper of a pipe whose writer stays open (Bun.file() of a FIFO: no size)", () => {
  test.skipIf(process.platform !== "linux")("the client resets while the server waits for the pipe: the pipe's read end is closed at once, not when the writer next writes", async () => {
    // (Mutant: abandon() no longer cancels the pending read of the file's stream: it held the pipe until the writer closed it, 5 s.)
    const s = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return environ["tsgi.file_wrapper"]!(Bun.file(String(environ.QUERY_STRING)));
    });
    const path = quietPipe("left.fifo");
    // A client that resets once the first bytes came (a FIN alone is a half-close: such a client still reads, spec.md).
    const got = await new Promise<string>((resolve) => {
      let data = "";
      const sock = connect(s.port, "127.0.0.1", () => sock.write(get(`/stream?${path}`)));
      const timer = setTimeout(() => (sock.destroy(), resolve(data)), 4000);
      sock.on("data", (d) => {
        data += d.toString("latin1");
        if (data.includes("from a pipe")) {
          clearTimeout(timer);
          sock.resetAndDestroy();
          resolve(data);
        }
      });
      sock.on("error", () => {});
    });
    expect(got).toContain("from a pipe\n");
    expect(await closedSoon(path)).toBe(0);
  });

  test.skipIf(process.platform !== "linux")("under a Content-Length: the response ends at that length and the next request on the connection is answered at once; Content-Length 0 sends none of it", async () => {
    // (Mutants: in sendBlob's loop over an unsized source, `if (left === 0) break` dropped: the read went on until the writer
    // closed the pipe, 5 s, and the next request waited; its finally's reader.cancel() dropped: the pipe stayed open, only released.)
    const app: Application = (environ, sr) => {
      if (environ.PATH_INFO === "/next") {
        sr("200 OK", [["Content-Length", "4"]]);
        return [enc("next")];
      }
      sr("200 OK", [["Content-Length", environ.PATH_INFO === "/zero" ? "0" : "4"]]);
      return environ["tsgi.file_wrapper"]!(Bun.file(String(environ.QUERY_STRING)));
    };
    const s = start(app);
    for (const [name, target, body] of [
      ["four.fifo", "/four", "from"],
      ["zero.fifo", "/zero", ""],
    ] as const) {
      const path = quietPipe(name);
      const started = Date.now();
      const r = await raw(s.port, [get(`${target}?${path}`), get("/next")], { until: (d) => d.includes("next"), timeoutMs: 4000 });
      expect({ target, responses: parseResponses(r.data).map((x) => [x.status, x.body.toString()]) }).toEqual({
        target,
        responses: [
          [200, body],
          [200, "next"],
        ],
      });
      expect(Date.now() - started).toBeLessThan(3000);
      // The pipe's read end is closed now (its writer still holds the other end), not when collected.
      expect({ target, open: await closedSoon(path) }).toEqual({ target, open: 0 });
    }
    expect(s.errors.join("")).toBe("");
  }, 20_000);
});
