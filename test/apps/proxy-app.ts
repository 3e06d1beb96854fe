/**
 * The app the nginx tests serve: reports what it sees, streams, and reads
 * uploads; /noread refuses an upload without reading it (a 401 to a large POST);
 * /events is a long event stream; /ended lists the streams closed and the
 * upload reads failed because a client left (by their ?id=).
 */
import type { Application } from "../../src/spec.ts";

const enc = new TextEncoder();
/** What the app saw end early, by request id: a body's close() after a client left, a read that rejected. */
const ended: string[] = [];

const app: Application = async (environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path === "/stream") {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return (async function* () {
      for (let i = 0; i < 4; i++) {
        yield enc.encode(`part ${i}\n`);
        await Bun.sleep(150);
      }
    })();
  }
  const id = new URLSearchParams(environ.QUERY_STRING ?? "").get("id") ?? "";
  if (path === "/ended") {
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [enc.encode(JSON.stringify(ended))];
  }
  if (path === "/events") {
    // A long event stream: only a client that leaves ends it early.
    startResponse("200 OK", [["Content-Type", "text/event-stream"], ["Cache-Control", "no-cache"]]);
    let sent = 0;
    return {
      async *[Symbol.asyncIterator]() {
        for (; sent < 200; sent++) {
          yield enc.encode(`data: ${sent}\n\n`);
          await Bun.sleep(50);
        }
      },
      close() {
        if (sent < 200) ended.push(`events ${id} closed`);
      },
    };
  }
  if (path === "/noread") {
    startResponse("401 Unauthorized", [["Content-Type", "text/plain"]]);
    return [enc.encode("log in first\n")];
  }
  let bodyBytes = 0;
  let sum = 0;
  if (environ.REQUEST_METHOD === "POST") {
    const input = environ["tsgi.input"];
    for (;;) {
      let chunk: Uint8Array;
      try {
        chunk = await input.read(65536);
      } catch (error) {
        if (id) ended.push(`upload ${id} read failed`);
        throw error;
      }
      if (chunk.length === 0) break;
      bodyBytes += chunk.length;
      for (const b of chunk) sum = (sum + b) % 1_000_000_007;
    }
  }
  const keys = ["REMOTE_ADDR", "REMOTE_PORT", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "HTTP_HOST", "HTTPS", "tsgi.url_scheme", "tsgi.proxy_peer", "tsgi.proxy_peer_port", "HTTP_TRANSFER_ENCODING", "CONTENT_LENGTH"];
  const out: Record<string, unknown> = { bodyBytes, sum, pid: process.pid };
  for (const k of keys) if (environ[k] !== undefined) out[k] = environ[k];
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [enc.encode(JSON.stringify(out))];
};

export default app;
