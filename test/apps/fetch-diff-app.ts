/**
 * One fetch app (`(request, server) => Response`) for test/fetch-diff.test.ts,
 * served both by `Bun.serve({ fetch })` and by tsgi (`fromFetchHandler`,
 * `tsgi serve`): each route shows what the app saw of the request, or
 * answers with one kind of `Response`. What happens out of band (a stream's
 * `cancel()`, `request.signal` aborting) goes to {@link events}, keyed by the
 * request's `X-Id` field, read back with `GET /events?id=...`.
 */
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

/** Out-of-band events by `X-Id`, in order. */
export const events = new Map<string, string[]>();

const note = (request: Request, what: string) => {
  const id = request.headers.get("x-id");
  if (id === null) return;
  let list = events.get(id);
  if (!list) events.set(id, (list = []));
  list.push(what);
};

/** A file served as `Bun.file()`: its type comes from the name. */
export const FILE = join(import.meta.dir, "..", "..", "fixtures", "static", "public", "data.json");

const enc = new TextEncoder();

/** `statusText`s that are no reason phrase (RFC 9112 §4), by index, for `/status-text-bad?i=`: LF, CR, a CRLF and a field after it, NUL, DEL, a char above 0xFF. */
export const BAD_STATUS_TEXTS = ["a\nb", "a\rb", "Fine\r\nX-Injected: 1", "a\u0000b", "a\u007fb", "\u0100 wide"];

/**
 * Where the files that change under a `Bun.file()` go (`/file-shrunk`,
 * `/file-shrinks`): `TSGI_FETCH_DIFF_SCRATCH`, a directory the test makes
 * and removes (both servers' processes see it), else one of this process's
 * own, removed at exit.
 */
let scratch: string | null = null;
const scratchFile = (name: string): string => {
  if (scratch === null) {
    scratch = process.env.TSGI_FETCH_DIFF_SCRATCH || null;
    if (scratch === null) {
      const dir = (scratch = mkdtempSync(join(tmpdir(), "tsgi-fetch-diff-")));
      process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    }
  }
  return join(scratch, name.replace(/[^\w-]/g, "_"));
};

type Server = { requestIP?(r: Request): { address: string; family: string; port: number } | null } | undefined;

async function handle(request: Request, server: Server): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  request.signal.addEventListener("abort", () => note(request, "aborted"), { once: true });
  switch (path) {
    case "/events":
      return Response.json(events.get(url.searchParams.get("id") ?? "") ?? []);
    case "/ip": {
      const ip = server?.requestIP?.(request) ?? null;
      return Response.json(ip && { address: ip.address, family: ip.family, portIsNumber: typeof ip.port === "number" && ip.port > 0 });
    }
    case "/text":
      return Response.json({ method: request.method, text: await request.text() });
    case "/json":
      return Response.json({ json: await request.json() });
    case "/arraybuffer":
      return Response.json({ bytes: [...new Uint8Array(await request.arrayBuffer())] });
    case "/form": {
      const form = await request.formData();
      const out: unknown[] = [];
      for (const [k, v] of form) out.push(typeof v === "string" ? [k, v] : [k, { name: v.name, type: v.type, size: v.size, text: await v.text() }]);
      return Response.json(out);
    }
    case "/pieces": {
      // request.body read in pieces: the total and the bytes, not the piece sizes (those are the transport's).
      if (request.body === null) return Response.json({ body: null });
      let total = 0;
      const parts: Uint8Array[] = [];
      for await (const piece of request.body) {
        total += piece.byteLength;
        parts.push(piece);
      }
      return Response.json({ total, text: new TextDecoder().decode(Buffer.concat(parts)) });
    }
    case "/cookies": {
      const h = new Headers({ "content-type": "text/plain" });
      h.append("Set-Cookie", "a=1; Path=/");
      h.append("Set-Cookie", "b=2; HttpOnly");
      h.append("X-Dup", "1");
      h.append("X-Dup", "2");
      h.set("X-CamelCase", "v");
      return new Response("c", { headers: h });
    }
    case "/stream-slow": {
      // A long streamed body: a chunk every 20 ms (at most 200), cancel() and the abort noted.
      let n = 0;
      return new Response(
        new ReadableStream({
          async pull(c) {
            if (n++ > 0) await Bun.sleep(20);
            if (n > 200) return c.close();
            c.enqueue(enc.encode(`chunk ${n}\n`));
          },
          cancel: () => note(request, "cancelled"),
        }),
      );
    }
    case "/stream-idle": {
      // An event stream with nothing more to send (a pub/sub waiting for an event): one chunk, then a
      // pull that waits (at most 3 s) until cancel() ends the wait; cancel() and the abort noted.
      let sent = false;
      let stop: (() => void) | null = null;
      return new Response(
        new ReadableStream({
          async pull(c) {
            if (!sent) {
              sent = true;
              // 100 ms in (a client that closes on it does so past the 50 ms in which tsgi takes a FIN for a
              // half-close with the request, HALF_CLOSE_GRACE_MS in src/fetch/from-fetch.ts).
              await Bun.sleep(100);
              return c.enqueue(enc.encode("first event\n"));
            }
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 3000);
              stop = () => (clearTimeout(timer), resolve());
            });
            c.close();
          },
          cancel: () => {
            note(request, "cancelled");
            stop?.();
          },
        }),
      );
    }
    case "/slow-upload": {
      // Reads the body; notes how the read ended.
      try {
        await request.text();
        note(request, "read done");
      } catch (error) {
        note(request, `read failed: ${(error as Error)?.name}`);
      }
      return new Response("ok");
    }
    case "/stream-error":
      return new Response(
        new ReadableStream({
          async pull(c) {
            c.enqueue(enc.encode("part one\n"));
            await Bun.sleep(30);
            c.error(new Error("boom midway"));
          },
        }),
      );
    case "/response-json":
      return Response.json({ a: 1, b: [true, null] }, { status: 201 });
    case "/redirect":
      return Response.redirect("http://example.test/elsewhere", 301);
    case "/redirect-relative":
      return Response.redirect("/elsewhere");
    case "/blob":
      return new Response(new Blob(["blob body"], { type: "application/x-custom" }));
    case "/file":
      return new Response(Bun.file(FILE));
    case "/file-shrunk": {
      // A file that shrinks after the app took its size (for an ETag, a check), before it is sent.
      const path = scratchFile(`shrunk-${url.searchParams.get("id")}`);
      writeFileSync(path, "part and more");
      const file = Bun.file(path);
      void file.size;
      writeFileSync(path, "part");
      return new Response(file);
    }
    case "/file-shrinks": {
      // A 16 MiB file the client shrinks while it is sent (its path in X-Path).
      const path = scratchFile(`shrinks-${url.searchParams.get("id")}`);
      writeFileSync(path, new Uint8Array(16 << 20).fill(97));
      return new Response(Bun.file(path), { headers: { "X-Path": path } });
    }
    case "/204-with-body":
      return new Response("not sent", { status: 204, headers: { "X-Note": "none" } });
    case "/304":
      return new Response("not sent either", { status: 304, headers: { ETag: "\"v1\"" } });
    case "/205-with-body":
      return new Response("not sent", { status: 205 });
    case "/304-bytes":
      return new Response(new Uint8Array([1, 2, 3]), { status: 304 });
    case "/304-file":
      return new Response(Bun.file(FILE), { status: 304 });
    case "/304-file-etag":
      return new Response(Bun.file(FILE), { status: 304, headers: { ETag: "\"v1\"" } });
    case "/204-blob-typed":
      return new Response(new Blob(["not sent"], { type: "application/x-custom" }), { status: 204 });
    case "/205-form":
      return new Response(new URLSearchParams("a=1"), { status: 205 });
    case "/status-text":
      return new Response("fine", { statusText: "Fine" });
    case "/status-text-bad": {
      // A statusText no reason phrase may be (Bun's Response takes it; the Fetch standard's refuses it).
      const statusText = BAD_STATUS_TEXTS[Number(url.searchParams.get("i"))];
      const status = Number(url.searchParams.get("status") ?? 200);
      const body = url.searchParams.has("stream") ? new ReadableStream({ pull: (c) => (c.enqueue(enc.encode("body")), c.close()) }) : "body";
      return new Response(body, { status, statusText });
    }
    case "/hello":
      return new Response("hello world");
    case "/connection-close":
      // The app asks for the connection to close after this response (a draining server, a client to move).
      return new Response("bye", { headers: { Connection: "close" } });
    case "/connection-close-stream":
      return new Response(new ReadableStream({ pull: (c) => (c.enqueue(enc.encode("bye")), c.close()) }), { headers: { Connection: "keep-alive, Close" } });
    case "/bytes-utf8":
      return new Response(enc.encode("bytes that read as text"));
    case "/arraybuffer-zeros":
      return new Response(new ArrayBuffer(4));
    case "/blob-of-bytes":
      return new Response(new Blob([enc.encode("blob of bytes")]));
    case "/bytes-binary":
      return new Response(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00]));
    case "/empty":
      return new Response("");
    case "/null-headers":
      return new Response(null, { headers: { "X-Empty": "yes" } });
    case "/wrong-length":
      return new Response("hello world", { headers: { "Content-Length": "5" } });
    case "/clone": {
      // request.clone(), then both bodies read.
      const copy = request.clone();
      const [a, b] = await Promise.all([request.text(), copy.text()]);
      return Response.json({ a, b });
    }
    case "/async-generator":
      // An async generator as the body (Bun takes one): strings and bytes.
      return new Response(
        (async function* () {
          yield "gen one, ";
          await Bun.sleep(5);
          yield enc.encode("gen two");
        })() as unknown as ReadableStream,
      );
    case "/204-stream":
      return new Response(new ReadableStream({ pull: (c) => (c.enqueue(enc.encode("not sent")), c.close()) }), { status: 204 });
    case "/304-stream":
      return new Response(new ReadableStream({ pull: (c) => (c.enqueue(enc.encode("not sent")), c.close()) }), { status: 304, headers: { ETag: '"s"' } });
    case "/cookies-init":
      // Set-Cookie and a repeated field given as an init array of pairs.
      return new Response("c", { headers: [["Set-Cookie", "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT"], ["Set-Cookie", "b=2"], ["X-A", "1"], ["X-A", "2"]] });
    case "/blob-type": {
      const blob = await request.blob();
      return Response.json({ type: blob.type, size: blob.size, setCookie: request.headers.getSetCookie() });
    }
    case "/stream-at-once":
      // A stream that has all of its body at once.
      return new Response(new ReadableStream({ pull: (c) => (c.enqueue(enc.encode("s1")), c.enqueue(enc.encode("s2")), c.close()) }));
    case "/stream-bad-length":
      // A streamed body under a Content-Length that is no length (a Headers given it twice joins "5, 5").
      return new Response(new ReadableStream({ pull: (c) => (c.enqueue(enc.encode("12345")), c.close()) }), { headers: { "Content-Length": url.searchParams.get("v") ?? "" } });
    case "/stream-own-length":
      // A streamed body with a Content-Length of its own (a proxied upstream's), its bytes over 100 ms.
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode("12"));
            await Bun.sleep(100);
            c.enqueue(enc.encode("345"));
            c.close();
          },
        }),
        { headers: { "Content-Length": "5", "Content-Type": "text/plain" } },
      );
    case "/content-type-empty": {
      // An app's empty Content-Type (to say no type), over each kind of body.
      const kind = url.searchParams.get("body");
      const body = kind === "string" ? "x" : kind === "bytes" ? enc.encode("x") : kind === "blob" ? new Blob(["x"], { type: "text/x-typed" }) : new ReadableStream({ start: (c) => (c.enqueue(enc.encode("x")), c.close()) });
      return new Response(body, { headers: { "Content-Type": "" } });
    }
    case "/status-101":
      return new Response(null, { status: 101 });
    case "/throw":
      throw new Error("handler failed");
    case "/not-response":
      return 42 as unknown as Response;
    case "/gzip":
      return new Response(gzipSync("compressed text ".repeat(20)), { headers: { "Content-Encoding": "gzip", "Content-Type": "text/plain" } });
    default:
      // What the app saw of the request.
      return Response.json({
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        cookie: request.headers.get("cookie"),
        hasBody: request.body !== null,
      });
  }
}

export default { fetch: handle };
