/**
 * The app's module sources as one load reads them. A load needs each code
 * module's text several times: the graph scan reads its imports, the
 * resolver asks whether it is CommonJS (see `versioning.ts`), the
 * versioning plugin's `onLoad` gives it to Bun, and the reloader wants its
 * fingerprint from before the load. Read separately, that was four reads of
 * every module per load (three of them also parsed it), about 0.4 s per
 * reload for an app of 3,000 modules. A {@link SourceSnapshot} reads each
 * file once per load, with the fingerprint of exactly those bytes, and
 * every one of those steps uses them: what Bun compiles is what the load
 * fingerprinted (a save made after the read, however soon, differs and
 * reloads), and the CommonJS question is answered from the bytes Bun then
 * gets. A file whose status changed since the scan read it (an app that
 * writes a module as it loads, then imports it) is read again for Bun (see
 * {@link SourceSnapshot.current}). What is derived from a module's text alone (its imports, whether it
 * is CommonJS) is kept per fingerprint from one load to the next
 * ({@link derived}), so an unchanged module is not parsed again.
 * @module
 */
import { closeSync, fstatSync, openSync, readFileSync, statSync, type Stats } from "node:fs";
import { fingerprintOf, remember, WHOLE_HASH_MAX_BYTES } from "./fingerprint.ts";

/** A file's bytes as read, and their fingerprint (see `fingerprint.ts`). */
export interface Source {
  readonly bytes: Buffer;
  readonly print: string;
}

/** A read, with the file's status taken before it (to tell a change since). */
interface Read extends Source {
  readonly stat: Stats;
}

/** Read `file` whole with its fingerprint, as `readFingerprinted` does, keeping the status taken before the read. */
function readWithStat(file: string): Read {
  const at = Date.now();
  const fd = openSync(file, "r");
  try {
    const stat = fstatSync(fd);
    const bytes = readFileSync(fd);
    const print = fingerprintOf(bytes, stat);
    // For the checks after the load, which compare the disk with it (see `fingerprint`).
    remember(file, stat, at, print);
    return { bytes, print, stat };
  } finally {
    closeSync(fd);
  }
}

/** Whether `file`'s status is still `stat` (inode, size, modification and change times). False when it is gone. */
function unchanged(file: string, stat: Stats): boolean {
  try {
    const now = statSync(file);
    return now.ino === stat.ino && now.size === stat.size && now.mtimeMs === stat.mtimeMs && now.ctimeMs === stat.ctimeMs;
  } catch {
    return false;
  }
}

/**
 * Files read once each, as a load first asks for them (see the module
 * notes). Made for one load and dropped when it ends: a module a request
 * imports later is read afresh.
 */
export class SourceSnapshot {
  readonly #files = new Map<string, Read | { error: unknown }>();

  /**
   * The file's bytes and fingerprint, read the first time it is asked for
   * (see `readFingerprinted`), the same answer after.
   * @param file absolute path.
   * @throws what the first read threw (`ENOENT` for a file that is gone), again at every call.
   */
  read(file: string): Source {
    let got = this.#files.get(file);
    if (got === undefined) {
      try {
        got = readWithStat(file);
      } catch (error) {
        got = { error };
      }
      this.#files.set(file, got);
    }
    if ("error" in got) throw got.error;
    return got;
  }

  /** Files {@link current} has looked at. */
  readonly #checked = new Set<string>();

  /**
   * {@link read}, read again when the file's status changed since (one
   * `stat`, at the first call for the file: the resolver's CommonJS question
   * and the plugin's `onLoad` ask one after the other as Bun imports it):
   * for the bytes Bun is given, which should be the freshest, as an app may
   * write a module at import and then import it (`import()`, `require()`).
   * A rewrite the status does not show (the same size within the file
   * system's clock tick) keeps the first read: its fingerprint is what is
   * recorded, so the rewrite still reloads.
   * @throws what reading it throws (`ENOENT` for a file that is gone).
   */
  current(file: string): Source {
    if (this.#checked.has(file)) return this.read(file);
    this.#checked.add(file);
    const got = this.#files.get(file);
    if (got !== undefined && !("error" in got) && unchanged(file, got.stat)) return got;
    this.#files.delete(file);
    return this.read(file);
  }

  /** {@link read}, or `null` for a file that cannot be read. Never throws. */
  tryRead(file: string): Source | null {
    try {
      return this.read(file);
    } catch {
      return null;
    }
  }

  /**
   * The fingerprint of `file` as {@link current} gives it (read again if its
   * status changed since it was read), for a file Bun is about to read
   * itself (a CommonJS module, an import with attributes): it must not be
   * older than what Bun reads, or a save made after the scan, which Bun
   * then compiled, and its undo (`git stash` then `git stash pop`) would
   * leave the disk as fingerprinted and the saved text served.
   * @returns `undefined` when the file was not read (or could not be), or
   *   cannot be read now.
   */
  printOf(file: string): string | undefined {
    const got = this.#files.get(file);
    if (got === undefined || "error" in got) return undefined;
    try {
      return this.current(file).print;
    } catch {
      return undefined;
    }
  }

  /** The fingerprint of each file read so far (those that could not be read left out). */
  prints(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [file, got] of this.#files) if (!("error" in got)) out.set(file, got.print);
    return out;
  }
}

/** Per file, the facts {@link derived} computed from its text at one fingerprint (the last one seen). */
const facts = new Map<string, { print: string; values: Map<string, unknown> }>();

/**
 * A fact computed from the text of `file` alone (`compute` must depend on
 * nothing else: its imports as scanned, whether it is CommonJS), kept for
 * the file's latest fingerprint, so that a load after a save elsewhere does
 * not parse an unchanged module again. A file larger than
 * `WHOLE_HASH_MAX_BYTES`, whose fingerprint is not a hash of all its content,
 * is computed every time. A value is shared: treat it as read-only. A
 * `compute` that throws is not kept.
 *
 * @param file absolute path, the key.
 * @param source what was read of it.
 * @param what which fact (`"imports:ts"`, `"commonjs"`).
 */
export function derived<T>(file: string, source: Source, what: string, compute: () => T): T {
  if (source.bytes.byteLength > WHOLE_HASH_MAX_BYTES) return compute();
  let entry = facts.get(file);
  if (entry === undefined || entry.print !== source.print) facts.set(file, (entry = { print: source.print, values: new Map() }));
  if (entry.values.has(what)) return entry.values.get(what) as T;
  const value = compute();
  entry.values.set(what, value);
  return value;
}

/** One transpiler per loader, for {@link scannedImports}. */
const scanners = new Map<string, Bun.Transpiler>();

/**
 * `Bun.Transpiler#scanImports` of `source` (the content of `file`) with
 * Bun's `loader`, kept per content (see {@link derived}): read-only. Type-only
 * imports are left out, as at run time.
 * @throws what the scan throws (a syntax error).
 */
export function scannedImports(file: string, source: Source, loader: "ts" | "tsx" | "js" | "jsx"): readonly Bun.Import[] {
  return derived(file, source, `imports:${loader}`, () => {
    let scanner = scanners.get(loader);
    if (!scanner) scanners.set(loader, (scanner = new Bun.Transpiler({ loader })));
    return scanner.scanImports(source.bytes);
  });
}
