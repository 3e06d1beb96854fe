/**
 * Differential test against llhttp (the parser in node:http), issue 6 §2:
 * the systematic framing corpus and a seeded random one are sent as raw bytes
 * to a strict node:http echo server (child `node` process) and to a tsgi echo
 * server; each reports how it framed every request (method, target, body
 * length and hash) or rejected it. Fails when tsgi accepts what llhttp
 * rejects or the two frame the same bytes differently, except for the
 * deliberate, documented differences in bench/diff-llhttp.ts (EXCEPTIONS),
 * each of which is re-checked: llhttp must frame the bytes rewritten into the
 * form tsgi reads them as exactly as tsgi framed the original.
 *
 * Short run here; the long run is `bun bench/diff-llhttp.ts --cases 20000`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  caseBytes,
  compare,
  describe as describeResult,
  ECHO_LIMITS,
  EXCEPTIONS,
  exchange,
  judge,
  limitCases,
  randomCorpus,
  runDiff,
  startNodeServer,
  startTsgiServer,
  systematicCorpus,
  type CaseResult,
} from "../bench/diff-llhttp.ts";

const hasNode = spawnSync(process.env.NODE ?? "node", ["--version"]).status === 0;
const RANDOM_CASES = Number(process.env.DIFF_CASES ?? 1000);

describe.skipIf(!hasNode)("differential: tsgi vs llhttp (node:http, strict)", () => {
  let node: Awaited<ReturnType<typeof startNodeServer>>;
  let tsgi: ReturnType<typeof startTsgiServer>;
  beforeAll(async () => {
    node = await startNodeServer();
    tsgi = startTsgiServer();
  });
  afterAll(async () => {
    node?.stop();
    await tsgi?.stop();
  });

  const report = (results: CaseResult[]) => {
    const failures = results.filter((r) => r.verdict === "FAIL");
    const count = (v: string) => results.filter((r) => r.verdict === v).length;
    return { failures: failures.map(describeResult), counts: { same: count("same"), stricter: count("stricter"), allowed: count("allowed"), fail: failures.length } };
  };

  test("the harness sees a plain request the same on both sides", async () => {
    const bytes = caseBytes({ name: "plain", payload: "POST /x?y HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" });
    const [l, t] = await Promise.all([exchange(node.port, bytes), exchange(tsgi.port, bytes)]);
    expect(l.accepted).toEqual([
      { m: "POST", t: "/x?y", n: 5, h: "2cf24dba5fb0a30e" },
      { m: "GET", t: "/end", n: 0, h: "e3b0c44298fc1c14" },
    ]);
    expect(t).toEqual(l);
    expect(compare(l, t).verdict).toBe("same");
  });

  test("the harness sees a rejection on both sides", async () => {
    const bytes = caseBytes({ name: "smuggle", payload: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" });
    const [l, t] = await Promise.all([exchange(node.port, bytes), exchange(tsgi.port, bytes)]);
    expect(l.accepted).toEqual([]);
    expect(l.rejected).toBe(400);
    expect(t.accepted).toEqual([]);
    expect(t.rejected).toBe(400);
  });

  test("systematic framing corpus (CL/TE variants, whitespace, case, obs-fold, chunk sizes and extensions, trailers, bare CR/LF, request-target forms, Host values, control bytes and delimiters in fields, duplicates, limits, pipelined pairs)", async () => {
    const cases = systematicCorpus();
    const results = await runDiff(cases, { llhttp: node.port, tsgi: tsgi.port }, { concurrency: 24 });
    const { failures, counts } = report(results);
    expect(failures).toEqual([]);
    expect(counts.same).toBeGreaterThan(cases.length / 2);
  }, 60_000);

  test("at each of tsgi's limits exactly, both frame the request alike; one byte or one field past it, tsgi answers 414 or 431", async () => {
    const results = await runDiff(limitCases(), { llhttp: node.port, tsgi: tsgi.port }, { concurrency: 4 });
    const outcome = (r: CaseResult) => ({ name: r.case.name, verdict: r.verdict, accepted: r.tsgi.accepted.map((a) => a.t.length), rejected: r.tsgi.rejected });
    const at = { verdict: "same" as const, rejected: null };
    const past = { verdict: "stricter" as const, accepted: [] as number[] };
    expect(results.map(outcome)).toEqual([
      { name: "limit at urlLengthLimit", ...at, accepted: [ECHO_LIMITS.urlLengthLimit, 4] },
      { name: "limit past urlLengthLimit", ...past, rejected: 414 },
      { name: "limit at maxHeaderBytes", ...at, accepted: [2, 4] },
      { name: "limit past maxHeaderBytes", ...past, rejected: 431 },
      { name: "limit at maxHeaderBytes after 8 empty lines", ...at, accepted: [2, 4] },
      { name: "limit at maxHeaderCount", ...at, accepted: [2, 4] },
      { name: "limit past maxHeaderCount", ...past, rejected: 431 },
    ]);
  }, 30_000);

  test(`${RANDOM_CASES} random compositions and mutations (seed 6)`, async () => {
    const results = await runDiff(randomCorpus(6, RANDOM_CASES), { llhttp: node.port, tsgi: tsgi.port }, { concurrency: 24 });
    const { failures, counts } = report(results);
    expect(failures).toEqual([]);
    expect(counts.same).toBeGreaterThan(RANDOM_CASES / 2);
  }, 120_000);

  const judgeBytes = (payload: string) => {
    const bytes = caseBytes({ name: "", payload });
    return Promise.all([exchange(node.port, bytes), exchange(tsgi.port, bytes)]).then(([l, t]) =>
      judge(Buffer.from(bytes).toString("latin1"), l, t, (b) => exchange(node.port, Buffer.from(b, "latin1"))),
    );
  };

  test("an unknown method token is allowed only when llhttp frames the request, rewritten to POST, the same way", async () => {
    const r = await judgeBytes("FOO /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    expect(r.verdict).toBe("allowed");
    expect(r.exceptions).toEqual([EXCEPTIONS[0]!.name]);
  });

  test("an allowed difference does not hide a later one", async () => {
    // tsgi accepts the FOO request (allowed); after that the pipelined request
    // is compared as usual: both reject its CL+TE.
    const r = await judgeBytes("FOO / HTTP/1.1\r\nHost: h\r\n\r\nPOST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    expect(r.verdict).toBe("allowed");
    const fake = { accepted: [{ m: "GET", t: "/", n: 0, h: "x" }], rejected: null, ended: "closed" as const };
    const llhttpRejects = { accepted: [], rejected: 400, ended: "closed" as const, error: "HPE_INVALID_METHOD" };
    // no exception explains an accepted GET that llhttp rejected
    expect((await judge("GET / HTTP/1.1\r\n\r\n", llhttpRejects, fake, async () => llhttpRejects)).verdict).toBe("FAIL");
  });

  test("the tsgi server logged no errors", () => {
    expect(tsgi.errors).toEqual([]);
  });
});
