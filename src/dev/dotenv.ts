/**
 * Re-reading `.env` files on reload, with the rules Bun 1.4.5 loads them by
 * at start, so that a reload gives the values a fresh start would.
 *
 * Which files: Bun picks a mode from the shell's `BUN_ENV`, or `NODE_ENV`
 * when `BUN_ENV` is unset (a value set in a `.env` file does not count):
 * `production`, `test`, anything else (or nothing) is development. It reads,
 * highest precedence first, `.env.<mode>.local`, `.env.local` (not in test
 * mode), `.env.<mode>`, `.env`, from the directory the process started in.
 * A variable keeps the first value it gets: the shell's wins over every
 * file, a file's over those read after it.
 *
 * On every reload {@link DotenvReloader} parses the files again and updates
 * `process.env`: changed keys get their new value, keys removed from the
 * files are deleted. Variables that came from the shell are never touched.
 * Bun's `--env-file`, `--no-env-file` and bunfig's `env` are not followed:
 * the default files are read.
 *
 * The parser is written to Bun's rules ({@link parseDotenv}); no library
 * reads `.env` as Bun does (`dotenv` with `dotenv-expand`, which tsgi used
 * before, differed on 12 of 20 test files: forward references, `${X-d}`,
 * text after a closing quote, `KEY : value`...). test/dev-dotenv.test.ts
 * compares it with Bun itself on a corpus of files.
 * @module
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";

type Env = Readonly<Record<string, string | undefined>>;

/** Bun's whitespace between tokens; newlines included (`KEY\n=value` is a key and its value). */
const SPACE = " \t\v\f\r\n";
const KEY_CHAR = /[A-Za-z0-9_.-]/;

/**
 * Lex dotenv text as Bun does: the keys in the order they first appear, each
 * with its last value, not yet expanded.
 */
function lex(text: string): Map<string, string> {
  const src = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const entries = new Map<string, string>();
  let pos = 0;
  const skipSpace = () => {
    while (pos < src.length && SPACE.includes(src[pos]!)) pos++;
  };
  const skipLine = () => {
    while (pos < src.length && src[pos] !== "\n" && src[pos] !== "\r") pos++;
    pos++;
  };
  const key = (exportAllowed: boolean): string | null => {
    if (exportAllowed) skipSpace();
    const start = pos;
    let end = start;
    while (end < src.length && KEY_CHAR.test(src[end]!)) end++;
    if (end < src.length && start < end) {
      pos = end;
      skipSpace();
      if (pos < src.length) {
        if (exportAllowed && end < pos && src.slice(start, end) === "export") {
          const k = key(false);
          if (k !== null) return k;
        }
        if (src[pos] === "=") {
          pos++;
          return src.slice(start, end);
        }
        if (src[pos] === ":" && pos + 1 < src.length && SPACE.includes(src[pos + 1]!)) {
          pos += 2;
          return src.slice(start, end);
        }
      }
    }
    pos = start;
    return null;
  };
  const quoted = (quote: string): string | null => {
    const start = pos;
    let end = start + 1;
    while (end < src.length && src[end] !== quote) end += src[end] === "\\" ? 2 : 1;
    if (end >= src.length) return null;
    let out = "";
    for (let i = start + 1; i < end; ) {
      const c = src[i]!;
      if (c === "\\" && quote === '"') {
        const n = src[i + 1]!;
        out += n === "n" ? "\n" : n === "r" ? "\r" : c + n;
        i += 2;
      } else if (c === "\r") {
        if (src[i + 1] !== "\n") out += "\n";
        i++;
      } else {
        out += c;
        i++;
      }
    }
    pos = end + 1;
    skipLine(); // what follows the closing quote on its line is ignored
    return out;
  };
  const value = (): string => {
    const start = pos;
    skipSpace();
    if (pos >= src.length) return "";
    const c = src[pos]!;
    if (c === '"' || c === "'" || c === "`") {
      const v = quoted(c);
      if (v !== null) return v;
    }
    let end = start;
    while (end < src.length && !"#\r\n".includes(src[end]!)) end++;
    pos = end;
    let a = start;
    let b = end;
    while (a < b && SPACE.includes(src[a]!)) a++;
    while (b > a && SPACE.includes(src[b - 1]!)) b--;
    return src.slice(a, b);
  };
  while (pos < src.length) {
    const k = key(true);
    if (k === null) skipLine();
    else entries.set(k, value());
  }
  return entries;
}

/** Index of the `}` closing a `${` whose name starts at `from`, or -1. */
function closingBrace(v: string, from: number): number {
  let depth = 1;
  for (let j = from; j < v.length; j++) {
    if (v[j] === "\\") j++;
    else if (v[j] === "$" && v[j + 1] === "{") {
      depth++;
      j++;
    } else if (v[j] === "}" && --depth === 0) return j;
  }
  return -1;
}

/**
 * Expand a value's references as Bun does: `$NAME` and `${NAME}` (`NAME` of
 * letters, digits and `_`; unset is empty), `${NAME:-default}` (the default,
 * itself expanded, only when `NAME` is unset: set but empty gives empty),
 * `\$` is `$`. Any other `${...}` (`${X-d}`, `${X:+alt}`, `${X:=d}`) is left
 * as written, and so is the rest of the value after a `${` never closed.
 */
function expand(v: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  for (let i = 0; i < v.length; ) {
    const c = v[i]!;
    if (c === "\\" && v[i + 1] === "$") {
      out += "$";
      i += 2;
    } else if (c !== "$") {
      out += c;
      i++;
    } else if (v[i + 1] === "{") {
      const close = closingBrace(v, i + 2);
      if (close < 0) return out + v.slice(i);
      const m = /^([A-Za-z0-9_]*)(?::-([\s\S]*))?$/.exec(v.slice(i + 2, close));
      if (!m) out += v.slice(i, close + 1);
      else out += lookup(m[1]!) ?? (m[2] === undefined ? "" : expand(m[2], lookup));
      i = close + 1;
    } else {
      const name = /^[A-Za-z0-9_]+/.exec(v.slice(i + 1))?.[0];
      out += name ? (lookup(name) ?? "") : "$";
      i += 1 + (name?.length ?? 0);
    }
  }
  return out;
}

/**
 * Parse one dotenv file as Bun 1.4.5 does, against the variables set before
 * it (`env`: the shell's, then those of the files read before).
 *
 * - Lines are `KEY=value` or `KEY: value` (the colon followed by white
 *   space), with an optional `export ` prefix. A key is letters, digits,
 *   `_`, `-` and `.`. Anything else (`# comment`, `[section]`) is skipped to
 *   the end of its line. Lines end at `\n`, `\r\n` or `\r`.
 * - An unquoted value ends at `#` or the end of the line and is trimmed of
 *   white space (space, tab, `\v`, `\f`).
 * - A value in single, double or backtick quotes may span lines and ends at
 *   the first closing quote not after a backslash; the rest of that line is
 *   ignored (`"a" b` is `a`). Only double quotes read `\n` and `\r`; every
 *   other backslash is kept as written, in every kind of quote. A quote never
 *   closed leaves the value unquoted.
 * - A key set twice in the file takes its last value. A key already in
 *   `env` is left out: the value set before wins.
 * - Then every value, quoted in any way or not, is expanded (`$VAR`,
 *   `${VAR}`, `${VAR:-default}`, `\$`; see `expand`), one key after the
 *   other in the order they first appear in the file, from `env` and this
 *   file's values: a key defined further down gives its value as written,
 *   one defined above it expanded (`A=$B` then `B=$C`, `C=c`: `A` is `$C`).
 */
export function parseDotenv(text: string, env: Env = {}): Record<string, string> {
  const values = new Map<string, string>();
  for (const [k, v] of lex(text)) if (env[k] === undefined) values.set(k, v);
  const lookup = (name: string) => (values.has(name) ? values.get(name) : env[name]);
  for (const [k, v] of values) values.set(k, expand(v, lookup));
  return Object.fromEntries(values);
}

/** The mode Bun picks its dotenv files by, from the shell's variables. */
export function dotenvMode(shell: Env): "development" | "production" | "test" {
  const mode = shell.BUN_ENV ?? shell.NODE_ENV;
  return mode === "production" || mode === "test" ? mode : "development";
}

/** The dotenv files Bun reads, lowest precedence first. */
export function dotenvFiles(cwd: string, mode: "development" | "production" | "test"): string[] {
  const files = [".env", `.env.${mode}`, ...(mode === "test" ? [] : [".env.local"]), `.env.${mode}.local`];
  return files.map((f) => join(cwd, f));
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
 * The files' variables, as Bun loads them: the files read highest
 * precedence first, each parsed against `shell` and the files read before
 * it, a key keeping the first value it got.
 *
 * @param texts the files' contents, lowest precedence first.
 * @param shell the variables not from the files.
 */
export function loadDotenv(texts: string[], shell: Env): Record<string, string> {
  const env: Record<string, string | undefined> = { ...shell };
  const merged: Record<string, string> = {};
  for (const text of [...texts].reverse()) {
    for (const [k, v] of Object.entries(parseDotenv(text, env))) env[k] = merged[k] = v;
  }
  return merged;
}

/** `env` without `keys`. */
function without(env: Env, keys: Iterable<string>): Record<string, string | undefined> {
  const out = { ...env };
  for (const k of keys) delete out[k];
  return out;
}

/**
 * The environment this process was started with, before Bun added the
 * dotenv files' variables: `/proc/self/environ` (Linux). Null where there
 * is none.
 */
export function startEnvironment(): Record<string, string> | null {
  let raw: string;
  try {
    raw = readFileSync("/proc/self/environ", "utf8");
  } catch {
    return null;
  }
  const env: Record<string, string> = {};
  for (const entry of raw.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] ??= entry.slice(eq + 1);
    else if (entry) env[entry] ??= "";
  }
  return env;
}

/**
 * Which of the files' keys Bun took from the files, when the environment
 * the process started with is not known: the largest set whose values Bun
 * would have loaded given the rest of `process.env` as the shell. A key whose
 * value does not match is taken to be the shell's; when several do not
 * match, those whose mismatch a reference to another explains wait a round
 * (`URL=http://${HOST}/` with `HOST` from the shell: only `HOST` is the
 * shell's).
 */
function inferOwned(texts: string[], env: Env): Set<string> {
  const raw = texts.map(lex);
  const owned = new Set(raw.flatMap((m) => [...m.keys()]));
  for (;;) {
    const loaded = loadDotenv(texts, without(env, owned));
    const bad = [...owned].filter((k) => env[k] !== undefined && loaded[k] !== env[k]);
    if (!bad.length) return owned;
    const refersToBad = (k: string) =>
      raw.some((m) => [...(m.get(k) ?? "").matchAll(/\$\{?([A-Za-z0-9_]+)/g)].some((r) => r[1] !== k && bad.includes(r[1]!)));
    const drop = bad.filter((k) => !refersToBad(k));
    for (const k of drop.length ? drop : bad) owned.delete(k);
  }
}

/**
 * The dotenv file `key`'s value in `process.env` came from, as Bun loaded
 * it (its name, e.g. `.env.local`: the files are in `cwd`), or undefined
 * when it came from the environment the process started with, or no file
 * sets it to that value. A message about the value (a busy `PORT`) then
 * points at the file to edit, where unsetting the variable in the shell
 * would do nothing. Where the start environment is not known (off Linux),
 * a file whose value is the one in `process.env` is taken to be its source.
 * @param cwd directory holding the dotenv files; default `process.cwd()`.
 * @param start the environment the process started with, null if not known; default {@link startEnvironment}.
 */
export function dotenvSource(key: string, cwd: string = process.cwd(), start: Env | null = startEnvironment()): string | undefined {
  if (process.env[key] === undefined || (start !== null && start[key] !== undefined)) return undefined;
  const files = dotenvFiles(cwd, dotenvMode(start ?? process.env));
  const texts = files.map((f) => readTexts([f])[0]);
  const present = texts.flatMap((t, i) => (t === undefined ? [] : [{ file: files[i]!, text: t }]));
  const loaded = loadDotenv(present.map((f) => f.text), start ?? without(process.env, [key]));
  if (loaded[key] !== process.env[key]) return undefined;
  // The highest-precedence file that sets it: its value is the one Bun kept.
  const from = [...present].reverse().find((f) => lex(f.text).has(key));
  return from === undefined ? undefined : basename(from.file);
}

/** Keeps `process.env` in step with the dotenv files. */
export class DotenvReloader {
  /** Keys whose current value came from a dotenv file. */
  #owned = new Set<string>();
  readonly files: string[];

  /**
   * Find which variables came from the dotenv files. Where the environment
   * the process started with is known (Linux), that is exact: Bun's loading
   * is done again from it, and a key is ours when `process.env` still holds
   * the value Bun gave it. Elsewhere the shell is inferred from `process.env`
   * (see `inferOwned`), and the mode from `process.env`'s `BUN_ENV` or
   * `NODE_ENV`, even if a file set them.
   *
   * @param cwd directory holding the dotenv files; default `process.cwd()`.
   * @param start the environment the process started with, null if not
   *   known; default {@link startEnvironment}.
   */
  constructor(cwd: string = process.cwd(), start: Env | null = startEnvironment()) {
    this.files = dotenvFiles(cwd, dotenvMode(start ?? process.env));
    const texts = readTexts(this.files);
    const loaded = start ? loadDotenv(texts, start) : loadDotenv(texts, without(process.env, inferOwned(texts, process.env)));
    for (const [k, v] of Object.entries(loaded)) {
      if (process.env[k] === v || process.env[k] === undefined) this.#owned.add(k);
      if (process.env[k] === undefined) process.env[k] = v;
    }
  }

  /**
   * Parse the files again and apply the differences to `process.env`.
   * @returns the names of the variables that changed, appeared or went away.
   */
  reload(): string[] {
    const next = loadDotenv(readTexts(this.files), without(process.env, this.#owned));
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
