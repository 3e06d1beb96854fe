/**
 * What to do about Bun's link error for a TypeScript type imported or
 * re-exported as a value: `import { User } from "./types.ts"` with `User`
 * then used as a value, or a barrel's `export { User } from "./types.ts"`
 * (Bun 1.4.5: `Export named 'User' not found in module '/app/types.ts'.`,
 * and `export 'User' not found in './types.ts'`), where `types.ts` holds
 * `export interface User` or `export type User = ...`. The message says the
 * name is not exported, while the file plainly exports it: a type, which is
 * gone once the file is transpiled (TypeScript's `isolatedModules` and
 * `verbatimModuleSyntax` errors TS1205 and TS1484 are the compile-time form).
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, relative } from "node:path";

/**
 * The hint when `file` declares `name` as a type only (`export interface
 * name`, `export type name =`, `export declare interface`, or passes one on
 * with `export type { name }` / `export { type name }`); `undefined`
 * otherwise, or when `file` cannot be read. The file is named relative to
 * `cwd` (default the process's). `undefined` too when `file` also declares a
 * value of that name ({@link declaresValue}): then the name is exported.
 * A barrel that passes a module on whole (`export * from "./types"`, or
 * `export type * from`) is followed, up to 4 such hops: the hint names the
 * module declaring the type.
 */
export function typeExportHint(name: string, file: string, cwd: string = process.cwd()): string | undefined {
  return hintIn(name, file, cwd, new Set());
}

/** How many `export * from` hops {@link typeExportHint} follows (a barrel of barrels). */
const MAX_STAR_DEPTH = 4;

/** {@link typeExportHint} for `file`, else for the modules it passes on whole (`export * from "./types"`), `seen` not again. */
function hintIn(name: string, file: string, cwd: string, seen: Set<string>, depth = 0): string | undefined {
  if (seen.has(file)) return undefined;
  seen.add(file);
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const esc = name.replace(/[$]/g, "\\$");
  const declared = new RegExp(`(?:^|[\\n;{}])\\s*export\\s+(?:declare\\s+)?(interface|type)\\s+${esc}(?![\\w$])`).exec(source);
  const passed = declared ? null : new RegExp(`export\\s+type\\s*\\{[^}]*(?<![\\w$])${esc}(?![\\w$])|export\\s*\\{[^}]*(?<![\\w$])type\\s+${esc}(?![\\w$])`).exec(source);
  // A type and a value of one name (zod's `export type User = z.infer<typeof User>` beside `export const User`): the value is exported.
  if (valueIn(source, esc)) return undefined;
  if (!declared && !passed) {
    // A barrel's `export * from "./types"` passes the type's name on too (TypeScript's view), and Bun finds no such export.
    if (depth >= MAX_STAR_DEPTH) return undefined;
    // TypeScript 5's `export type * from "./types"` passes it on too (as a type only).
    for (const m of source.matchAll(/(?:^|[\n;{}])\s*export(?:\s+type)?\s*\*\s*from\s*(["'])([^"'\n]+)\1/g)) {
      let target: string;
      try {
        target = Bun.resolveSync(m[2]!, dirname(file)).replace(/\?.*$/, "");
      } catch {
        continue;
      }
      const hint = hintIn(name, target, cwd, seen, depth + 1);
      if (hint !== undefined) return hint;
    }
    return undefined;
  }
  const what = declared ? `export ${declared[1]} ${name}` : `export type { ${name} }`;
  return `${name} is a TypeScript type in ${relative(cwd, file) || file} (${what}), and types are gone at run time: import it with import type { ${name} }, use it only in types, and re-export it with export type { ${name} } from ...`;
}

/**
 * Whether `file` plainly declares `name` as an exported value (`export
 * const|let|var|function|class|enum name`, `async`, `abstract` and
 * `function*` included), so that a link error about `name` cannot be this
 * module's: used to tell which of several modules a specifier written alike
 * names (`./types.ts` in each folder) failed. `false` when `file` cannot be
 * read, or exports the name only in an `export { ... }` list.
 */
export function declaresValue(name: string, file: string): boolean {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch {
    return false;
  }
  return valueIn(source, name.replace(/[$]/g, "\\$"));
}

/** {@link declaresValue} on a module's `source`, with the name escaped for a regular expression (`esc`). */
function valueIn(source: string, esc: string): boolean {
  return new RegExp(`(?:^|[\\n;{}])\\s*export\\s+(?:async\\s+|abstract\\s+)?(?:const|let|var|function\\s*\\*?|class|enum)\\s+${esc}(?![\\w$])`).test(source);
}
