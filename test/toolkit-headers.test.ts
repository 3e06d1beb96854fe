import { describe, expect, test } from "bun:test";
import type { ResponseHeaders } from "../src/spec.ts";
import { Headers, formatParam } from "../src/toolkit/headers.ts";

describe("Headers: mapping interface (wsgiref testMappingInterface)", () => {
  test("length, keys, values, items (a copy)", () => {
    const list: ResponseHeaders = [["x", "y"]];
    expect(new Headers().length).toBe(0);
    expect(new Headers([]).length).toBe(0);
    expect(new Headers([...list]).length).toBe(1);
    expect(new Headers([...list]).keys()).toEqual(["x"]);
    expect(new Headers([...list]).values()).toEqual(["y"]);
    expect(new Headers(list).items()).toEqual(list);
    expect(new Headers(list).items()).not.toBe(list);
  });
  test("case-insensitive get/has/getAll; delete of a missing name does not throw", () => {
    const h = new Headers();
    h.delete("foo");
    h.set("Foo", "bar");
    for (const n of ["foo", "Foo", "FOO"]) {
      expect(h.has(n)).toBe(true);
      expect(h.get(n)).toBe("bar");
      expect(h.getAll(n)).toEqual(["bar"]);
    }
    expect(h.has("bar")).toBe(false);
    expect(h.get("bar")).toBeUndefined();
    expect(h.getAll("bar")).toEqual([]);
    h.set("foo", "baz");
    expect(h.get("FOO")).toBe("baz");
    expect(h.getAll("foo")).toEqual(["baz"]);
  });
  test("get with a default; setdefault", () => {
    const h = new Headers([["foo", "baz"]]);
    expect(h.get("foo", "whee")).toBe("baz");
    expect(h.get("zoo", "whee")).toBe("whee");
    expect(h.get("zoo", null)).toBeNull();
    expect(h.setdefault("foo", "whee")).toBe("baz");
    expect(h.setdefault("zoo", "whee")).toBe("whee");
    expect(h.get("foo")).toBe("baz");
    expect(h.get("zoo")).toBe("whee");
    expect(h.items()).toEqual([
      ["foo", "baz"],
      ["zoo", "whee"],
    ]);
  });
  test("null or undefined wraps a new empty list (wsgiref Headers(None)); before, null threw TypeError", () => {
    for (const none of [null, undefined]) {
      const h = new Headers(none);
      expect(h.length).toBe(0);
      expect(h.list).toEqual([]);
      h.set("X-A", "1");
      expect(h.items()).toEqual([["X-A", "1"]]);
      expect(String(h)).toBe("X-A: 1\r\n\r\n");
    }
    // Each call gets its own list, as wsgiref's `headers if headers is not None else []`.
    expect(new Headers(null).list).not.toBe(new Headers(null).list);
  });
  test("the constructor requires an array", () => {
    expect(() => new Headers("foo" as never)).toThrow(TypeError);
    expect(() => new Headers([["only-one"]] as never)).toThrow(TypeError);
    expect(() => new Headers([["a", 1]] as never)).toThrow(TypeError);
  });
});

describe("Headers: a value of the wrong type is named in the TypeError", () => {
  test("a boxed string, a BigInt, a Symbol or a cycle as an item, a name, a value or a parameter: a TypeError naming it (before: JSON.stringify's own 'cannot serialize BigInt', '[\"x\"]' for a boxed string)", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const boxedText = 'a String object holding "x", not a string: pass the primitive, String(value) or "x"';
    const cases: Array<[string, () => unknown, string]> = [
      ["ctor item boxed", () => new Headers([[new String("x")]] as never), `Headers must be a list of [name, value] pairs (got [${boxedText}])`],
      ["ctor item bigint", () => new Headers([[1n]] as never), "Headers must be a list of [name, value] pairs (got [1n])"],
      ["ctor item symbol", () => new Headers([[Symbol("s")]] as never), "Headers must be a list of [name, value] pairs (got [Symbol(s)])"],
      ["ctor item cyclic", () => new Headers([cyclic] as never), "Headers must be a list of [name, value] pairs (got Object)"],
      ["ctor value boxed", () => new Headers([["X-A", new String("x")]] as never), `Header value must be a string (got ${boxedText})`],
      ["ctor name bigint", () => new Headers([[1n, "v"]] as never), "Header name must be a string (got 1n)"],
      ["set symbol", () => new Headers().set("X-A", Symbol("s") as never), "Header value must be a string (got Symbol(s))"],
      ["setdefault cyclic", () => new Headers().setdefault("X-A", cyclic as never), "Header value must be a string (got Object)"],
      ["addHeader param bigint", () => new Headers().addHeader("X-A", "v", { p: 1n as never }), "Header value must be a string (got 1n)"],
    ];
    for (const [what, make, message] of cases) {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect([what, error instanceof TypeError, (error as Error | undefined)?.message]).toEqual([what, true, message]);
    }
  });
});

describe("Headers: repeated names", () => {
  const make = () =>
    new Headers([
      ["Set-Cookie", "a=1"],
      ["Content-Type", "text/plain"],
      ["set-cookie", "b=2"],
    ]);
  test("get returns the first, getAll all in order, keys/values/items keep repeats", () => {
    const h = make();
    expect(h.get("SET-COOKIE")).toBe("a=1");
    expect(h.getAll("Set-Cookie")).toEqual(["a=1", "b=2"]);
    expect(h.keys()).toEqual(["Set-Cookie", "Content-Type", "set-cookie"]);
    expect(h.values()).toEqual(["a=1", "text/plain", "b=2"]);
    expect(h.length).toBe(3);
    expect([...h]).toEqual(["Set-Cookie", "Content-Type", "set-cookie"]);
  });
  test("set replaces all values and appends at the end", () => {
    const h = make();
    h.set("set-cookie", "c=3");
    expect(h.items()).toEqual([
      ["Content-Type", "text/plain"],
      ["set-cookie", "c=3"],
    ]);
  });
  test("delete removes every value", () => {
    const h = make();
    h.delete("SET-COOKIE");
    expect(h.items()).toEqual([["Content-Type", "text/plain"]]);
  });
});

describe("Headers: the list is used in place", () => {
  test("changes show in the wrapped array, which keeps its identity", () => {
    const list: ResponseHeaders = [
      ["A", "1"],
      ["B", "2"],
    ];
    const h = new Headers(list);
    expect(h.list).toBe(list);
    h.set("C", "3");
    h.delete("a");
    h.addHeader("D", "4");
    h.setdefault("E", "5");
    expect(list).toEqual([
      ["B", "2"],
      ["C", "3"],
      ["D", "4"],
      ["E", "5"],
    ]);
    list.push(["F", "6"]);
    expect(h.get("f")).toBe("6");
  });
});

describe("Headers: addHeader with MIME parameters (wsgiref testExtras)", () => {
  test("quoted params, valueless params, repeated names", () => {
    const h = new Headers();
    expect(String(h)).toBe("\r\n");
    h.addHeader("foo", "bar", { baz: "spam" });
    expect(h.get("foo")).toBe('bar; baz="spam"');
    expect(String(h)).toBe('foo: bar; baz="spam"\r\n\r\n');
    h.addHeader("Foo", "bar", { cheese: null });
    expect(h.getAll("foo")).toEqual(['bar; baz="spam"', "bar; cheese"]);
    expect(h.toString()).toBe('foo: bar; baz="spam"\r\nFoo: bar; cheese\r\n\r\n');
  });
  test("the seed doc's example", () => {
    const h = new Headers();
    h.addHeader("content-disposition", "attachment", { filename: "bud.gif" });
    expect(h.get("Content-Disposition")).toBe('attachment; filename="bud.gif"');
  });
  test("underscores become dashes; undefined is valueless; quotes and backslashes are escaped", () => {
    const h = new Headers();
    h.addHeader("X", "v", { max_age: "10", secure: undefined, q: 'a"b\\c' });
    expect(h.get("x")).toBe('v; max-age="10"; secure; q="a\\"b\\\\c"');
  });
  test("a null value leaves only the parameters", () => {
    const h = new Headers();
    h.addHeader("X", null, { a: "1" });
    expect(h.get("x")).toBe('a="1"');
  });
  test("formatParam: quote only when needed with quote=false; empty value is bare", () => {
    expect(formatParam("a", "plain", false)).toBe("a=plain");
    expect(formatParam("a", "has space", false)).toBe('a="has space"');
    expect(formatParam("a", "x")).toBe('a="x"');
    expect(formatParam("a", "")).toBe("a");
    expect(formatParam("a")).toBe("a");
  });
});

describe("Headers: formatting", () => {
  test("toString is CRLF lines and a blank line; toBytes is latin-1", () => {
    const h = new Headers([
      ["Content-Type", "text/plain"],
      ["X-Name", "caf\xe9"],
    ]);
    expect(h.toString()).toBe("Content-Type: text/plain\r\nX-Name: caf\xe9\r\n\r\n");
    const b = h.toBytes();
    expect(b.length).toBe(h.toString().length);
    expect(b[b.length - 5]).toBe(0xe9);
  });
  test("toBytes refuses characters above U+00FF", () => {
    const list: ResponseHeaders = [["X", "ok"]];
    const h = new Headers(list);
    list[0]![1] = "\u20ac";
    expect(() => h.toBytes()).toThrow(TypeError);
  });
});

describe("Headers: refuses CR, LF, NUL", () => {
  const bad = ["a\r\nb", "a\nb", "a\rb", "a\0b"];
  test.each(bad)("in values and names: %p", (s) => {
    const h = new Headers();
    expect(() => h.set("X", s)).toThrow(TypeError);
    expect(() => h.set(s, "v")).toThrow(TypeError);
    expect(() => h.setdefault("Y", s)).toThrow(TypeError);
    expect(() => h.addHeader("Z", s)).toThrow(TypeError);
    expect(() => h.addHeader("Z", "v", { p: s })).toThrow(TypeError);
    expect(() => new Headers([["X", s]])).toThrow(TypeError);
    expect(() => new Headers([[s, "v"]])).toThrow(TypeError);
    expect(h.length).toBe(0);
  });
  test("HTAB is allowed in values but not in names", () => {
    const h = new Headers();
    h.set("X", "a\tb");
    expect(h.get("X")).toBe("a\tb");
    expect(() => h.set("X\tY", "v")).toThrow(TypeError);
  });
  test("lookups with a bad name throw TypeError too", () => {
    expect(() => new Headers().get("a\nb")).toThrow(TypeError);
  });
  test("non-string values throw TypeError", () => {
    expect(() => new Headers().set("X", 1 as never)).toThrow(TypeError);
  });
});
