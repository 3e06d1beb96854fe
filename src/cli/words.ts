/**
 * The words git, npm and cargo users type where `tsgi` and `tsgi-dev` take
 * flags: `help` (`tsgi help`, `tsgi help serve`, `tsgi-dev help`,
 * `tsgi serve help`) and `version`, and a misspelt command (`tsgi serv`).
 * citty knows none of them: it answers `--help`/`-h` and `--version`/`-v`
 * only, and an unknown command with its whole usage text and exit 1.
 * @module
 */
import { existsSync } from "node:fs";
import leven from "leven";
import { MODULE_EXTENSIONS } from "../deploy/load-app.ts";
import { UsageError } from "../deploy/errors.ts";

/**
 * Whether `word`, given where the app goes (`tsgi-dev help`,
 * `tsgi serve help`), asks for the help: it is `help`, and no file or
 * directory named `help` is there (in `cwd`) to be the app. With a module
 * `help.ts` (or another extension the app may have) there, which one was
 * meant is not known.
 * @param command the command whose help `--help` prints, for the message (`tsgi-dev`, `tsgi serve`).
 * @param cwd where to look; default the working directory (`help` is the help word in one
 *   that was deleted, which holds no file).
 * @throws UsageError saying both, when such a module is there.
 */
export function helpWordGiven(word: string | undefined, command: string, cwd?: string): boolean {
  if (word !== "help") return false;
  if (existsSync(inDir(cwd, "help"))) return false;
  const ext = MODULE_EXTENSIONS.find((e) => existsSync(inDir(cwd, `help${e}`)));
  if (ext !== undefined) throw new UsageError(`no such file: help; did you mean help${ext}? (${command}'s own help is ${command} --help)`);
  return true;
}

/**
 * Whether `word`, given where the app goes, is the word `version` with no
 * file `version` (nor `version.ts`, ...) there to be the app.
 * @param cwd where to look; default the working directory (one that was deleted holds no file).
 */
export function versionWordGiven(word: string | undefined, cwd?: string): boolean {
  if (word !== "version") return false;
  return !existsSync(inDir(cwd, "version")) && !MODULE_EXTENSIONS.some((e) => existsSync(inDir(cwd, `version${e}`)));
}

/**
 * `name` in `cwd`, or relative (in the working directory) when `cwd` is not
 * given: a relative path needs no `process.cwd()`, which throws in a
 * deleted working directory, where no such file is.
 */
function inDir(cwd: string | undefined, name: string): string {
  return cwd === undefined ? name : `${cwd}/${name}`;
}

/** `arg` as a shell would take it back: bare when plain, else in single quotes. */
export function shellWord(arg: string): string {
  return /^[\w./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/**
 * The known word nearest to `word`: an edit distance of at most 2 (at most
 * 1 for a word of up to 3 letters), or one a prefix of the other of at
 * least 3 letters (`serv`, `server` → `serve`), if any.
 */
export function nearestWord(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const prefix = Math.min(word.length, k.length) >= 3 && (k.startsWith(word) || word.startsWith(k));
    const d = prefix ? 0.5 : leven(word, k);
    if (d <= (Math.min(word.length, k.length) <= 3 ? 1 : 2) && d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}
