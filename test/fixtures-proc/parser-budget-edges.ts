/**
 * Child process of test/parser-budget-edges.test.ts: every budget edge of the
 * header section (`maxHeaderBytes`) and of the trailer section
 * (`maxTrailerBytes`), fed whole, one byte at a time and split in two at every
 * offset. Prints one line per group before running it (with a synchronous
 * write, so that the parent can say where a parser that never returns is
 * stuck) and, at the end, `RESULT <json>`: the runs whose outcome was not the
 * expected one.
 */
import { writeSync } from "node:fs";
import type { ParserLimits } from "../../src/http/parser.ts";
import { enc, run } from "../parser-harness.ts";

interface Mismatch {
  group: string;
  cuts: string;
  status: number | null;
  message: string | null;
}

const mismatches: Mismatch[] = [];
let runs = 0;

/** Feed `input` every way; each outcome must have `status` (null: accepted). */
function group(name: string, input: string, limits: Partial<ParserLimits>, status: number | null): void {
  writeSync(1, `GROUP ${name}\n`);
  const b = enc(input);
  const feeds: [string, number[]][] = [
    ["whole", []],
    ["byte by byte", Array.from({ length: Math.max(0, b.length - 1) }, (_, k) => k + 1)],
  ];
  for (let k = 1; k < b.length; k++) feeds.push([`split at ${k}`, [k]]);
  for (const [cuts, at] of feeds) {
    runs++;
    const got = run(b, at, limits);
    if (got.status !== status) mismatches.push({ group: name, cuts, status: got.status, message: got.message });
  }
}

// A head whose budget edge falls, as the limit grows, in every state: the
// request-line, a field name, the OWS after the colon, a field value, the LF
// after a value's CR and the final CRLF.
const head = "GET /p HTTP/1.1\r\nHost: h\r\nX-Long:  vvvvv\r\n\r\n";
for (let max = 0; max <= head.length; max++) group(`header section of ${head.length} bytes, maxHeaderBytes ${max}`, head, { maxHeaderBytes: max }, max < head.length ? 431 : null);
// The same after two empty lines (not counted) and after a first message on the connection.
const first = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
for (let max = first.length; max <= head.length; max++) group(`second message, maxHeaderBytes ${max}`, "\r\n\r\n" + first + head, { maxHeaderBytes: max }, max < head.length ? 431 : null);

// A trailer section whose budget edge falls in a name, a value, the LF after
// a value's CR and the final CRLF.
const chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n";
const trailers = "T: x\r\nUv: yyy\r\n\r\n";
for (let max = 0; max <= trailers.length; max++) group(`trailer section of ${trailers.length} bytes, maxTrailerBytes ${max}`, chunked + trailers, { maxTrailerBytes: max }, max < trailers.length ? 400 : null);

writeSync(1, `RESULT ${JSON.stringify({ runs, mismatches: mismatches.slice(0, 20), more: Math.max(0, mismatches.length - 20) })}\n`);
