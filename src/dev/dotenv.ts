/**
 * Re-reading `.env` files on reload. Bun loads them once at start
 * (`.env`, `.env.<NODE_ENV>`, `.env.local`, later files winning); on every
 * reload {@link DotenvReloader} parses them again and updates `process.env`:
 * changed keys get their new value, keys removed from the files are deleted.
 * Variables that came from the real environment (the shell) are never
 * touched, as Bun never overrides them either.
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Parse dotenv text: `KEY=value` lines, optional `export ` prefix, `#`
 * comments, single quotes (literal), double quotes (with `\n`, `\t`, `\"`
 * escapes, may span lines), backticks, and `$VAR` / `${VAR}` expansion in
 * unquoted and double-quoted values (from keys defined earlier, then
 * `lookup`).
 */
export function parseDotenv(text: string, lookup: (key: string) => string | undefined = () => undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const expand = (v: string) =>
    v.replace(/\\\$|\$\{([A-Za-z_][\w.]*)\}|\$([A-Za-z_]\w*)/g, (m, a?: string, b?: string) => {
      if (m === "\\$") return "$";
      const k = (a ?? b)!;
      return out[k] ?? lookup(k) ?? "";
    });
  const re = /^[ \t]*(?:export[ \t]+)?([\w.-]+)[ \t]*=[ \t]*("(?:\\[\s\S]|[^"\\])*"|'[^']*'|`[^`]*`|[^\n#]*?)[ \t]*(?:#.*)?$/gm;
  for (const m of text.replace(/\r\n?/g, "\n").matchAll(re)) {
    const key = m[1]!;
    let value = m[2] ?? "";
    const q = value[0];
    if (q === "'" || q === "`") value = value.slice(1, -1);
    else if (q === '"') {
      value = expand(
        value.slice(1, -1).replace(/\\([nrt"\\])/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" })[c]!),
      );
    } else value = expand(value.trim());
    out[key] = value;
  }
  return out;
}

/** The dotenv files Bun reads, lowest precedence first. */
export function dotenvFiles(cwd: string, nodeEnv: string = process.env.NODE_ENV || "development"): string[] {
  return [".env", `.env.${nodeEnv}`, ".env.local"].map((f) => join(cwd, f));
}

function readAll(files: string[]): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    Object.assign(merged, parseDotenv(text, (k) => merged[k] ?? process.env[k]));
  }
  return merged;
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
    for (const [k, v] of Object.entries(readAll(this.files))) {
      if (process.env[k] === v || process.env[k] === undefined) this.#owned.add(k);
      if (process.env[k] === undefined) process.env[k] = v;
    }
  }

  /**
   * Parse the files again and apply the differences to `process.env`.
   * @returns the names of the variables that changed, appeared or went away.
   */
  reload(): string[] {
    const next = readAll(this.files);
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
