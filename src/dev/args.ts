/**
 * Small argument helpers for the CLI that citty does not cover: repeatable
 * string flags, empty values and port numbers.
 * @module
 */
import { UsageError } from "../deploy/errors.ts";
import { portText } from "../deploy/options.ts";

/**
 * All values of a repeatable string flag, in order: `--watch a --watch=b`
 * → `["a", "b"]`. Stops at `--`.
 * @throws UsageError when the flag is last or followed by another flag.
 */
export function repeated(rawArgs: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    if (a === `--${name}`) {
      const v = rawArgs[i + 1];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      out.push(v);
      i++;
    } else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

/**
 * Reject an empty value of a string flag: `--port=`, `--watch=` or
 * `--watch ""`. citty takes the empty string as given, and it would quietly
 * mean something else: the default port, the whole working directory.
 * Stops at `--`.
 * @param expected for each flag name checked, what to give instead, with an
 *   example (`"a TCP port from 0 to 65535, e.g. --port 8000"`).
 * @throws UsageError naming the first such flag and what to give.
 */
export function rejectEmpty(rawArgs: readonly string[], expected: Readonly<Record<string, string>>): void {
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    for (const [name, what] of Object.entries(expected)) {
      const empty = a === `--${name}=` || (a === `--${name}` && rawArgs[i + 1] === "");
      if (empty) throw new UsageError(`--${name} needs a value, got an empty one: ${what}`);
    }
  }
}

/**
 * A TCP port number, 0 to 65535.
 * @param from what to name in the error (`--port`, `PORT`).
 * @throws UsageError for anything else.
 */
export function parsePort(value: string, from: string): number {
  // tsgi serve's reading and words (its --port and PORT): one rule for both commands.
  return portText(value, from);
}

/**
 * `--allowed-hosts` values: comma-separated host names, gathered from every
 * use of the flag; `all` (alone) answers any host.
 * @throws UsageError for an empty name, or one with a port, a path or spaces.
 */
export function allowedHostsArg(values: readonly string[]): readonly string[] | true {
  const names = values.flatMap((v) => v.split(",")).map((v) => v.trim().toLowerCase());
  if (names.includes("all")) return true;
  for (const n of names) {
    if (!/^\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/.test(n)) {
      throw new UsageError(`--allowed-hosts takes host names such as app.test or .example.com (no port or scheme), got ${JSON.stringify(n)}`);
    }
  }
  return names;
}
