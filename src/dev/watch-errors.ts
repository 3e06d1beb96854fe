/**
 * The watcher's errors as the terminal shows them. Native watching on Linux
 * takes one inotify watch per watched file and directory, out of a limit
 * per user shared with every other program of the user (editors, other dev
 * servers, language servers): `fs.inotify.max_user_watches`, and for the
 * watchers themselves `fs.inotify.max_user_instances` (inotify(7)). When one
 * runs out, each path chokidar then tries fails with `ENOSPC` ("no space
 * left on device", though no disk is full) or `EMFILE`, and is not watched:
 * its saves reload nothing. Logged as they came, that was one raw line per
 * path (hundreds for a large project) naming neither the limit nor what to
 * do. {@link watchErrorReporter} says it once, with the limit and its
 * remedies, then how many more paths were left unwatched.
 * @module
 */
import { readFileSync } from "node:fs";

/** Least quiet time before the count of further paths the same limit left unwatched is logged, ms. */
export const WATCH_LIMIT_SUMMARY_MS = 500;

/** A sysctl's value read from /proc (`fs/inotify/max_user_watches`), or undefined where it cannot be read. */
function sysctl(path: string): number | undefined {
  try {
    const n = Number(readFileSync(`/proc/sys/${path}`, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The limit in force, named as sysctl names it: the global one
 * (`fs.inotify.max_user_watches`), or the user namespace's
 * (`user.max_inotify_watches`, a container's) where that is lower.
 */
function limit(fsName: string, userName: string): string {
  const global = sysctl(`fs/inotify/${fsName}`);
  const user = sysctl(`user/${userName}`);
  if (user !== undefined && (global === undefined || user < global)) return `user.${userName} = ${user}`;
  return global === undefined ? `fs.inotify.${fsName}` : `fs.inotify.${fsName} = ${global}`;
}

/** The error's code (`ENOSPC`), from its `code` or the start of its message. */
function codeOf(error: Error): string | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === "string" ? code : /^(E[A-Z]+)\b/.exec(error.message)?.[1];
}

/** The path an error names (`watch '/abs/lib'`), if any. */
function pathOf(error: Error): string | undefined {
  const path = (error as NodeJS.ErrnoException).path;
  return typeof path === "string" ? path : /'([^']+)'\s*$/.exec(error.message)?.[1];
}

/** What to say about a watch limit, by error code; undefined for other errors. */
function explain(code: string | undefined): string | undefined {
  if (code === "ENOSPC")
    return (
      `the system's limit of inotify watches is reached (${limit("max_user_watches", "max_inotify_watches")}, ` +
      `one per watched file and directory, shared by all of the user's programs; "no space left on device" means this limit, not the disk)`
    );
  if (code === "EMFILE")
    return (
      `no more inotify instances or open files (${limit("max_user_instances", "max_inotify_instances")}, ` +
      `shared by all of the user's programs; or the open-file limit, ulimit -n)`
    );
  return undefined;
}

const REMEDY =
  "Saves to the files not watched reload nothing. Raise the limit (sudo sysctl fs.inotify.max_user_watches=524288 " +
  "fs.inotify.max_user_instances=1024, and a file in /etc/sysctl.d/ to keep it), keep large directories out with --ignore, " +
  "or use --poll; then restart tsgi-dev.";

/**
 * A `DevWatcher` `onError` that logs a watch limit reached (`ENOSPC`,
 * `EMFILE`) once, with what to do, and then, after
 * {@link WATCH_LIMIT_SUMMARY_MS} without another, how many more paths it
 * left unwatched; other errors are logged as `watcher: <message>`.
 * @param warn where lines go (the dev logger's `warn`).
 */
export function watchErrorReporter(warn: (line: string) => void): (error: Error) => void {
  const told = new Set<string>();
  const more = new Map<string, number>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const summary = (): void => {
    timer = undefined;
    for (const [code, n] of more)
      warn(`watcher: ${n} more path(s) not watched, for the same reason (${code}): raise the limit or use --poll, as said above`);
    more.clear();
  };
  return (error) => {
    const code = codeOf(error);
    const why = explain(code);
    if (why === undefined || code === undefined) {
      warn(`watcher: ${error.message}`);
      return;
    }
    if (!told.has(code)) {
      told.add(code);
      const path = pathOf(error);
      warn(`watcher: cannot watch ${path ?? "a file"}: ${why}. ${REMEDY}`);
      return;
    }
    more.set(code, (more.get(code) ?? 0) + 1);
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(summary, WATCH_LIMIT_SUMMARY_MS);
    timer.unref?.();
  };
}
