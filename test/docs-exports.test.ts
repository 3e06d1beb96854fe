/**
 * The docs name what the package exports: every entry point of package.json
 * "exports" is listed in README.md's table of entry points, and every value
 * each entry point exports (functions, classes, constants) is named somewhere
 * in README.md or docs/ (types are documented on the values that use them).
 * So nothing a user can import is left for them to find in the sources,
 * and a new export without a word in the docs fails here.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };

const root = join(import.meta.dir, "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const docs = [readme, ...[...new Bun.Glob("docs/**/*.md").scanSync(root)].map((f) => readFileSync(join(root, f), "utf8"))].join("\n");

const entries = Object.entries(pkg.exports as Record<string, string | { default: string }>)
  .filter(([, target]) => typeof target === "object")
  .map(([subpath, target]) => ({ name: subpath === "." ? "tsgi" : `tsgi/${subpath.slice(2)}`, file: (target as { default: string }).default }));

describe("the docs name every entry point and every value it exports", () => {
  test("README.md's table of entry points lists each of package.json's", () => {
    const table = readme.slice(readme.indexOf("## Entry points"));
    expect(table.length).toBeLessThan(readme.length);
    const missing = entries.filter((e) => !new RegExp(`^\\| \`${e.name.replace("/", "\\/")}\` \\|`, "m").test(table)).map((e) => e.name);
    expect(missing).toEqual([]);
  });

  // Before: the `tsgi` row said it exports "the `tsgi/util` functions", and `import { latin1Encode } from "tsgi"`
  // fails (SyntaxError: Export named 'latin1Encode' not found); the row now names them, and names are checked here.
  test("each function, class or constant README.md's table names in an entry point's row is exported by that entry point", async () => {
    const table = readme.slice(readme.indexOf("## Entry points"), readme.indexOf("\n## ", readme.indexOf("## Entry points") + 1));
    // Values and types alike (`tsgi` exports the type `Environ`, `tsgi/secure-environ` a class of that name), as TypeScript sees them.
    const ts = (await import("typescript")).default;
    const program = ts.createProgram(entries.map((e) => join(root, e.file)), { target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, allowImportingTsExtensions: true, noEmit: true, types: [], skipLibCheck: true });
    const checker = program.getTypeChecker();
    const exported = new Map<string, Set<string>>();
    for (const e of entries) {
      const module = checker.getSymbolAtLocation(program.getSourceFile(join(root, e.file))!)!;
      exported.set(e.name, new Set(checker.getExportsOfModule(module).map((x) => x.name)));
    }
    const anywhere = new Set([...exported.values()].flatMap((names) => [...names]));
    const wrong: string[] = [];
    let checked = 0;
    for (const row of table.split("\n").filter((l) => /^\| `tsgi/.test(l))) {
      const [, first, rest] = /^\| `([^`]+)` \|(.*)\|$/.exec(row) ?? [];
      const own = exported.get(first!);
      expect(own, row.slice(0, 60)).toBeDefined();
      // A span that is a name (`serve`, `new Headers`, `resolveOptions(options)`) an entry point exports; `server.options`, `"Not Found"` are not.
      for (const [, span] of rest!.matchAll(/`([^`]+)`/g)) {
        const name = /^(?:new )?([A-Za-z_$][\w$]*)(?:\(.*\))?$/.exec(span!)?.[1];
        if (!name || !anywhere.has(name)) continue;
        checked++;
        if (!own!.has(name)) wrong.push(`${first}: ${name}`);
      }
    }
    expect(checked).toBeGreaterThan(25);
    expect(wrong).toEqual([]);
  });

  for (const entry of entries) {
    test(`${entry.name}: every value export is named in README.md or docs/`, async () => {
      const mod = (await import(join(root, entry.file))) as Record<string, unknown>;
      const missing = Object.keys(mod).filter((name) => !new RegExp(`\\b${name}\\b`).test(docs));
      expect(missing).toEqual([]);
    });
  }
});
