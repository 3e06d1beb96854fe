/**
 * The parser test harness shared by test/parser.test.ts and
 * test/parser-split.test.ts: feed input cut at given offsets and record the
 * events and the error, checking the parser's own contract along the way.
 */
import { HttpError } from "../src/http/errors.ts";
import { RequestParser, type ParserLimits, type RequestHead } from "../src/http/parser.ts";

/** latin-1 encode: every char must be <= U+00FF. */
export function enc(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c > 0xff) throw new Error("not latin-1");
    b[k] = c;
  }
  return b;
}
export function dec(b: Uint8Array): string {
  let s = "";
  for (let k = 0; k < b.length; k++) s += String.fromCharCode(b[k]!);
  return s;
}

export type Event = ["head", RequestHead] | ["body", string] | ["complete"];
export interface Outcome {
  events: Event[];
  status: number | null;
  message: string | null;
}

/**
 * Feed `input` cut at `cuts` (ascending offsets). Each piece is a fresh copy
 * that is overwritten after it was fed (as a reused socket buffer would be),
 * and execute is re-called on the unconsumed remainder after each message.
 * Adjacent body events are merged so that the result is split-independent.
 * After an HttpError the parser must stay dead (the same status again).
 * `between`, when given, runs after each piece (other parsers at work between
 * two reads of this one's connection).
 */
export function run(input: Uint8Array, cuts: number[], limits?: Partial<ParserLimits>, between?: () => void): Outcome {
  const events: Event[] = [];
  let body: string | null = null;
  const flush = (): void => {
    if (body !== null) events.push(["body", body]);
    body = null;
  };
  const parser = new RequestParser(
    {
      onHead(h) {
        flush();
        events.push(["head", h]);
      },
      onBody(b) {
        if (b.length === 0) throw new Error("empty body view");
        body = (body ?? "") + dec(b);
      },
      onMessageComplete() {
        flush();
        events.push(["complete"]);
      },
    },
    limits,
  );
  let status: number | null = null;
  let message: string | null = null;
  const bounds = [0, ...cuts, input.length];
  try {
    for (let k = 0; k + 1 < bounds.length; k++) {
      const piece = input.slice(bounds[k], bounds[k + 1]);
      let d = piece;
      while (d.length > 0) {
        const n = parser.execute(d);
        if (!(n > 0 && n <= d.length)) throw new Error(`execute consumed ${n} of ${d.length}`);
        d = d.subarray(n);
      }
      piece.fill(0x00);
      between?.();
    }
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    status = e.status;
    message = e.message;
    let again: unknown = null;
    try {
      parser.execute(enc("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    } catch (e2) {
      again = e2;
    }
    if (!(again instanceof HttpError) || again.status !== status) throw new Error("parser not dead after an error");
  }
  flush();
  return { events, status, message };
}
