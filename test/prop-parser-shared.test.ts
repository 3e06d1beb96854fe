/**
 * Property test of the field-offset table all parsers share (src/http/parser.ts,
 * SHARED_TOK): several parsers, each fed its own connection's bytes (pipelined
 * requests with and without bodies, chunked with trailers, CONNECT and OPTIONS *,
 * 0 to 150 field lines, heads the parser refuses) cut at random offsets, in a
 * random order, and from inside one parser's callbacks another parser's
 * execute() (re-entrancy on the SAME parser is what the docs forbid). Each
 * parser's events, errors and rejectedFields must be those of its bytes parsed
 * whole and alone; after an error the parser is reset() and parses a head split
 * around another parser's work. fast-check prints the seed and the shrunk case.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { HttpError } from "../src/http/errors.ts";
import { RequestParser, type ParserLimits, type RequestHead } from "../src/http/parser.ts";
import { dec, enc } from "./parser-harness.ts";

type Ev = ["head", RequestHead] | ["body", string] | ["complete"] | ["error", number, string, string[] | null];

const nameArb = fc.constantFrom("X-A", "Accept", "X-Long-Name-Here", "Cookie", "Via", "X-B");
const valArb = fc.string({ unit: fc.constantFrom(..."abc xyz019;=,".split("")), maxLength: 12 });
// Few field lines, or 60 to 150 (past the shared table's 64, and the default limit of 100).
const fieldsArb = fc.oneof(fc.array(fc.tuple(nameArb, valArb), { maxLength: 8 }), fc.array(fc.tuple(nameArb, valArb), { minLength: 60, maxLength: 150, size: "max" }));

const reqArb = fc.oneof(
  fc.record({ kind: fc.constant("get"), method: fc.constantFrom("GET", "HEAD", "DELETE"), fields: fieldsArb }),
  fc.record({ kind: fc.constant("cl"), method: fc.constant("POST"), fields: fieldsArb, body: fc.string({ maxLength: 30 }) }),
  fc.record({ kind: fc.constant("chunked"), method: fc.constant("PUT"), fields: fieldsArb, body: fc.string({ maxLength: 30 }), trailers: fc.array(fc.tuple(nameArb, valArb), { maxLength: 5 }) }),
  fc.record({ kind: fc.constant("connect"), method: fc.constant("CONNECT"), fields: fieldsArb }),
  fc.record({ kind: fc.constant("options"), method: fc.constant("OPTIONS"), fields: fieldsArb }),
  fc.record({ kind: fc.constant("bad"), method: fc.constant("GET"), fields: fieldsArb, bad: fc.constantFrom("nohost", "twohost", "badcl", "expect", "badchar", "te-cl") }),
);
type Req = { kind: string; method: string; fields: [string, string][]; body?: string; trailers?: [string, string][]; bad?: string };

function render(r: Req): string {
  const lines = r.fields.map(([n, v]) => `${n}: ${v}\r\n`).join("");
  const target = r.kind === "connect" ? "example.com:443" : r.kind === "options" ? "*" : "/p?q=1";
  let host = "Host: h\r\n";
  let extra = "";
  if (r.kind === "bad") {
    if (r.bad === "nohost") host = "";
    if (r.bad === "twohost") host = "Host: a\r\nHost: b\r\n";
    if (r.bad === "badcl") extra = "Content-Length: 1x\r\n";
    if (r.bad === "expect") extra = "Expect: magic\r\n";
    if (r.bad === "badchar") extra = "X-Bad: a\x01b\r\n";
    if (r.bad === "te-cl") extra = "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n";
  }
  if (r.kind === "cl") extra = `Content-Length: ${r.body!.length}\r\n`;
  if (r.kind === "chunked") extra = "Transfer-Encoding: chunked\r\n";
  let body = "";
  if (r.kind === "cl") body = r.body!;
  if (r.kind === "chunked") {
    const b = r.body!;
    if (b.length > 0) body += `${b.length.toString(16)}\r\n${b}\r\n`;
    body += `0\r\n${r.trailers!.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
  }
  return `${r.method} ${target} HTTP/1.1\r\n${host}${lines}${extra}\r\n${body}`;
}

class Client {
  events: Ev[] = [];
  body: string | null = null;
  parser: RequestParser;
  pieces: Uint8Array[] = [];
  dead = false;
  active = false;
  constructor(
    public input: Uint8Array,
    cuts: number[],
    private reenter: (self: Client) => void,
    limits?: Partial<ParserLimits>,
  ) {
    const self = this;
    this.parser = new RequestParser(
      {
        onHead(h) {
          self.flush();
          self.events.push(["head", h]);
          self.reenter(self);
        },
        onBody(b) {
          self.body = (self.body ?? "") + dec(b);
          self.reenter(self);
        },
        onMessageComplete() {
          self.flush();
          self.events.push(["complete"]);
          self.reenter(self);
        },
      },
      limits,
    );
    const bounds = [0, ...cuts, input.length];
    for (let k = 0; k + 1 < bounds.length; k++) if (bounds[k + 1]! > bounds[k]!) this.pieces.push(input.slice(bounds[k], bounds[k + 1]));
  }
  flush() {
    if (this.body !== null) this.events.push(["body", this.body]);
    this.body = null;
  }
  /** Feed one piece; false when none left. */
  step(): boolean {
    if (this.dead || this.active) return false;
    const piece = this.pieces.shift();
    if (piece === undefined) return false;
    this.active = true;
    try {
      let d = piece;
      while (d.length > 0) {
        const n = this.parser.execute(d);
        d = d.subarray(n);
      }
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      this.flush();
      this.events.push(["error", e.status, e.message, this.parser.rejectedFields]);
      this.dead = true;
      // reset() and go on (the docs allow it): a head split around another parser's execute().
      this.parser.reset();
      const after = enc("GET /after HTTP/1.1\r\nHost: z\r\nX: y\r\n\r\n");
      const h = this.pieces.length > 0 ? 20 : after.length;
      this.parser.execute(after.subarray(0, h));
      this.reenter(this);
      if (h < after.length) this.parser.execute(after.subarray(h));
      this.flush();
    } finally {
      this.active = false;
      piece.fill(0);
    }
    return true;
  }
  result() {
    this.flush();
    return this.events;
  }
}

function check(LIM: Partial<ParserLimits> | undefined): number {
  let runs = 0;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.array(reqArb, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 12 })), { minLength: 2, maxLength: 6 }),
      fc.array(fc.nat(), { minLength: 50, maxLength: 200 }),
      fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
      (conns, schedule, reent) => {
        runs++;
        const inputs = conns.map(([reqs, cuts]) => {
          const input = enc(reqs.map((r) => render(r as Req)).join(""));
          const cs = [...new Set(cuts.map((c) => (input.length > 1 ? 1 + (c % (input.length - 1)) : 0)).filter((c) => c > 0))].sort((a, b) => a - b);
          return { input, cs };
        });
        // Reference: each alone, whole.
        const refs = inputs.map(({ input }) => {
          const c = new Client(input, [], () => {}, LIM);
          while (c.step());
          return c.result();
        });
        let ri = 0;
        const clients: Client[] = [];
        const reenter = (self: Client) => {
          const r = reent[ri++ % reent.length];
          if (!r) return;
          const other = clients.find((c) => c !== self && !c.active && !c.dead && c.pieces.length > 0);
          other?.step();
        };
        for (const { input, cs } of inputs) clients.push(new Client(input, cs, reenter, LIM));
        let si = 0;
        for (let guard = 0; guard < 10000; guard++) {
          const live = clients.filter((c) => !c.dead && c.pieces.length > 0);
          if (live.length === 0) break;
          live[schedule[si++ % schedule.length]! % live.length]!.step();
        }
        clients.forEach((c, k) => {
          expect(c.result()).toEqual(refs[k]!);
        });
      },
    ),
    { numRuns: 300 },
  );
  return runs;
}

describe("parsers sharing the field-offset table", () => {
  test("random splits, interleavings and other parsers' execute() inside callbacks change no parser's events", () => {
    expect(check(undefined)).toBe(300);
  });
  test("the same with room for 200 field lines (a head past 64 grows a table of its own, split or whole)", () => {
    expect(check({ maxHeaderCount: 200 })).toBe(300);
  });
});
