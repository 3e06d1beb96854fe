/**
 * The watcher's errors as the terminal shows them. Native watching on Linux
 * takes one inotify watch per watched file and directory, out of a limit
 * per user shared with every other program of the user (editors, other dev
 * servers, language servers): `fs.inotify.max_user_watches`, and for the
 * watchers themselves `fs.inotify.max_user_instances` (inotify(7)); in a
 * container, its user namespace's `user.max_inotify_watches` and
 * `user.max_inotify_instances` (/proc/sys/user, namespaces(7)) where lower,
 * which only the container can raise. When one
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

/** The limit in force on one kind of inotify resource, as sysctl names it, and its value where /proc/sys shows it. */
interface Limit {
  /** `fs.inotify.max_user_watches`, or the user namespace's `user.max_inotify_watches` (a container's) where that is lower. */
  name: string;
  value: number | undefined;
  /** The user namespace's limit is the lower one: a container's, raised there (by its root, or when the container is made), not by the host's fs.inotify. */
  namespaced: boolean;
}

/**
 * The limit in force: the global one (`fs.inotify.max_user_watches`), or
 * the user namespace's (`user.max_inotify_watches`, a container's) where
 * that is lower. Inside a user namespace the kernel counts against every
 * level up to the host, so the lowest one is what ran out; outside one both
 * files show the same number.
 */
function limit(fsName: string, userName: string): Limit {
  const global = sysctl(`fs/inotify/${fsName}`);
  const user = sysctl(`user/${userName}`);
  if (user !== undefined && (global === undefined || user < global)) return { name: `user.${userName}`, value: user, namespaced: true };
  return { name: `fs.inotify.${fsName}`, value: global, namespaced: false };
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

/** `name = value`, or the name alone where the value cannot be read. */
const shown = (l: Limit): string => (l.value === undefined ? l.name : `${l.name} = ${l.value}`);

/**
 * What to do, naming the limit that ran out: the host's sysctl, or, in a
 * container whose user namespace has the lower limit (/proc/sys/user,
 * namespaces(7), `user.max_inotify_watches`), that namespace's, which the
 * host's setting does not raise.
 */
function remedy(l: Limit, raise: string): string {
  const how = l.namespaced
    ? `This limit is your container's (its user namespace's; raising the host's fs.inotify limits does not lift it): raise it in the container as its root (sysctl -w ${l.name}=${raise}) or where the container is made`
    : `Raise the limit (sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=1024, and a file in /etc/sysctl.d/ to keep it)`;
  return `Saves to the files not watched reload nothing. ${how}, keep large directories out with --ignore, or use --poll; then restart tsgi-dev.`;
}

/** What to say about a watch limit, by error code; undefined for other errors. */
function explain(code: string | undefined): string | undefined {
  if (code === "ENOSPC") {
    const l = limit("max_user_watches", "max_inotify_watches");
    return (
      `the system's limit of inotify watches is reached (${shown(l)}, ` +
      `one per watched file and directory, shared by all of the user's programs; "no space left on device" means this limit, not the disk). ${remedy(l, "524288")}`
    );
  }
  if (code === "EMFILE") {
    const l = limit("max_user_instances", "max_inotify_instances");
    return (
      `no more inotify instances or open files (${shown(l)}, ` +
      `shared by all of the user's programs; or the open-file limit, ulimit -n). ${remedy(l, "1024")}`
    );
  }
  return undefined;
}

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
      warn(`watcher: cannot watch ${path ?? "a file"}: ${why}`);
      return;
    }
    more.set(code, (more.get(code) ?? 0) + 1);
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(summary, WATCH_LIMIT_SUMMARY_MS);
    timer.unref?.();
  };
}
