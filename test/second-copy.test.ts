/**
 * An app that imports its own `tsgi` while another copy of tsgi serves it:
 * a global `npm install -g tsgi` running `tsgi serve ./app.ts`, the
 * compiled `tsgi-dev` binary (its tsgi is bundled), or two versions in a
 * monorepo. The app's `instanceof ClientDisconnected` / `HttpError` must
 * recognise the server's errors, and the app's `validator()` and
 * `new FileWrapper()` must know file wrappers the other copy made.
 * The second copy is this checkout's src/ copied to a temporary directory.
 */
import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Application } from "../src/spec.ts";
import { rawOne, serverPool } from "./helpers.ts";

const root = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "tsgi-second-copy-"));
cpSync(join(root, "src"), join(dir, "src"), { recursive: true });
cpSync(join(root, "package.json"), join(dir, "package.json"));
symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The app's tsgi: another module instance, with its own classes.
const copy = (await import(join(dir, "src/index.ts"))) as typeof import("../src/index.ts");
const startServer = serverPool();
const enc = (s: string) => new TextEncoder().encode(s);

test("the copy is another instance of tsgi", async () => {
  const own = await import("../src/index.ts");
  expect(copy.ClientDisconnected).not.toBe(own.ClientDisconnected);
  expect(copy.HttpError).not.toBe(own.HttpError);
  // Ordinary instanceof still holds both ways, and a plain Error is neither.
  expect(new copy.ClientDisconnected() instanceof copy.ClientDisconnected).toBe(true);
  expect(new Error("x") instanceof copy.ClientDisconnected).toBe(false);
  expect(new Error("x") instanceof own.HttpError).toBe(false);
  expect(new own.HttpError(413, "too large") instanceof copy.HttpError).toBe(true);
  class Mine extends copy.ClientDisconnected {}
  expect(new own.ClientDisconnected() instanceof Mine).toBe(false);
  expect(new Mine() instanceof own.ClientDisconnected).toBe(true);
});

test("an app's instanceof ClientDisconnected and HttpError from its own tsgi hold for the server's errors", async () => {
  const seen: string[] = [];
  const app: Application = async (environ, startResponse) => {
    let caught: unknown;
    try {
      await environ["tsgi.input"].read();
    } catch (error) {
      caught = error;
      seen.push(`${environ.PATH_INFO} ${(error as Error).name} ClientDisconnected:${error instanceof copy.ClientDisconnected} HttpError:${error instanceof copy.HttpError}`);
    }
    // A half-closed client still reads what the app answers.
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [enc(`${(caught as Error)?.name} ClientDisconnected:${caught instanceof copy.ClientDisconnected} HttpError:${caught instanceof copy.HttpError}`)];
  };
  const { port } = startServer(app, { maxRequestBodySize: 100 });
  // A body the client's FIN cuts short: ClientDisconnected.
  const cut = await rawOne(port, "POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nonly-a-part", { end: true });
  expect(cut.response?.body.toString()).toBe("ClientDisconnected ClientDisconnected:true HttpError:false");
  // A chunked body growing past maxRequestBodySize while the app reads: HttpError 413 (the server answers 413 itself).
  const big = await rawOne(port, ["POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", `200\r\n${"a".repeat(0x200)}\r\n0\r\n\r\n`], { gapMs: 100 });
  expect(big.response?.status).toBe(413);
  expect(seen).toEqual(["/cut ClientDisconnected ClientDisconnected:true HttpError:false", "/big HttpError ClientDisconnected:false HttpError:true"]);
});

test("the app's validator() passes the server's file wrapper with a shorter Content-Length, and its own FileWrapper is one", async () => {
  const file = join(dir, "file.bin");
  await Bun.write(file, "0123456789".repeat(2000));
  const inner: Application = (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", "10"]]);
    const blob = Bun.file(file);
    return environ.PATH_INFO === "/own" ? new copy.FileWrapper(blob) : environ["tsgi.file_wrapper"]!(blob);
  };
  const { port, errors } = startServer(copy.validator(inner));
  for (const path of ["/server", "/own"]) {
    const { response } = await rawOne(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(`${path} ${response?.status} ${response?.body.toString()}`).toBe(`${path} 200 0123456789`);
  }
  // PEP 3333: a shorter Content-Length sends that many bytes of the file, not an error.
  await Bun.sleep(50);
  expect(errors.join("")).toBe("");
});
