/**
 * An application that reuses one 8-byte buffer for all its chunks (spec.md
 * "The body", "The write() callable"): filled with a, b, c, d in turn and
 * spoiled with "!" once done. At PATH_INFO `/write` it passes the buffer to
 * write() four times without awaiting; elsewhere it yields it from a
 * generator (spoiled in its `finally`). A server or handler that takes the
 * bytes when it should sends `aaaaaaaabbbbbbbbccccccccdddddddd`.
 */
import type { Application } from "../../src/spec.ts";

export const REUSED_BODY = "aaaaaaaabbbbbbbbccccccccdddddddd";

export const reuseOneBuffer: Application = (environ, startResponse) => {
  const write = startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
  const buf = new Uint8Array(8);
  if (environ.PATH_INFO === "/write") {
    for (let i = 0; i < 4; i++) {
      buf.fill(0x61 + i);
      void write(buf);
    }
    buf.fill(0x21);
    return [];
  }
  return (function* () {
    try {
      for (let i = 0; i < 4; i++) {
        buf.fill(0x61 + i);
        yield buf;
      }
    } finally {
      buf.fill(0x21);
    }
  })();
};
