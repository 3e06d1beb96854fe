/**
 * The app the nginx tests serve: reports what it sees, streams, and reads
 * uploads; /noread refuses an upload without reading it (a 401 to a large POST).
 */
import type { Application } from "../../src/spec.ts";

const enc = new TextEncoder();

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
  if (path === "/noread") {
    startResponse("401 Unauthorized", [["Content-Type", "text/plain"]]);
    return [enc.encode("log in first\n")];
  }
  let bodyBytes = 0;
  let sum = 0;
  if (environ.REQUEST_METHOD === "POST") {
    const input = environ["tsgi.input"];
    for (;;) {
      const chunk = await input.read(65536);
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
