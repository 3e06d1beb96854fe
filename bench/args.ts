/**
 * Strict command lines for the bench scripts (the re-run commands of
 * docs/performance.md and docs/reliability.md): `node:util`'s `parseArgs`
 * in strict mode, so an unknown or misspelt flag (`--secnds 40`, `--minute
 * 2`) or a flag without its value is an error, and numbers are checked. A
 * mistake prints one line and the script's usage on stderr and exits 2
 * before anything starts, instead of running with a default (`bench/soak.ts`
 * defaults to 10 minutes).
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Print `message` and `usage` on stderr and exit 2 (a usage error). */
export function usageError(usage: string, message: string): never {
  console.error(`${message}\nusage: ${usage}`);
  process.exit(2);
}

/**
 * Parse `argv` (default: this process's arguments) against `options`, strictly:
 * no unknown flags, no positionals, a value for every string flag.
 * @param usage the one-line usage shown with an error (`bun bench/soak.ts [--seconds S] ...`).
 * @returns the parsed values, as `parseArgs` gives them.
 * Exits 2 (see {@link usageError}) on an unknown flag or a missing value; with `--help` or `-h`
 * anywhere in `argv`, prints `usage: ...` on stdout and exits 0 before anything starts.
 */
export function benchArgs<T extends Options>(usage: string, options: T, argv: string[] = process.argv.slice(2)) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    return parseArgsError(usage, error);
  }
}

/**
 * A `parseArgs` error as a usage error (see {@link usageError}): `unknown option --x`, or
 * the first sentence of its message, in place of the thrown TypeError and its stack.
 */
export function parseArgsError(usage: string, error: unknown): never {
  const e = error as { code?: string; message: string };
  const unknown = /Unknown option '([^']+)'/.exec(e.message);
  const message = unknown ? `unknown option ${unknown[1]}` : e.message.split(/\. /)[0]!.replace(/\.$/, "");
  return usageError(usage, message);
}

/**
 * A number flag: `value` (a string from {@link benchArgs}, or undefined for
 * `fallback`) checked to be finite, at least `min` (default 0) and, with
 * `integer`, whole. Exits 2 naming `--name` otherwise.
 */
export function numberArg(usage: string, name: string, value: unknown, fallback: number, { min = 0, integer = false } = {}): number {
  if (value === undefined) return fallback;
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    usageError(usage, `--${name} must be ${integer ? "an integer" : "a number"} of at least ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * The command line of a bench server target (bench/servers/*.ts: `PORT` and the words after it):
 * with `--help` or `-h` first, prints `usage: ...` on stdout and exits 0; a PORT (default
 * `fallback`) that is not a whole number from 0 to 65535 is a usage error (see {@link usageError}).
 * @returns the port and the words after it, for the script to check.
 */
export function serverArgs(usage: string, fallback: number, argv: string[] = process.argv.slice(2)): { port: number; rest: string[] } {
  const [portWord, ...rest] = argv;
  if (portWord === "--help" || portWord === "-h") {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  if (portWord === undefined) return { port: fallback, rest };
  const port = /^\d{1,5}$/.test(portWord) ? Number(portWord) : NaN;
  if (!(port <= 65535)) usageError(usage, `PORT must be a port number, 0 to 65535, got ${JSON.stringify(portWord)}`);
  return { port, rest };
}
