/**
 * Re-reading `.env` files on reload. Bun loads them once at start
 * (`.env`, `.env.<NODE_ENV>`, `.env.local`, later files winning); on every
 * reload {@link DotenvReloader} parses them again and updates `process.env`:
 * changed keys get their new value, keys removed from the files are deleted.
 * Variables that came from the real environment (the shell) are never
 * touched, as Bun never overrides them either.
 *
 * The files are parsed with `dotenv` and their `$VAR` references expanded
 * with `dotenv-expand`, the libraries most Node projects read `.env` with,
 * whose syntax is Bun's: a reload gives the values a fresh start would.
 * `dotenv-expand` is held below 1000.0.0, which added `$(command)`
 * substitution: Bun runs no commands from `.env`, and a reload should not.
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "dotenv";
import { expand } from "dotenv-expand";

/**
 * Parse dotenv text (`dotenv`): `KEY=value` or `KEY: value` lines, optional
 * `export ` prefix, `#` comments, single, double (with `\n` and `\r`,
 * spanning lines) or backtick quotes; other backslashes are kept as
 * written. Then expand (`dotenv-expand`) `$VAR`, `${VAR}`,
 * `${VAR:-default}` and `${VAR-default}` in every value, quoted or not,
 * from `env` first, then from keys defined earlier in the text; `\$` is a
 * literal `$`. (`dotenv-expand` also reads `${VAR:+alternate}`, which Bun
 * leaves as written.) A key already in `env` is left out: the value set
 * before wins, as in Bun.
 *
 * @param env variables already set (the shell's, and those of files read before).
 */
export function parseDotenv(text: string, env: Readonly<Record<string, string | undefined>> = {}): Record<string, string> {
  const parsed = parse(text);
  const processEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) processEnv[k] = v;
  for (const k of Object.keys(parsed)) if (Object.hasOwn(processEnv, k)) delete parsed[k];
  expand({ parsed, processEnv }); // writes into processEnv, a copy
  return parsed;
}

/** The dotenv files Bun reads, lowest precedence first. */
export function dotenvFiles(cwd: string, nodeEnv: string = process.env.NODE_ENV || "development"): string[] {
  return [".env", `.env.${nodeEnv}`, ".env.local"].map((f) => join(cwd, f));
}

function readTexts(files: string[]): string[] {
  const texts: string[] = [];
  for (const f of files) {
    try {
      texts.push(readFileSync(f, "utf8"));
    } catch {
      // absent or unreadable: skipped, as Bun does
    }
  }
  return texts;
}

/**
 * The files' variables. Like Bun, the files are read highest precedence
 * first, each expanded against `base` and the files read before it, and a
 * key keeps the first value it got.
 *
 * @param base the variables not from the files (the shell's).
 * @param texts the files' contents, lowest precedence first.
 */
function readAll(texts: string[], base: Record<string, string | undefined>): Record<string, string> {
  const env = { ...base };
  const merged: Record<string, string> = {};
  for (const text of [...texts].reverse()) {
    for (const [k, v] of Object.entries(parseDotenv(text, env))) env[k] = merged[k] = v;
  }
  return merged;
}

/** `process.env` without `keys`. */
function envWithout(keys: Iterable<string>): Record<string, string | undefined> {
  const env = { ...process.env };
  for (const k of keys) delete env[k];
  return env;
}

/** Keeps `process.env` in step with the dotenv files. */
export class DotenvReloader {
  /** Keys whose current value came from a dotenv file. */
  #owned = new Set<string>();
  readonly files: string[];

  /**
   * Snapshot which variables came from the dotenv files: a key counts as
   * ours when its value in `process.env` equals the files' value now.
   *
   * @param cwd directory holding the dotenv files; default `process.cwd()`.
   */
  constructor(cwd: string = process.cwd()) {
    this.files = dotenvFiles(cwd);
    const texts = readTexts(this.files);
    // Which variables Bun took from the files is not known: expand against
    // the environment without every key the files define.
    const defined = texts.flatMap((t) => Object.keys(parse(t)));
    for (const [k, v] of Object.entries(readAll(texts, envWithout(defined)))) {
      if (process.env[k] === v || process.env[k] === undefined) this.#owned.add(k);
      if (process.env[k] === undefined) process.env[k] = v;
    }
  }

  /**
   * Parse the files again and apply the differences to `process.env`.
   * @returns the names of the variables that changed, appeared or went away.
   */
  reload(): string[] {
    const next = readAll(readTexts(this.files), envWithout(this.#owned));
    const changed: string[] = [];
    for (const k of this.#owned) {
      if (!(k in next)) {
        delete process.env[k];
        this.#owned.delete(k);
        changed.push(k);
      }
    }
    for (const [k, v] of Object.entries(next)) {
      if (!this.#owned.has(k)) {
        if (process.env[k] !== undefined) continue; // from the shell: it wins
        this.#owned.add(k);
      }
      if (process.env[k] !== v) {
        process.env[k] = v;
        changed.push(k);
      }
    }
    return changed;
  }
}
