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

  for (const entry of entries) {
    test(`${entry.name}: every value export is named in README.md or docs/`, async () => {
      const mod = (await import(join(root, entry.file))) as Record<string, unknown>;
      const missing = Object.keys(mod).filter((name) => !new RegExp(`\\b${name}\\b`).test(docs));
      expect(missing).toEqual([]);
    });
  }
});
