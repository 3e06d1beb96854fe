/**
 * Unit tests of gateway helpers that have no socket of their own: each rule
 * here is also exercised end to end by the server and fetch-bridge tests.
 */
import { describe, expect, test } from "bun:test";
import { HOP_BY_HOP_FIELDS, isHopByHopField } from "../src/gateway/hop-by-hop.ts";
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

  test("the server's own fields are those plus Content-Length", () => {
    for (const name of [...HOP_BY_HOP_FIELDS, "content-length", "Content-Length"]) expect([name, isServerField(name)]).toEqual([name, true]);
    for (const name of ["content-type", "proxy-authenticate", "date", "server"]) expect([name, isServerField(name)]).toEqual([name, false]);
  });
});
