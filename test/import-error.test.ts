/**
 * What `tsgi serve` says when the app module cannot be imported
 * (src/deploy/load-app.ts): the message and the file:line:column, in one
 * line, for Bun's real errors from real `import()`s of broken files.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeImportError, userFrame } from "../src/deploy/load-app.ts";

const dir = mkdtempSync(join(tmpdir(), "tsgi-import-error-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function importError(name: string, source: string): Promise<{ file: string; text: string }> {
  const file = join(dir, name);
  writeFileSync(file, source);
  try {
    await import(file);
  } catch (error) {
    return { file, text: describeImportError(error) };
  }
  throw new Error(`${name} imported without an error`);
}

describe("describeImportError", () => {
  test("syntax errors: the first, where, and how many more", async () => {
    const { file, text } = await importError("syntax.ts", 'export default function app() {\n  return [new Uint8Array(1)\n}\n');
    expect(text).toBe(`SyntaxError: Expected "]" but found "}" (${file}:3:1) (and 1 more error in this file)`);
  });

  test("one syntax error", async () => {
    const { file, text } = await importError("one.ts", "const x = ;\nexport default x;\n");
    expect(text).toMatch(new RegExp(`^SyntaxError: .+ \\(${file.replaceAll(".", "\\.")}:1:11\\)$`));
  });

  test("a throw while the module runs: the line that threw", async () => {
    const { file, text } = await importError("throws.ts", 'const x = 1;\nthrow new Error("boom at import");\nexport default x;\n');
    expect(text).toBe(`boom at import (${file}:2:11)`);
    const typed = await importError("typed.ts", 'const o: any = JSON.parse("null");\nexport default o.app;\n');
    expect(typed.text).toMatch(new RegExp(`^TypeError: .+ \\(${typed.file.replaceAll(".", "\\.")}:2:\\d+\\)$`));
  });

  test("an import that does not resolve names the specifier and the importer", async () => {
    const { file, text } = await importError("missing.ts", 'import { h } from "./nope.ts";\nexport default h;\n');
    expect(text).toBe(`Cannot find module './nope.ts' imported from ${file}`);
  });

  test("not an Error", () => {
    expect(describeImportError("text")).toBe("a non-Error value was thrown: text");
    expect(describeImportError(new Error("plain"))).toMatch(/^plain \(.+import-error\.test\.ts:\d+:\d+\)$/);
  });

  test("userFrame skips node_modules, tsgi's own sources and Bun's built-ins", () => {
    const own = join(import.meta.dir, "../src/deploy/worker.ts");
    const stack = [
      "Error: x",
      "    at <parse> (:0)",
      "    at parse (unknown)",
      "    at f (/app/node_modules/lib/index.js:1:2)",
      `    at loadApp (${own}:40:5)`,
      "    at file:///app/src/app.ts:7:3",
    ].join("\n");
    expect(userFrame(stack)).toEqual({ file: "/app/src/app.ts", line: 7, column: 3 });
  });
});
