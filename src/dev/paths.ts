/**
 * Path predicates shared by the loader, the graph scanner and the
 * diagnostics: what counts as the user's own code.
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, sep } from "node:path";

/** tsgi's own `src/` directory (this file is `src/dev/paths.ts`), wherever the package lives: a checkout, a linked package. */
const SOURCE_DIR = dirname(dirname(import.meta.path));
/** Running as the compiled `tsgi-dev` binary: tsgi's frames are `/$bunfs/...` or, source-mapped, relative `src/...` paths. */
const COMPILED = import.meta.path.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(import.meta.path);

/**
 * Whether `file` is one of tsgi's own modules: under the package's `src/`
 * (wherever it lives, a checkout included) or, in the compiled binary, in
 * its embedded file system (or a relative, source-mapped path). Never user
 * code: not in stack traces, nor in the app's module graph.
 */
export function isTsgiSource(file: string): boolean {
  if (COMPILED) return !isAbsolute(file) || file.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(file);
  return file.startsWith(SOURCE_DIR + sep);
}

/**
 * Whether `path` is a user file: an absolute path outside any `node_modules`
 * directory and outside tsgi's own sources (see {@link isTsgiSource}: run
 * from a checkout, `npm run dev`, they are not under `node_modules`, and
 * the dev server's own entry module reaches the module cache only after
 * the app's first load). Built-ins such as `node:fs` and `bun:sqlite` are
 * not user files.
 */
export function isUserFile(path: string): boolean {
  if (!isAbsolute(path)) return false;
  if (path.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(path)) return false;
  return !/[\\/]node_modules[\\/]/.test(path) && !isTsgiSource(path);
}

/** `"/a/b.ts?v=3"` → `"/a/b.ts"`. */
export function stripQuery(path: string): string {
  const q = path.indexOf("?");
  return q === -1 ? path : path.slice(0, q);
}

/** The first 16 bytes of every SQLite 3 database file (the format's header string). */
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/** Extensions SQLite databases are given, for a database file that is still empty (its header not yet written). */
const DATABASE_EXTENSIONS = new Set([".db", ".db3", ".sqlite", ".sqlite3"]);

/** The files SQLite keeps beside a database while it writes (`app.db-wal`, `app.db-shm`, `app.db-journal`), by suffix. */
const SQLITE_SIDE_FILE = /-(?:wal|shm|journal)$/;

/**
 * Whether `path` is an SQLite database or one of the files SQLite writes
 * beside one: a file that begins with SQLite's 16-byte header (`bun:sqlite`'s
 * `new Database("data.db")`, an import of `./app.sqlite` or one `with {
 * type: "sqlite" }`, whatever its name), an empty file named `*.db`,
 * `*.db3`, `*.sqlite` or `*.sqlite3` (a database just created), or
 * `<database>-wal`, `-shm` or `-journal` of such a database (the
 * write-ahead log, its index, the rollback journal), existing or not.
 * The app writes these as it serves, and they hold no code: the dev
 * server neither reloads for them nor counts them in the module graph.
 * Reads at most 16 bytes of `path` (and of the database for a side file);
 * a directory, a named pipe, a socket or a device (opened without waiting
 * for a writer: a FIFO in a `--watch` directory would block the opening, so
 * the whole process, until something writes to it), and a file that cannot
 * be read, is not one. Never throws.
 *
 * @param path absolute path of the file.
 */
export function isDatabaseFile(path: string): boolean {
  const side = SQLITE_SIDE_FILE.exec(path);
  if (side) return isDatabaseFile(path.slice(0, side.index)) || DATABASE_EXTENSIONS.has(extname(basename(path.slice(0, side.index))).toLowerCase());
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return false;
    const head = Buffer.alloc(SQLITE_HEADER.length);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n === 0) return DATABASE_EXTENSIONS.has(extname(path).toLowerCase());
    return n === head.length && head.equals(SQLITE_HEADER);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
