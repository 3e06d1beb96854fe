/**
 * Strict command-line checking for the citty commands (`tsgi serve`,
 * `tsgi-dev`). citty accepts unknown flags silently and lets a string flag
 * take the next flag as its value (`--uds --port 1` sets `uds` to
 * `"--port"`); a server must not start on a mistyped `--worker 4` as if
 * nothing was wrong.
 * @module
 */
import leven from "leven";
import { UsageError } from "../deploy/errors.ts";

/** The shape of a citty argument definition this checker reads. */
export interface FlagDef {
  type?: "positional" | "string" | "boolean" | "enum";
  valueHint?: string;
  options?: readonly string[];
  /** A positional that must be given. */
  required?: boolean;
  /** What the flag does (its `--help` line). */
  description?: string;
  /** What `--no-<name>` does, for a switch. */
  negativeDescription?: string;
}

/**
 * What the switch `name` (a boolean flag, or `no-` and one) does, in
 * lower case, from its definition; `""` when it says nothing, `undefined`
 * when `name` is not a switch.
 */
function switchDescription(defs: Record<string, FlagDef>, name: string): string | undefined {
  const negated = name.startsWith("no-") && defs[name.slice(3)]?.type === "boolean";
  const def = negated ? defs[name.slice(3)]! : defs[name];
  if (def?.type !== "boolean") return undefined;
  const text = (negated ? def.negativeDescription : def.description) ?? "";
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * Check `rawArgs` against the command's argument definitions.
 *
 * - an unknown flag (`--bogus`, `-p`) is an error, with the nearest known
 *   name suggested (`--worker` → `--workers`, `--no-acess-log` →
 *   `--no-access-log`, `--versoin` → `--version`);
 * - a string or enum flag needs a value: `--name value` or `--name=value`,
 *   and the value may not be another flag;
 * - a boolean flag takes no `=value`, except the values listed for it in
 *   `optionalValues` (`--peercreds=resolve`); `--no-<name>` negates it;
 * - `--no-<name>` of a flag that takes a value (`--no-port`) is an error
 *   saying it has no `--no-` form and to leave the flag out, unless
 *   `foreign` says more for it (`no-workers`: leave it out to serve in one
 *   process; `no-timeout`: `--timeout 0`);
 * - an enum flag's value must be one of its options;
 * - more positional arguments than the command defines is an error (one
 *   after a switch is named as the value it does not take: `--access-log
 *   /var/log/app.log`), and so is a missing required one (unless `--help`
 *   or `--version` is given).
 *
 * Run it before citty parses (citty prints its whole usage text before
 * such errors), and again in the command is harmless.
 *
 * `--help`, `-h`, `--version` and `-v` are citty's own and always allowed,
 * and one of them before `--` turns the checks off (citty then answers it,
 * whatever else was given); everything after `--` is left alone, except
 * that it gives the positional arguments not given before it, as citty
 * takes them (`tsgi serve --port 8000 -- ./app.ts`, `-- -app.ts`).
 * @param command the command's name, used in messages (`tsgi serve`).
 * @param foreign flags of other servers (gunicorn, uvicorn) this command
 *   does not have, by name without dashes (`bind`, `b`), with what to do
 *   instead: said in place of the nearest-name guess, which would mislead
 *   (`-b` is not `--fd`). A single-dash argument is also looked up by its
 *   first letter, as gunicorn reads it (`-w4`, `-b0.0.0.0:8000`), unless it
 *   spells one of the command's flags (`-workers`: did you mean `--workers`?).
 * @throws UsageError on the first problem found.
 */
export function checkArgs(
  command: string,
  rawArgs: readonly string[],
  defs: Record<string, FlagDef>,
  optionalValues: Record<string, readonly string[]> = {},
  foreign: Record<string, string> = {},
): void {
  // Help (or the version) asked for anywhere wins over what is wrong with the rest, as citty
  // answers it (`tsgi serve --help --port` shows the help, not "--port needs a value").
  const end = rawArgs.indexOf("--");
  if ((end === -1 ? rawArgs : rawArgs.slice(0, end)).some((a) => a === "--help" || a === "-h" || a === "--version" || a === "-v")) return;
  const positionals = Object.entries(defs).filter(([, d]) => d.type === "positional").map(([name]) => name);
  const flags = Object.keys(defs).filter((name) => defs[name]!.type !== "positional");
  // What a misspelt flag may have meant: the flags, the --no- form of each switch (--no-acess-log),
  // and citty's own --help and --version (--versoin), last: a flag of the command's wins a tie.
  const spellings = [...flags, ...flags.filter((name) => defs[name]!.type === "boolean").map((name) => `no-${name}`), "help", "version"];
  let seenPositionals = 0;
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === "--help" || arg === "-h" || arg === "--version" || arg === "-v") continue;
    if (!arg.startsWith("-") || arg === "-") {
      if (++seenPositionals > positionals.length) {
        const prev = rawArgs[i - 1]?.replace(/^--/, "");
        if (prev !== undefined && optionalValues[prev]?.includes(arg)) {
          throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: write --${prev}=${arg}, with "="`);
        }
        // A value given to a switch (`--access-log /var/log/app.log`, `--proxy-headers yes`): say so, with what the switch does.
        const switched = rawArgs[i - 1]?.startsWith("--") && prev !== undefined ? switchDescription(defs, prev) : undefined;
        if (switched !== undefined) {
          throw new UsageError(`unexpected argument ${JSON.stringify(arg)} after --${prev}, which takes no value${switched ? ` (${switched})` : ""} (see ${command} --help)`);
        }
        throw new UsageError(
          `unexpected argument ${JSON.stringify(arg)}: ${command} takes ${positionals.length === 1 ? `one ${positionals[0]}` : `${positionals.length} positional arguments`} (see ${command} --help)`,
        );
      }
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(arg.startsWith("--") ? 2 : 1, eq === -1 ? undefined : eq);
    const value = eq === -1 ? undefined : arg.slice(eq + 1);
    const negated = name.startsWith("no-") && defs[name.slice(3)]?.type === "boolean";
    const def = negated ? defs[name.slice(3)] : defs[name];
    if (!arg.startsWith("--") || def === undefined || def.type === "positional") {
      const short = !arg.startsWith("--") && !flags.includes(name);
      // The flag as named: without its value (`--bind=0.0.0.0:8000`: --bind), but a --no- form with
      // one (`--no-workers=3`) as typed, the value being half of what was meant.
      const named = arg.startsWith("--no-") ? arg : arg.slice(0, eq === -1 ? undefined : eq);
      const hint = foreignHint(foreign, name, short);
      if (hint !== undefined) throw new UsageError(`unknown option ${named}: ${hint} (see ${command} --help)`);
      // The --no- form of a flag that takes a value (--no-port, --no-uds): it is no switch, and leaving it out is its "off".
      const valued = arg.startsWith("--") && name.startsWith("no-") ? defs[name.slice(3)] : undefined;
      if (valued !== undefined && valued.type !== "positional" && valued.type !== "boolean") {
        throw new UsageError(`unknown option ${named}: ${noNegation(name.slice(3), valued, `leave --${name.slice(3)} out for its default`)} (see ${command} --help)`);
      }
      // A short flag with its value attached (-p8000) is read by its first letter too.
      const near = nearest(name, spellings) ?? (short && name.length > 1 ? nearest(name.slice(0, 1), flags) : undefined);
      throw new UsageError(`unknown option ${named}${near ? `; did you mean --${near}?` : ""} (see ${command} --help)`);
    }
    if (def.type === "boolean") {
      if (value !== undefined && (negated || !(optionalValues[name] ?? []).includes(value))) {
        const allowed = optionalValues[name];
        throw new UsageError(
          allowed && !negated
            ? `${arg} is not valid: use --${name}${allowed.map((v) => ` or --${name}=${v}`).join("")}`
            : `--${name} takes no value, got ${JSON.stringify(arg)}`,
        );
      }
      continue;
    }
    let given = value;
    if (given === undefined) {
      const next = rawArgs[i + 1];
      // A negative number is a value (its check says what is wrong with it), not a flag.
      if (next === undefined || (next.startsWith("-") && next !== "-" && !/^-\d/.test(next))) {
        throw new UsageError(`--${name} needs a value: --${name} <${def.valueHint ?? def.options?.join("|") ?? "value"}>`);
      }
      given = next;
      i++;
    }
    if (def.type === "enum" && def.options && !def.options.includes(given)) {
      throw new UsageError(`--${name} must be one of ${def.options.join(", ")}; got ${JSON.stringify(given)}`);
    }
  }
  if (rawArgs.some((a) => a === "--help" || a === "-h" || a === "--version" || a === "-v")) return;
  // citty fills the positionals from what follows "--" too (`-- ./app.ts`: the app).
  if (end !== -1) seenPositionals += rawArgs.length - end - 1;
  const missing = positionals.slice(seenPositionals).find((name) => defs[name]!.required);
  if (missing !== undefined) throw new UsageError(`missing <${missing}>: ${command} <${missing}> [options], e.g. ${command} ./app.ts (see ${command} --help)`);
}

/**
 * Whether the switch `--<name>` is on, as the command line means it: the
 * last of `--<name>` and `--no-<name>` (before `--`) wins, as for a flag
 * given twice (`--port`, `--reload`), so that one added after a script's
 * flags (`npm run dev -- --live` on `tsgi-dev ./app.ts --no-live`) turns it
 * back on. citty's parse takes a `--no-<name>` anywhere for off.
 * @param fallback the value when neither is given (the switch's default).
 */
export function lastSwitch(rawArgs: readonly string[], name: string, fallback: boolean): boolean {
  const end = rawArgs.indexOf("--");
  const given = (end === -1 ? rawArgs : rawArgs.slice(0, end)).findLast((a) => a === `--${name}` || a === `--no-${name}`);
  return given === undefined ? fallback : given === `--${name}`;
}

/**
 * What to say of `--no-<name>` for a flag that takes a value: that it
 * takes one and is no switch, and `instead`: `--workers takes a value
 * (--workers <n>); there is no --no-workers: leave it out to serve in one process`.
 */
export function noNegation(name: string, def: FlagDef, instead: string): string {
  return `--${name} takes ${def.options ? `one of ${def.options.join(", ")}` : `a value (--${name} <${def.valueHint ?? "value"}>)`}; there is no --no-${name}: ${instead}`;
}

/**
 * The positional arguments of `rawArgs` before `--`, as {@link checkArgs}
 * reads them: a string or enum flag written `--name value` takes the next
 * argument as its value (`--port 9000 help`: `["help"]`); a switch takes
 * none. What is wrong with the flags is left to `checkArgs`.
 */
export function positionalArgs(rawArgs: readonly string[], defs: Record<string, FlagDef>): string[] {
  return positionalIndexes(rawArgs, defs).map((i) => rawArgs[i]!);
}

/**
 * Where in `rawArgs` the positional arguments of {@link positionalArgs}
 * are (`--port 9000 serve app.ts`: `[2, 3]`), to take one out of the line.
 */
export function positionalIndexes(rawArgs: readonly string[], defs: Record<string, FlagDef>): number[] {
  const out: number[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-") {
      out.push(i);
      continue;
    }
    if (!arg.startsWith("--") || arg.includes("=")) continue;
    const type = defs[arg.slice(2)]?.type;
    const next = rawArgs[i + 1];
    if ((type === "string" || type === "enum") && next !== undefined && (!next.startsWith("-") || next === "-" || /^-\d/.test(next))) i++;
  }
  return out;
}

/**
 * Whether the command line asks for the version (`--version` or `-v`
 * anywhere, and no `--help`/`-h`, which wins). citty answers `--version`
 * only when it is the only argument.
 */
export function versionRequested(rawArgs: readonly string[]): boolean {
  return !rawArgs.some((a) => a === "--help" || a === "-h") && rawArgs.some((a) => a === "--version" || a === "-v");
}

/**
 * What `foreign` says to use instead of the unknown flag `name` (without
 * dashes), if anything; `short`: it came after a single dash, where the
 * first letter is the flag and the rest its value (`-w4`).
 */
function foreignHint(foreign: Record<string, string>, name: string, short: boolean): string | undefined {
  if (Object.hasOwn(foreign, name)) return foreign[name];
  const letter = name.slice(0, 1);
  return short && Object.hasOwn(foreign, letter) ? foreign[letter] : undefined;
}

/**
 * The known flag closest to `name` (a prefix either way, or an edit
 * distance of at most 2 and less than `name`'s length: `-H` is no
 * misspelt `--fd`, which shares none of its letters), if any.
 */
function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const prefix = k.startsWith(name) || name.startsWith(k);
    const d = prefix ? 1 : leven(name, k);
    if (!prefix && d >= name.length) continue;
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}
