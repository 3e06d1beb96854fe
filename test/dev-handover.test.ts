/**
 * Restart mode's forwarder (src/dev/handover.ts): what the old process
 * forwards to the new one comes back as the new one sent it.
 */
import { expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { forwardTo } from "../src/dev/handover.ts";
import type { Application } from "../src/spec.ts";
import { enc, serverPool } from "./helpers.ts";

const pool = serverPool();

const upstreamApp: Application = async (environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path === "/gzip") {
    startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Encoding", "gzip"]]);
    return [gzipSync("compressed")];
  }
  if (path === "/redirect") {
    startResponse("302 Found", [["Location", "/elsewhere"]]);
    return [];
  }
  const body = await environ["tsgi.input"].read();
  startResponse("201 Created", [
    ["Content-Type", "text/plain"],
    ["Set-Cookie", "a=1"],
    ["Set-Cookie", "b=2"],
  ]);
  return [enc(`${environ.REQUEST_METHOD} ${path}?${environ.QUERY_STRING} host=${environ.HTTP_HOST} x=${environ.HTTP_X_TEST} body=${new TextDecoder().decode(body)}`)];
};
const upstream = pool(upstreamApp);
const front = pool(forwardTo(`http://127.0.0.1:${upstream.port}`));

test("method, path, query, fields and the body go through; the status and both Set-Cookie fields come back", async () => {
  const r = await fetch(`${front.url}/p/q?x=1&y=%20`, { method: "POST", body: "hello", headers: { "X-Test": "yes" } });
  expect(r.status).toBe(201);
  expect(r.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
  expect(await r.text()).toBe(`POST /p/q?x=1&y=%20 host=127.0.0.1:${front.port} x=yes body=hello`);
});

test("a compressed body is passed on as it is, with its Content-Encoding", async () => {
  const r = await fetch(`${front.url}/gzip`, { decompress: false } as RequestInit);
  expect(r.headers.get("content-encoding")).toBe("gzip");
  const bytes = new Uint8Array(await r.arrayBuffer());
  expect(new TextDecoder().decode(Bun.gunzipSync(bytes))).toBe("compressed");
});

test("a redirect is passed on, not followed", async () => {
  const r = await fetch(`${front.url}/redirect`, { redirect: "manual" });
  expect(r.status).toBe(302);
  expect(r.headers.get("location")).toBe("/elsewhere");
});

test("nothing listening there: the old process answers 500, and the error is logged", async () => {
  const dead = pool(forwardTo("http://127.0.0.1:1"));
  const r = await fetch(`${dead.url}/`);
  expect(r.status).toBe(500);
  expect(dead.errors.join("")).toMatch(/ECONNREFUSED|Unable to connect|ConnectionRefused/);
});
