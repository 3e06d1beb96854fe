/**
 * A working directory deleted under the shell (`rm -rf` of the project, a
 * checkout or build step that made the directory again): every path the
 * commands resolve starts from it, and Bun's `process.cwd()` throws
 * (`ENOENT: process.cwd failed ... uv_cwd`), which `tsgi serve` and
 * `tsgi-dev` reported as that raw line, exit 2, as if the command line were wrong.
 * @module
 */
import { existsSync, readlinkSync } from "node:fs";
import { shellWord } from "./words.ts";

/**
 * What to tell the user when the working directory is gone, or `undefined`
 * when it is there. On Linux the directory's path is read from
 * `/proc/self/cwd` (`/srv/app (deleted)`): when a directory of that path
 * exists again (made anew after the shell entered the old one), the line
 * says to `cd` into it; otherwise to `cd` to the app's directory. A
 * command line asking for the help or the version (`--help`, `-h`,
 * `--version`, `-v` before `--`, or the word `help` or `version` where the
 * command word or the app goes: `tsgi help`, `tsgi-dev help`; a deleted
 * directory holds no file of that name) needs no working directory: `undefined`.
 * @param command the command to run again, for the message (`tsgi-dev`, `tsgi serve`).
 * @param argv the command line past the script.
 * @param word the word where the command or the app goes (`positionalArgs`), if any.
 */
export function workingDirectoryGone(command: string, argv: readonly string[], word?: string): string | undefined {
  const end = argv.indexOf("--");
  if ((end === -1 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h" || a === "--version" || a === "-v")) return undefined;
  if (word === "help" || word === "version") return undefined;
  try {
    process.cwd();
    return undefined;
  } catch {
    // gone: said below
  }
  let path: string | undefined;
  try {
    path = readlinkSync("/proc/self/cwd").replace(/ \(deleted\)$/, "");
  } catch {
    // not Linux: the path is not known
  }
  if (path !== undefined && existsSync(path)) {
    return `the working directory was deleted after the shell entered it, and ${path} made again since: cd ${shellWord(path)} and run ${command} again`;
  }
  return `the working directory${path === undefined ? "" : ` ${path}`} was deleted after the shell entered it: cd to the app's directory and run ${command} again`;
}
