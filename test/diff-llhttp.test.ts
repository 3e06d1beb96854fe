/**
 * Differential test against llhttp (the parser in node:http), issue 6 §2:
 * the systematic framing corpus and a seeded random one are sent as raw bytes
 * to a strict node:http echo server (child `node` process) and to a tsgi echo
 * server; each reports how it framed every request (method, target, body
 * length and hash) or rejected it. Fails when tsgi accepts what llhttp
 * rejects or the two frame the same bytes differently, except for the
 * deliberate, documented differences in bench/diff-llhttp.ts (DELIBERATE).
 *
 * Short run here; the long run is `bun bench/diff-llhttp.ts --cases 20000`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  caseBytes,
  compare,
  describe as describeResult,
  exchange,
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
    return { failures: failures.map(describeResult), counts: { same: results.filter((r) => r.verdict === "same").length, stricter: results.filter((r) => r.verdict === "stricter").length, fail: failures.length } };
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

  test("systematic framing corpus (CL/TE variants, whitespace, case, obs-fold, chunk sizes and extensions, bare CR/LF, duplicates, pipelined pairs)", async () => {
    const cases = systematicCorpus();
    const results = await runDiff(cases, { llhttp: node.port, tsgi: tsgi.port }, { concurrency: 24 });
    const { failures, counts } = report(results);
    expect(failures).toEqual([]);
    expect(counts.same).toBeGreaterThan(cases.length / 2);
  }, 60_000);

  test(`${RANDOM_CASES} random compositions and mutations (seed 6)`, async () => {
    const results = await runDiff(randomCorpus(6, RANDOM_CASES), { llhttp: node.port, tsgi: tsgi.port }, { concurrency: 24 });
    const { failures, counts } = report(results);
    expect(failures).toEqual([]);
    expect(counts.same).toBeGreaterThan(RANDOM_CASES / 2);
  }, 120_000);

  test("the tsgi server logged no errors", () => {
    expect(tsgi.errors).toEqual([]);
  });
});
