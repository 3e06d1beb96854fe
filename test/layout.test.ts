/**
 * The module layout is the architecture: imports between the layers of src/
 * flow one way (README "Project layout"). This test reads every import in src/
 * and fails on an edge the layering does not allow, naming the file.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/**
 * What each layer may import besides itself. `spec` is the TSGI types,
 * `version` the package version. `server` is the HTTP server, `deploy`
 * production deployment (`tsgi serve`: options, app loading, workers and
 * their supervisor), `dev` the dev server, `cli` the two commands.
 */
const ALLOWED: Record<string, readonly string[]> = {
  spec: [],
  version: [],
  http: [],
  gateway: ["spec", "http"],
  toolkit: ["spec", "gateway"],
  fetch: ["spec", "version", "http", "gateway"],
  server: ["spec", "version", "http", "gateway", "fetch"],
  deploy: ["spec", "version", "http", "gateway", "fetch", "server"],
  dev: ["spec", "version", "http", "gateway", "toolkit", "fetch", "server", "deploy"],
  cli: ["spec", "version", "http", "gateway", "toolkit", "fetch", "server", "deploy", "dev"],
};
/** The top-level entry point (the package's main export), which may import anything. */
const ENTRY_POINTS: readonly string[] = ["index"];
/**
 * The one toolkit module built on the server: wsgiref.simple_server, which
 * the seed builds on http.server. It uses the server's public surface only.
 */
const EXCEPTIONS: Record<string, readonly string[]> = {
  "toolkit/simple-server.ts": ["server/index.ts"],
};

function layerOf(file: string): string {
  const rel = relative(SRC, file);
  if (rel.startsWith("..")) return "outside";
  const [first] = rel.split("/");
  return first!.endsWith(".ts") ? first!.slice(0, -3) : first!;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative module specifiers of static imports, re-exports and dynamic `import("...")`. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s+["'](\.[^"']+)["']/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*["'](\.[^"']+)["']\s*\)/g)) out.push(m[1]!);
  return out;
}

const files = sources(SRC);

describe("src/ layering", () => {
  test("finds the layers and their imports", () => {
    const layers = new Set(files.map(layerOf));
    for (const layer of ["http", "gateway", "toolkit", "fetch", "server", "deploy", "dev", "cli"]) expect(layers.has(layer)).toBe(true);
    // Every file is in a layer or is the entry point: a new top-level module or directory must be placed in the map.
    expect([...layers].filter((l) => ALLOWED[l] === undefined && !ENTRY_POINTS.includes(l))).toEqual([]);
    // The parser of imports sees the known edges (guards against a regex that matches nothing).
    const conn = readFileSync(join(SRC, "server/connection.ts"), "utf8");
    expect(importsOf(conn)).toContain("../http/parser.ts");
  });

  test("imports flow one way: cli → dev → deploy → server → fetch → gateway → http, dev → toolkit → gateway, all on spec", () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      const allowed = ALLOWED[from];
      if (allowed === undefined) continue; // the entry point
      const rel = relative(SRC, file);
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        const target = resolve(dirname(file), spec);
        const to = layerOf(target);
        if (to === from || to === "outside" || allowed.includes(to)) continue;
        if (EXCEPTIONS[rel]?.includes(relative(SRC, target))) continue;
        violations.push(`${rel} imports ${spec} (${from} → ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  test("the version comes from version.ts: no other module imports package.json", () => {
    const readers = files.filter((f) => /from\s+["'][./]+package\.json["']/.test(readFileSync(f, "utf8"))).map((f) => relative(SRC, f));
    expect(readers).toEqual(["version.ts"]);
  });

  test("the http layer (parser) uses no runtime but the language", () => {
    for (const file of files.filter((f) => layerOf(f) === "http")) {
      const bare = [...readFileSync(file, "utf8").matchAll(/from\s+["']([^."'][^"']*)["']/g)].map((m) => m[1]);
      expect({ file: relative(SRC, file), bare }).toEqual({ file: relative(SRC, file), bare: [] });
    }
  });
});

describe("text files", () => {
  test("every tracked text file of src/, test/, bench/, docs/, fixtures/ and the top level is UTF-8 (editors and grep misread a stray Latin-1 byte)", () => {
    const ROOT = resolve(import.meta.dir, "..");
    const TEXT = /\.(ts|mts|mjs|js|json|md|toml|txt|py|sh)$/;
    const SKIP = new Set(["node_modules", "dist", ".git"]);
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        SKIP.has(e.name) ? [] : e.isDirectory() ? walk(join(dir, e.name)) : TEXT.test(e.name) ? [join(dir, e.name)] : [],
      );
    const roots = ["src", "test", "bench", "docs", "fixtures"].map((d) => join(ROOT, d));
    const top = readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isFile() && TEXT.test(e.name)).map((e) => join(ROOT, e.name));
    const all = [...roots.flatMap(walk), ...top];
    expect(all.length).toBeGreaterThan(100);
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const bad: string[] = [];
    for (const file of all) {
      try {
        decoder.decode(readFileSync(file));
      } catch {
        bad.push(relative(ROOT, file));
      }
    }
    expect(bad).toEqual([]);
  });
});
