/**
 * The server and every fixture under wsgiref's validator (issue 4 §4): each
 * fixture is wrapped in `validator()` and served by the real server; a
 * violation on either side would throw TsgiConformanceError (a 500 and an
 * error-log entry), a questionable act would warn.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { app as cgiApp } from "../fixtures/cgi/app.ts";
import forms from "../fixtures/forms/app.ts";
import hello from "../fixtures/hello/app.ts";
import staticApp from "../fixtures/static/app.ts";
import type { Application } from "../src/spec.ts";
import { validator } from "../src/toolkit/validate.ts";
import { get, rawOne, startServer } from "./helpers.ts";

const started: Array<ReturnType<typeof startServer>> = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.server.close({ timeout: 100 })));
});

function validated(app: Application) {
  const warnings: string[] = [];
  const s = startServer(validator(app, { warn: (m) => void warnings.push(m) }));
  started.push(s);
  return { ...s, warnings };
}

const multipart = (() => {
  const b = "----tsgiboundary";
  return {
    type: `multipart/form-data; boundary=${b}`,
    body: `--${b}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--${b}--\r\n`,
  };
})();

const CASES: Array<[string, Application, Array<[string, RequestInit?]>]> = [
  ["hello", hello, [["/"], ["/x?y=1", { method: "HEAD" }]]],
  [
    "forms",
    forms,
    [
      ["/"],
      ["/echo", { method: "POST", body: "echoed", headers: { "Content-Type": "text/plain" } }],
      ["/json", { method: "POST", body: '{"a":1}', headers: { "Content-Type": "application/json" } }],
      ["/form", { method: "POST", body: "a=1&b=2", headers: { "Content-Type": "application/x-www-form-urlencoded" } }],
      ["/upload", { method: "POST", body: multipart.body, headers: { "Content-Type": multipart.type } }],
      ["/missing", { method: "POST", body: "" }],
    ],
  ],
  ["static", staticApp, [["/"], ["/css/site.css"], ["/data.json", { method: "HEAD" }], ["/nope"]]],
  ["cgi app", cgiApp, [["/path?q=1"], ["/", { method: "POST", body: "posted" }]]],
];

describe("validator(fixture) served by the real server", () => {
  for (const [name, app, requests] of CASES) {
    test(`${name}: no violation, no warning`, async () => {
      const s = validated(app);
      for (const [path, init] of requests) {
        const res = await fetch(`${s.url}${path}`, init);
        await res.arrayBuffer();
        expect(`${path}: ${res.status}`).not.toBe(`${path}: 500`);
      }
      expect(s.errors.join("")).toBe("");
      expect(s.warnings).toEqual([]);
    });
  }

  test("chunked upload and pipelined requests under the validator", async () => {
    const s = validated(forms);
    const payload =
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get("/");
    const r = await rawOne(s.port, payload, { until: (d) => d.includes("</html>") });
    expect(r.responses.map((x) => x.status)).toEqual([200, 200]);
    expect(s.errors.join("")).toBe("");
  });

  test("a non-conforming app is caught: the validator turns it into a 500 and an error-log entry", async () => {
    const bad: Application = (_e, sr) => {
      sr("200 OK", [["Connection", "keep-alive"]]); // hop-by-hop fields are the server's
      return [new Uint8Array(1)];
    };
    const s = validated(bad);
    const res = await fetch(s.url);
    expect(res.status).toBe(500);
    expect(s.errors.join("")).toContain("TsgiConformanceError");
  });
});
