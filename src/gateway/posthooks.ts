/**
 * eventlet's post hooks (`environ["tsgi.posthooks"]`, spec.md "Server
 * extension APIs"): functions the application adds to run after its response
 * was sent, failed or its client left; the server and the fetch bridge run
 * them once the response ended.
 * @module
 */
import type { Environ, PostHook } from "../spec.ts";

/**
 * Run eventlet's post hooks (`environ["tsgi.posthooks"]`, entries
 * `[fn, args, kwargs]`, called as `fn(environ, ...args, kwargs)`) after the
 * response was sent, failed or the client left. Errors are logged, never
 * thrown. The hooks are removed from the list as they are taken, so each
 * runs once; `hooks` are those taken earlier with {@link takePosthooks}
 * (default: taken now).
 */
export async function runPosthooks(
  environ: Environ,
  logError: (context: string, error: unknown) => void,
  hooks: PostHook[] = takePosthooks(environ),
): Promise<void> {
  for (const [fn, args = [], kwargs] of hooks) {
    try {
      await (kwargs === undefined ? fn(environ, ...args) : fn(environ, ...args, kwargs));
    } catch (error) {
      logError("tsgi.posthooks", error);
    }
  }
}

/**
 * Take a request's post hooks out of its environ (`tsgi.posthooks` is
 * emptied), so that a second {@link runPosthooks} for it runs nothing.
 * @returns the hooks, in the order they were added; `[]` when there are none.
 */
export function takePosthooks(environ: Environ): PostHook[] {
  // An entry the app made unreadable (a getter that throws, a Proxy) holds no hooks to run.
  try {
    const list = environ["tsgi.posthooks"] as PostHook[] | undefined;
    if (!Array.isArray(list) || list.length === 0) return [];
    return list.splice(0);
  } catch {
    return [];
  }
}

/** Whether the request's environ holds post hooks to run (`false` when reading `tsgi.posthooks` throws: see {@link takePosthooks}). */
export function hasPosthooks(environ: Environ): boolean {
  try {
    return ((environ["tsgi.posthooks"] as unknown[] | undefined)?.length ?? 0) > 0;
  } catch {
    return false;
  }
}
