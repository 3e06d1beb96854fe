/**
 * The toolkit against its seeds, function by function: generated inputs run
 * through our port and through Python's wsgiref / cheroot (one python3
 * process fed every case as a JSON line, test/python/toolkit_diff.py), the
 * results compared. Differences that are deliberate are documented in
 * docs/toolkit/ and left out of the generated inputs (named where).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { applicationUri, guessScheme, isHopByHop, latin1Decode, requestUri, setupTestingDefaults } from "../src/toolkit/util.ts";
import { Headers, formatParam } from "../src/toolkit/headers.ts";
import { PathInfoDispatcher } from "../src/toolkit/dispatch.ts";
import type { Application, Environ } from "../src/spec.ts";

const python = "/usr/bin/python3";
const hasSeeds = Bun.which(python) !== null && Bun.spawnSync([python, "-c", "import wsgiref, cheroot.wsgi"]).exitCode === 0;
if (!hasSeeds) console.warn("SKIP toolkit differential tests: /usr/bin/python3 with cheroot is needed (apt-get install python3-cheroot; .ci/run installs it)");
const driver = new URL("./python/toolkit_diff.py", import.meta.url).pathname;

type Case = { kind: string; [k: string]: unknown };

/** Run every case through the Python driver (one process, JSON lines). */
function oracle(cases: Case[]): unknown[] {
  const input = cases.map((c) => JSON.stringify(c)).join("\n") + "\n";
  const r = Bun.spawnSync([python, driver], { stdin: new TextEncoder().encode(input), timeout: 30_000 });
  if (r.exitCode !== 0) throw new Error(`python driver failed: ${r.stderr.toString()}`);
  const lines = r.stdout.toString().trimEnd().split("\n");
  expect(lines.length).toBe(cases.length);
  return lines.map((l) => JSON.parse(l));
}

/** Our result in the driver's shape: `{ ok }`, or `{ error }` with Python's exception class for ours. */
function ours(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (e) {
    return { error: pyError(e) };
  }
}

/** The Python exception class our error stands for (docs/toolkit/README.md: AssertionError and ValueError become TypeError). */
function pyError(e: unknown): string {
  return e instanceof TypeError ? "TypeError" : String(e);
}

/** Compare, returning at most 5 mismatches with their inputs. */
function compare(cases: Case[], run: (c: Case) => unknown, normalise: (py: unknown, c: Case) => unknown = (p) => p): unknown[] {
  const expected = oracle(cases);
  const bad: unknown[] = [];
  cases.forEach((c, i) => {
    const mine = run(c);
    const theirs = normalise(expected[i], c);
    if (JSON.stringify(mine) !== JSON.stringify(theirs) && bad.length < 5) bad.push({ case: c, ours: mine, seed: theirs });
  });
  return bad;
}

const sample = <T>(arb: fc.Arbitrary<T>, n: number, seed: number): T[] => fc.sample(arb, { numRuns: n, seed });

// Characters that matter to these functions: separators, quoting, case folding, latin-1 and beyond.
const CHARS = [..."aAzZ09_-.~/;=,:?#%@ \"\\()<>[]{}\t", "é", "ÿ", "ß", "µ", "İ", "K", "Σ", "€", "ı", "ſ"];
const str = (max = 8, chars = CHARS) => fc.string({ unit: fc.constantFrom(...chars), maxLength: max });

describe.skipIf(!hasSeeds)("wsgiref.util, differentially", () => {
  test("applicationUri and requestUri give application_uri's and request_uri's result (or both throw) for 1,500 generated environs", () => {
    const env = fc.record(
      {
        "tsgi.url_scheme": fc.constantFrom("http", "https"),
        SERVER_NAME: fc.constantFrom("127.0.0.1", "example.org", "h"),
        SERVER_PORT: fc.constantFrom("80", "443", "8080", "", "0443"),
        HTTP_HOST: fc.constantFrom("", "host:81", "Example.ORG"),
        SCRIPT_NAME: str(),
        PATH_INFO: str(),
        QUERY_STRING: str(6),
      },
      { requiredKeys: ["tsgi.url_scheme", "SERVER_NAME", "SERVER_PORT"] },
    );
    const cases = sample(fc.record({ env, q: fc.boolean() }), 1500, 11).map((c) => ({ kind: "uri", ...c }) as Case);
    const bad = compare(
      cases,
      (c) => {
        const e = c["env"] as Parameters<typeof applicationUri>[0];
        const a = ours(() => applicationUri(e));
        const r = ours(() => requestUri(e, c["q"] as boolean));
        return { ok: { app: unwrap(a), req: unwrap(r) } };
      },
    );
    expect(bad).toEqual([]);
  });

  test("guessScheme and isHopByHop agree with guess_scheme and is_hop_by_hop on 1,000 generated values", () => {
    const https = fc.oneof(fc.constantFrom("yes", "on", "1", "YES", "On", "true", " 1", ""), str(4));
    const names = fc.oneof(
      fc.constantFrom("Connection", "KEEP-ALIVE", "te", "Trailers", "trailer", "Transfer-Encoding", "upgrade", "Proxy-Authenticate", "proxy-authorization", "Proxy-Connection", "TE ", "Keep-Alive\t"),
      str(6),
    );
    const cases: Case[] = [
      ...sample(fc.option(https, { nil: undefined }), 500, 12).map((v) => ({ kind: "guess", env: v === undefined ? {} : { HTTPS: v } })),
      ...sample(names, 500, 13).map((name) => ({ kind: "hop", name })),
    ];
    const bad = compare(cases, (c) =>
      c.kind === "guess" ? ours(() => guessScheme(c["env"] as Record<string, unknown>)) : ours(() => isHopByHop(c["name"] as string)),
    );
    expect(bad).toEqual([]);
  });

  test("setupTestingDefaults fills what setup_testing_defaults fills, with the same values, for 500 generated partial environs (its documented TSGI additions aside)", () => {
    const partial = fc.record(
      {
        SERVER_NAME: fc.constantFrom("example.org", ""),
        HTTP_HOST: fc.constantFrom("h:1", ""),
        HTTPS: fc.constantFrom("on", "off", "1", "yes", "YES"),
        SERVER_PORT: fc.constantFrom("8000", ""),
        SERVER_PROTOCOL: fc.constantFrom("HTTP/1.1"),
        REQUEST_METHOD: fc.constantFrom("POST"),
        SCRIPT_NAME: fc.constantFrom("", "/app"),
        PATH_INFO: fc.constantFrom("", "/x"),
        "tsgi.url_scheme": fc.constantFrom("http", "https", "ftp"),
        "tsgi.run_once": fc.boolean(),
      },
      { requiredKeys: [] },
    );
    const cases = sample(partial, 500, 14).map((env) => ({ kind: "setup", env }) as Case);
    // docs/toolkit/util.md "Beyond wsgiref": keys the TSGI Environ requires that wsgiref leaves out.
    const additions = (given: Record<string, unknown>) =>
      ["QUERY_STRING", "tsgi.input_terminated", "tsgi.file_wrapper", ...["SCRIPT_NAME", "PATH_INFO"].filter((k) => !(k in given))];
    const bad = compare(
      cases,
      (c) => {
        const env = setupTestingDefaults({ ...(c["env"] as Record<string, unknown>) });
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(env)) {
          out[k] = typeof v === "string" || typeof v === "boolean" || Array.isArray(v) ? v : "<object>";
        }
        return { ok: Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1))) };
      },
      (py, c) => {
        const given = c["env"] as Record<string, unknown>;
        const seed = { ...(py as { ok: Record<string, unknown> }).ok };
        const mine = setupTestingDefaults({ ...given }) as unknown as Record<string, unknown>;
        for (const k of additions(given)) if (!(k in seed) && k in mine) seed[k] = typeof mine[k] === "string" || typeof mine[k] === "boolean" ? mine[k] : "<object>";
        return { ok: Object.fromEntries(Object.entries(seed).sort(([a], [b]) => (a < b ? -1 : 1))) };
      },
    );
    expect(bad).toEqual([]);
  });
});

function unwrap(r: unknown): unknown {
  const o = r as { ok?: unknown; error?: unknown };
  return "ok" in o ? o.ok : { error: o.error };
}

describe.skipIf(!hasSeeds)("wsgiref.headers.Headers, differentially", () => {
  // Python 3.11's wsgiref takes control characters; ours refuses them (docs/toolkit/headers.md
  // "Refused characters", as wsgiref since 3.13.4): none are generated.
  const name = fc.oneof(
    fc.constantFrom("Content-Type", "content-type", "CONTENT-TYPE", "Set-Cookie", "X-A", "x-a", "K", "k", "ß", "SS", "İ", "i̇", "Σ", "σ", "ς", "AΣ", "aς"),
    str(5, CHARS.filter((ch) => ch !== "\t")),
  );
  const value = str(8);
  // Parameter names start with a letter: JavaScript puts integer-like keys first (documented in headers.md).
  const paramName = fc.tuple(fc.constantFrom("a", "filename", "max_age", "X_Y"), str(3, [..."aZ_-0 ;=\"é"])).map(([a, b]) => a + b);
  const op = fc.oneof(
    fc.tuple(fc.constantFrom("get", "getAll", "has", "delete"), name),
    fc.tuple(fc.constant("getdef"), name, value),
    fc.tuple(fc.constantFrom("set", "setdefault"), name, value),
    fc.tuple(fc.constant("addHeader"), name, fc.option(value, { nil: null }), fc.uniqueArray(fc.tuple(paramName, fc.option(value, { nil: null })), { maxLength: 3, selector: ([k]) => k })),
    fc.tuple(fc.constant("formatParam"), paramName, fc.option(value, { nil: null }), fc.boolean()),
  );
  test("2,000 generated operation sequences on a header list leave the same list, results, str() and bytes() as wsgiref's Headers", () => {
    const cases = sample(fc.record({ list: fc.array(fc.tuple(name, value), { maxLength: 5 }), ops: fc.array(op, { maxLength: 8 }) }), 2000, 21).map(
      (c) => ({ kind: "headers", ...c }) as Case,
    );
    const bad = compare(cases, (c) => {
      const list = (c["list"] as Array<[string, string]>).map(([k, v]) => [k, v] as [string, string]);
      const h = new Headers(list);
      const results = (c["ops"] as unknown[][]).map((o) => {
        const r = ours(() => {
          switch (o[0]) {
            case "get": return h.get(o[1] as string) ?? null;
            case "getdef": return h.get(o[1] as string, o[2] as string);
            case "getAll": return h.getAll(o[1] as string);
            case "has": return h.has(o[1] as string);
            case "set": h.set(o[1] as string, o[2] as string); return null;
            case "delete": h.delete(o[1] as string); return null;
            case "setdefault": return h.setdefault(o[1] as string, o[2] as string);
            case "addHeader": h.addHeader(o[1] as string, o[2] as string | null, Object.fromEntries(o[3] as Array<[string, string | null]>)); return null;
            case "formatParam": return formatParam(o[1] as string, o[2] as string | null, o[3] as boolean);
          }
          throw new Error(`unknown op ${String(o[0])}`);
        });
        return unwrap(r);
      });
      return {
        ok: {
          results,
          list: h.items(),
          len: h.length,
          keys: h.keys(),
          values: h.values(),
          str: h.toString(),
          bytes: unwrap(ours(() => latin1Decode(h.toBytes()))),
        },
      };
    });
    expect(bad).toEqual([]);
  });
});

describe.skipIf(!hasSeeds)("cheroot.wsgi.PathInfoDispatcher, differentially", () => {
  const seg = fc.constantFrom("a", "ab", "b", "", ".", "x y");
  const path = fc.array(seg, { maxLength: 3 }).map((s) => s.map((x) => "/" + x).join(""));
  // Mount points: "/"-rooted, possibly with trailing slashes (a mount point not starting with "/" is a TypeError, docs/toolkit/dispatch.md).
  const mount = fc.tuple(path, fc.constantFrom("", "/", "//")).map(([p, t]) => p + t);
  test("2,000 generated mount tables and requests reach the same application with the same SCRIPT_NAME and PATH_INFO, or the same 404, as cheroot", async () => {
    const cases = sample(
      fc.record({
        mounts: fc.uniqueArray(mount, { minLength: 0, maxLength: 5 }),
        dict: fc.boolean(),
        env: fc.record({ SCRIPT_NAME: fc.constantFrom("", "/site", "/s/"), PATH_INFO: path }, { requiredKeys: ["PATH_INFO"] }),
      }),
      2000,
      31,
    ).map((c) => ({ kind: "dispatch", ...c }) as Case);
    const expected = oracle(cases);
    const bad: unknown[] = [];
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const mounts = c["mounts"] as string[];
      const apps: Array<[string, Application]> = mounts.map((p, j) => [p, ((env: Environ) => [j, env.SCRIPT_NAME ?? null, env.PATH_INFO]) as unknown as Application]);
      const d = new PathInfoDispatcher(c["dict"] ? Object.fromEntries(apps) : apps);
      const env = { ...(c["env"] as Record<string, string>) };
      const seen: unknown[] = [];
      const res = (await d(env as unknown as Environ, ((s: string, h: Array<[string, string]>) => void seen.push([s, h])) as never)) as unknown[];
      const out: Record<string, unknown> = { apps: d.apps.map(([p]) => p), env };
      if (seen.length) out["notFound"] = seen[0];
      else [out["app"], out["SCRIPT_NAME"], out["PATH_INFO"]] = res;
      const mine = { ok: out };
      if (JSON.stringify(mine) !== JSON.stringify(expected[i]) && bad.length < 5) bad.push({ case: c, ours: mine, seed: expected[i] });
    }
    expect(bad).toEqual([]);
  });
});

describe.skipIf(!hasSeeds)("wsgiref.handlers.CGIHandler, differentially", () => {
  const bun = process.execPath;
  const ourScript = new URL("./apps/cgi-diff-app.ts", import.meta.url).pathname;
  const seedScript = new URL("./python/cgi_app.py", import.meta.url).pathname;
  const latin1 = (max: number) => str(max, CHARS.filter((ch) => ch <= "\u00ff" && ch !== "\t"));
  const utf8 = (max: number) => str(max);
  // Within what both accept, as handlers.md has it: statuses with a body and a length (no 1xx, 204,
  // 205, 304, HEAD), token names and no hop-by-hop fields (ours refuses or removes those, wsgiref
  // raises only at send), no empty chunk from a generator (ours sends no headers for one, PEP 3333).
  const app = fc.record({
    status: fc.constantFrom("200 OK", "201 Created", "302 Found", "404 Not Found", "418 I'm a teapot", "500 Internal Server Error", "299 x  y", "200 \u00e9"),
    headers: fc.array(fc.tuple(fc.constantFrom("Content-Type", "X-A", "x-a", "Set-Cookie", "X_Y", "Location"), latin1(6)), { maxLength: 3 }),
    chunks: fc.array(latin1(6), { maxLength: 3 }),
    writes: fc.array(latin1(4), { maxLength: 2 }),
    read: fc.constantFrom("", "read", "readline"),
    echo: fc.boolean(),
    cl: fc.boolean(),
    gen: fc.boolean(),
    fail: fc.constantFrom("", "", "", "before", "after"),
  });
  const request = fc.record({
    REQUEST_METHOD: fc.constantFrom("GET", "POST"),
    SCRIPT_NAME: fc.constantFrom("", "/cgi-bin/app.cgi"),
    // Always given: ours adds PATH_INFO "" when the web server sends none (handlers.md), wsgiref leaves it out.
    PATH_INFO: utf8(6).map((s) => "/" + s),
    QUERY_STRING: utf8(6),
    CONTENT_LENGTH: fc.constantFrom("", "0", "3", "8", "x"),
    HTTPS: fc.constantFrom("on", "off", "1"),
    HTTP_X_NAME: utf8(5),
    SERVER_PROTOCOL: fc.constantFrom("HTTP/1.0", "HTTP/1.1"),
  });
  test("16 generated applications and requests, run as CGI scripts, write the same bytes to stdout as under wsgiref's CGIHandler", async () => {
    const cases = sample(fc.record({ app, env: request, stdin: fc.string({ unit: fc.constantFrom("a", "b", "\n"), maxLength: 12 }) }), 16, 41).map((c) => {
      // A list of several chunks is sent as a generator: ours gives such a list its total
      // Content-Length, wsgiref only a one-chunk list (handlers.md setContentLength).
      const n = c.app.chunks.length + (c.app.read ? 1 : 0) + (c.app.echo ? 1 : 0);
      if (n > 1) c.app.gen = true;
      // stdin holds CONTENT_LENGTH bytes: ours reads no further (handlers.md), wsgiref's wsgi.input is all of stdin.
      const length = /^\d+$/.test(c.env.CONTENT_LENGTH) ? Number(c.env.CONTENT_LENGTH) : 0;
      c.stdin = c.stdin.padEnd(length, "z").slice(0, length);
      return c;
    });
    const run = async (cmd: string[], c: (typeof cases)[number]) => {
      const p = Bun.spawn([...cmd, JSON.stringify(c.app)], {
        env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", GATEWAY_INTERFACE: "CGI/1.1", SERVER_NAME: "h", SERVER_PORT: "80", ...c.env },
        stdin: new TextEncoder().encode(c.stdin),
        stdout: "pipe",
        stderr: "pipe",
      });
      const timer = setTimeout(() => p.kill(), 10_000);
      const [out] = await Promise.all([new Response(p.stdout).bytes(), new Response(p.stderr).text(), p.exited]);
      clearTimeout(timer);
      return latin1Decode(out);
    };
    const bad: unknown[] = [];
    for (const c of cases) {
      const [mine, theirs] = await Promise.all([run([bun, ourScript], c), run([python, seedScript], c)]);
      if (mine !== theirs && bad.length < 3) bad.push({ case: c, ours: mine, seed: theirs });
    }
    expect(bad).toEqual([]);
  }, 120_000);
});
