/**
 * Unit tests of gateway helpers that have no socket of their own: each rule
 * here is also exercised end to end by the server and fetch-bridge tests.
 */
import { describe, expect, test } from "bun:test";
import { bytesScanned, enc } from "./helpers.ts";
import { HOP_BY_HOP_FIELDS, isHopByHopField, isHopByHopFor } from "../src/gateway/hop-by-hop.ts";
import { isServerField } from "../src/server/response-head.ts";

describe("hop-by-hop fields (one list for the server and the fetch bridges)", () => {
  test("the length switch answers true for exactly the listed fields, in any case", () => {
    const mixed = (s: string) => [...s].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join("");
    for (const name of HOP_BY_HOP_FIELDS) {
      for (const form of [name, name.toUpperCase(), mixed(name)]) expect([form, isHopByHopField(form)]).toEqual([form, true]);
    }
    const others = ["Content-Type", "Proxy-Authenticate", "Trailerz", "Upgrades", "T", "Date", "Server", "Set-Cookie", "Keep-Alivf", "Content-Length", ""];
    for (const name of others) expect([name, isHopByHopField(name)]).toEqual([name, false]);
    // Every name of a listed field's length that is not listed is refused (no length case answers too much).
    for (const name of HOP_BY_HOP_FIELDS) expect(isHopByHopField("x".repeat(name.length))).toBe(false);
  });

  test("for a response: the same, except Upgrade on a 426 (RFC 9110 §15.5.22), which every gateway keeps", () => {
    for (const name of ["Upgrade", "upgrade", "UPGRADE"]) {
      expect([name, isHopByHopFor(name, 426)]).toEqual([name, false]);
      expect([name, isHopByHopFor(name, 200)]).toEqual([name, true]);
    }
    for (const name of HOP_BY_HOP_FIELDS.filter((n) => n !== "upgrade")) expect([name, isHopByHopFor(name, 426)]).toEqual([name, true]);
    expect(isHopByHopFor("Proxy-Authenticate", 407)).toBe(false);
    expect(isHopByHopFor("Content-Type", 426)).toBe(false);
  });

  test("the server's own fields are those plus Content-Length", () => {
    for (const name of [...HOP_BY_HOP_FIELDS, "content-length", "Content-Length"]) expect([name, isServerField(name)]).toEqual([name, true]);
    for (const name of ["content-type", "proxy-authenticate", "date", "server"]) expect([name, isServerField(name)]).toEqual([name, false]);
  });
});

describe("tsgi.input buffering (RequestInput)", () => {
  const { RequestInput } = require("../src/gateway/input.ts") as typeof import("../src/gateway/input.ts");
  const controls = () => {
    const calls: string[] = [];
    return {
      calls,
      control: {
        sendContinue: async () => void calls.push("continue"),
        pause: () => void calls.push("pause"),
        resume: () => void calls.push("resume"),
        waiting: () => {},
      },
    };
  };

  test("1-byte pieces (a chunked body of 1-byte chunks) are gathered, not kept as one view each", async () => {
    const { control } = controls();
    const input = new RequestInput(control);
    const wire = new Uint8Array(64 * 1024).map((_, i) => 97 + (i % 26));
    for (let i = 0; i < 10_000; i++) input.push(wire.subarray(i, i + 1));
    // The first piece is copied at its own size, the 9,999 after it into one 16 KiB gather buffer: two
    // chunks (a read of exactly one hands it over as it is), and no view pins the 64 KiB read.
    input.end();
    const first = await input.read(1);
    const rest = await input.read(9_999);
    expect([first.buffer.byteLength, rest.buffer.byteLength]).toEqual([1, 16 * 1024]);
    expect(Buffer.concat([first, rest])).toEqual(Buffer.from(wire.subarray(0, 10_000)));
  });

  test("gathered pieces read back exactly, interleaved with reads, big pieces and readline", async () => {
    const { control } = controls();
    const input = new RequestInput(control);
    const expected: number[] = [];
    const got: number[] = [];
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 3000; round++) {
      const len = rand(5) === 0 ? 1024 + rand(3000) : 1 + rand(40);
      const piece = new Uint8Array(len).map(() => (rand(8) === 0 ? 10 : 65 + rand(26)));
      input.push(piece);
      for (const b of piece) expected.push(b);
      // Never ask for more than is buffered (a read would wait for bytes the test has not pushed yet).
      const available = expected.length - got.length;
      const what = rand(3);
      const part =
        what === 0 ? await input.read(Math.min(rand(50), available)) : what === 1 && available > 0 ? await input.readline(1 + rand(Math.min(100, available))) : new Uint8Array(0);
      for (const b of part) got.push(b);
    }
    input.end();
    for (const b of await input.read()) got.push(b);
    expect(got).toEqual(expected);
  });

  test("read1 resolves with what has arrived (waiting only while nothing has), up to its size; empty only at the end; errors as read", async () => {
    const { calls, control } = controls();
    const input = new RequestInput(control, true);
    expect(await input.read1(0)).toEqual(new Uint8Array(0));
    expect(calls).toEqual(["continue"]); // a read of any kind is the go-ahead
    const pending = input.read1(100);
    await Bun.sleep(5);
    input.push(enc("abc"));
    expect(await pending).toEqual(enc("abc")); // not 100 bytes: what came
    input.push(enc("defgh"));
    expect(await input.read1(2)).toEqual(enc("de"));
    expect(await input.read1()).toEqual(enc("fgh"));
    input.push(enc("ij"));
    input.fail(new Error("gone"));
    expect(await input.read1()).toEqual(enc("ij")); // bytes received before the failure are still read
    expect(input.read1()).rejects.toThrow("gone");
    expect(input.read1(-1)).rejects.toThrow(RangeError);
    const done = new RequestInput(control);
    done.push(enc("x"));
    done.end();
    expect([await done.read1(), await done.read1()]).toEqual([enc("x"), new Uint8Array(0)]);
  });

  test("pauses the feeder past 64 KiB unread, resumes at half", async () => {
    const { calls, control } = controls();
    const input = new RequestInput(control);
    for (let i = 0; i < 70; i++) input.push(new Uint8Array(1024));
    expect(calls).toEqual(["pause"]);
    await input.read(40 * 1024);
    expect(calls).toEqual(["pause", "resume"]);
  });

  test("the high-water marks exactly: 64 KiB unread does not pause, one byte more does; 32 KiB left resumes", async () => {
    const { calls, control } = controls();
    const input = new RequestInput(control);
    for (let i = 0; i < 64; i++) input.push(new Uint8Array(1024));
    expect(calls).toEqual([]);
    input.push(new Uint8Array(1024));
    expect(calls).toEqual(["pause"]);
    await input.read(32 * 1024 + 1023);
    expect(calls).toEqual(["pause"]); // 32 KiB + 1 left
    await input.read(1);
    expect(calls).toEqual(["pause", "resume"]);
  });

  test("readline(size) resolves as soon as size bytes without a newline are buffered, before the body ends", async () => {
    const { control } = controls();
    const input = new RequestInput(control);
    input.push(enc("abcdefgh"));
    const got = await Promise.race([input.readline(5), Bun.sleep(500).then(() => "still waiting")]);
    expect(got).toEqual(enc("abcde"));
    input.push(enc("ij"));
    expect(await Promise.race([input.readline(5), Bun.sleep(500).then(() => "still waiting")])).toEqual(enc("fghij"));
  });

  test("a long line arriving in pieces is scanned once in all, not once per piece", async () => {
    const { control } = controls();
    const input = new RequestInput(control);
    const { result: got, scanned } = await bytesScanned(async () => {
      const line = input.readline();
      const piece = new Uint8Array(4096).fill(120);
      for (let i = 0; i < 512; i++) {
        input.push(piece.slice());
        await Bun.sleep(0); // let the pending readline look at what arrived
      }
      input.push(new Uint8Array([10]));
      return line;
    });
    expect(got.length).toBe(512 * 4096 + 1);
    // 2 MiB of line: scanning it again per piece would be ~512 MiB.
    expect(scanned).toBeLessThan(3 * 512 * 4096);
  });

  test("a line search resumed after readline(size) handed over a first chunk whole finds the newline in the next piece", async () => {
    // readline(3000) over two 2000-byte pieces with no newline: the search stops past its limit (kept, to
    // resume), and the 3000 bytes taken drop the first piece; the next readline resumes in what was the second.
    const { control } = controls();
    const input = new RequestInput(control);
    input.push(new Uint8Array(2000).fill(97));
    input.push(new Uint8Array(2000).fill(98));
    expect(await input.readline(3000)).toEqual(new Uint8Array(3000).map((_, i) => (i < 2000 ? 97 : 98)));
    const third = new Uint8Array(2002).fill(121);
    third.set([120, 10]);
    input.push(third);
    input.end();
    const line = await input.readline();
    expect([line.length, line[line.length - 1]]).toEqual([1002, 10]);
    expect((await input.read()).length).toBe(2000);
  });

  test("readlines(hint) stops after the line that brings the total to at least hint bytes (spec.md); 0 or less is no limit", async () => {
    const { control } = controls();
    const input = new RequestInput(control);
    input.push(enc("ab\ncd\nef\ngh\nij\nkl\n"));
    input.end();
    const text = (lines: Uint8Array[]) => lines.map((l) => new TextDecoder().decode(l));
    expect(text(await input.readlines(3))).toEqual(["ab\n"]);
    expect(text(await input.readlines(4))).toEqual(["cd\n", "ef\n"]);
    expect(text(await input.readlines(0))).toEqual(["gh\n", "ij\n", "kl\n"]);
    expect(text(await input.readlines(-1))).toEqual([]);
  });
});
