/**
 * `RequestParser.execute(data, start)`: parsing from an offset gives the same
 * events and errors as parsing `data.subarray(start)`, for pipelined
 * messages, heads and bodies split across calls, and bytes before `start`
 * that must never be read.
 */
import { describe, expect, test } from "bun:test";
import { HttpError } from "../src/http/errors.ts";
import { RequestParser } from "../src/http/parser.ts";
import { dec, enc, type Event } from "./parser-harness.ts";

interface Result {
  events: Event[];
  status: number | null;
}

function recorder(): { parser: RequestParser; events: Event[] } {
  const events: Event[] = [];
  const parser = new RequestParser({
    onHead: (h) => void events.push(["head", h]),
    onBody: (b) => void events.push(["body", dec(b)]),
    onMessageComplete: () => void events.push(["complete"]),
  });
  return { parser, events };
}

/** Feed pieces with subarray (the reference). */
function bySubarray(pieces: Uint8Array[]): Result {
  const { parser, events } = recorder();
  try {
    for (let d of pieces) while (d.length > 0) d = d.subarray(parser.execute(d));
  } catch (e) {
    return { events, status: (e as HttpError).status };
  }
  return { events, status: null };
}

/** Feed each piece behind `pad` junk bytes, resuming at the returned index. */
function byOffset(pieces: Uint8Array[], pad: number): Result {
  const { parser, events } = recorder();
  try {
    for (const p of pieces) {
      const d = new Uint8Array(pad + p.length).fill(0x0a); // a bare LF: fatal if ever read
      d.set(p, pad);
      let at = pad;
      while (at < d.length) {
        const next = parser.execute(d, at);
        expect(next).toBeGreaterThan(at);
        at = next;
      }
      d.fill(0x58); // the caller may reuse its buffer: nothing may alias it
    }
  } catch (e) {
    return { events, status: (e as HttpError).status };
  }
  return { events, status: null };
}

const INPUTS = [
  "GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(5),
  "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /q?x=1 HTTP/1.1\r\nHost: b\r\nX: y\r\n\r\n",
  "\r\nPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\nHEAD / HTTP/1.0\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\nHost: a\r\n\r\n",
];

function pieces(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let last = 0;
  for (const c of [...cuts, bytes.length]) {
    if (c > last) out.push(bytes.slice(last, c));
    last = Math.max(last, c);
  }
  return out;
}

describe("execute(data, start)", () => {
  test("same events and errors as execute(data.subarray(start)), whole and split", () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const text of INPUTS) {
      const bytes = enc(text);
      const splits: number[][] = [[]];
      for (let k = 1; k < bytes.length; k++) splits.push([k]);
      for (let r = 0; r < 50; r++) splits.push([rand(bytes.length), rand(bytes.length), rand(bytes.length)].sort((a, b) => a - b));
      for (const cuts of splits) {
        const p = pieces(bytes, cuts);
        const expected = bySubarray(p);
        for (const pad of [0, 1, 7]) expect(byOffset(p, pad)).toEqual(expected);
      }
    }
  });

  test("start at or past the end consumes nothing", () => {
    const { parser, events } = recorder();
    const d = enc("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(parser.execute(d, d.length)).toBe(d.length);
    expect(parser.execute(new Uint8Array(0))).toBe(0);
    expect(events).toEqual([]);
    expect(parser.idle).toBe(true);
  });
});

describe("headEnd: where the head ended in the read that completed it", () => {
  test("set before onHead, so a handler that throws from onHead knows where its body begins: whole, split, from an offset, and for a repeated (memoized) head", () => {
    const head = "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n";
    const seen: number[] = [];
    const refusing = (): RequestParser => {
      const p: RequestParser = new RequestParser({
        onHead: () => {
          seen.push(p.headEnd);
          throw new HttpError(413, "too large");
        },
        onBody: () => {},
        onMessageComplete: () => {},
      });
      return p;
    };
    const status = (f: () => void): number | null => {
      try {
        f();
        return null;
      } catch (e) {
        return (e as HttpError).status;
      }
    };
    // Whole, with 7 body bytes after it: the head ends at its length.
    expect(status(() => refusing().execute(enc(head + "1234567")))).toBe(413);
    // From an offset of 3 (junk before it, never read).
    expect(status(() => refusing().execute(enc("\n\n\n" + head + "12"), 3))).toBe(413);
    // Split: the second read holds the head's last 10 bytes, then 5 body bytes.
    const split = refusing();
    expect(split.execute(enc(head.slice(0, -10)))).toBe(head.length - 10);
    expect(status(() => split.execute(enc(head.slice(-10) + "12345")))).toBe(413);
    expect(seen).toEqual([head.length, 3 + head.length, 10]);
    // A repeated keep-alive head (delivered from the parser's memo, without a scan): counted from where it starts.
    const ends: number[] = [];
    const get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const p: RequestParser = new RequestParser({ onHead: () => void ends.push(p.headEnd), onBody: () => {}, onMessageComplete: () => {} });
    const two = enc(get + get);
    let at = 0;
    while (at < two.length) at = p.execute(two, at);
    expect(ends).toEqual([get.length, 2 * get.length]);
  });
});
