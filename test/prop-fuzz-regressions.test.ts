/**
 * Replays every crash the fuzzer (bench/fuzz.ts) saved under
 * test/fuzz-regressions/ through the full oracle on the real parser: only
 * HttpError 4xx/5xx escapes, every execute makes progress, and the outcome is
 * the same whole, byte by byte, split at the saved offsets and with junk
 * after the view.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { check, loadRegressions, REGRESSIONS_DIR } from "../bench/fuzz.ts";
import { RequestParser } from "../src/http/parser.ts";

describe("fuzz regressions", () => {
  test("the corpus directory exists", () => {
    expect(existsSync(REGRESSIONS_DIR)).toBe(true);
  });
  for (const [name, r] of loadRegressions()) {
    test(`${name}: ${r.reason}`, () => {
      const input = Uint8Array.from(Buffer.from(r.input, "latin1"));
      expect(() => check(RequestParser, input, r.limits ?? undefined, r.cuts ?? [])).not.toThrow();
    });
  }
});
