/**
 * `import.meta.hot` for the app's modules under tsgi-dev: `data`, kept for a
 * module file from one generation to the next, and `dispose(cb)`, whose
 * callbacks run before the next generation loads (and when the process
 * stops), so a timer, a server on a port of its own, a pool or a listener on
 * `process` set up at import is closed rather than left behind by every save.
 * The API is Bun's (bun-types declares it, `devserver.d.ts`); under plain
 * `bun` and `tsgi serve` `import.meta.hot` is `undefined`, which apps test
 * for (`if (import.meta.hot)`).
 *
 * How a module gets it: the versioning plugin's `onLoad` gives Bun each user
 * ES module's source (see `versioning.ts`), and {@link injectHot} writes each
 * `import.meta.hot` that is code (not text in a string, a comment, a template
 * or JSX) as `$tsgi_dev_hot()` (or, in a module that names that itself,
 * `$tsgi_dev_h00()`: see {@link hotCall}), a call of the same length to a
 * function declaration appended after the module's last line, which asks the
 * registry installed on `globalThis` ({@link HotModules.install}) for the
 * module's context. Nothing before the appended line moves, so stack traces,
 * source maps and code frames stay exact. Bun itself replaces any
 * `import.meta.hot` it sees with `undefined` (outside its HTML dev server),
 * so an occurrence the rewrite leaves (a type, say) is what it always was.
 * @module
 */

/**
 * The call written in place of each `import.meta.hot` that is code: as long
 * as it, 15 characters. A module whose text holds this name already (its
 * own `$tsgi_dev_hot`, which the appended declaration would clash with)
 * gets one of {@link hotCall}'s others instead.
 */
export const HOT_CALL = "$tsgi_dev_hot()";

/** Each name {@link hotCall} may give, as a call (for {@link unhot}). */
const HOT_CALLS = /\$tsgi_dev_h(?:ot|[0-9a-z]{2})\(\)/g;

/**
 * The call to write in `source`: {@link HOT_CALL}, or when `source` holds
 * its name anywhere (code, string or comment) the first of `$tsgi_dev_h00()`
 * ... `$tsgi_dev_hzz()` it does not hold (the same length), so the declared
 * function can never clash with, nor shadow, a name of the module's.
 * @throws Error when the module holds all 1,297 names (no real module does).
 */
export function hotCall(source: string): string {
  const name = HOT_CALL.slice(0, -2);
  if (!source.includes(name)) return HOT_CALL;
  const digits = "0123456789abcdefghijklmnopqrstuvwxyz";
  for (const a of digits) for (const b of digits) if (!source.includes(`${name.slice(0, -2)}${a}${b}`)) return `${name.slice(0, -2)}${a}${b}()`;
  throw new Error(`cannot give import.meta.hot a name this module does not use (it names every $tsgi_dev_hNN)`);
}

/** The `globalThis` key of the function the appended declaration calls: (file) → the module's context. */
const HOT_GLOBAL = Symbol.for("tsgi-dev.hot");

/** How long the dispose callbacks of one reload (or of the stop) may run before the reload goes on without them, ms. */
export const DISPOSE_TIMEOUT_MS = 5000;

/** Each text occurrence; {@link injectHot} asks Bun's transpiler which are code. */
const CANDIDATE = /(?<![\w$])import\.meta\.hot(?![\w$])/g;
/** The probe identifier put in place of candidate N: `__tsgiHotCandN`, defined as `__tsgiHotCodeN`. */
const PROBE = "__tsgiHotCand";
const PROBE_CODE = "__tsgiHotCode";
const PROBE_CODE_RE = new RegExp(`\\b${PROBE_CODE}(\\d+)\\b`, "g");

const probes = new Map<string, Bun.Transpiler>();

/** A transpiler that writes `__tsgiHotCandN` as `__tsgiHotCodeN` where it is code, for N below `size` (a power of two). */
function probeTranspiler(loader: "ts" | "tsx" | "js" | "jsx", count: number): Bun.Transpiler {
  let size = 16;
  while (size < count) size *= 2;
  const key = `${loader}:${size}`;
  let transpiler = probes.get(key);
  if (!transpiler) {
    const define: Record<string, string> = {};
    for (let i = 0; i < size; i++) define[`${PROBE}${i}`] = `${PROBE_CODE}${i}`;
    probes.set(key, (transpiler = new Bun.Transpiler({ loader, define, deadCodeElimination: false })));
  }
  return transpiler;
}

/**
 * `source` (the ES module at `file`) with each `import.meta.hot` that is
 * code written as {@link HOT_CALL}, and the function it calls declared after
 * the last line (on a line of its own); `source` itself when it has none. An
 * occurrence in a string, a comment, a template's text or JSX text is left
 * as it is, and so is one Bun's transpiler does not keep as an expression
 * (a type: `typeof import.meta.hot` in an annotation; an assignment to it).
 * Told by putting a probe identifier in place of each occurrence and asking
 * Bun's transpiler (with `define`, which replaces identifiers in code only)
 * which it replaced. Lines and columns do not move. A source the transpiler
 * cannot read (a syntax error) is returned unchanged, for Bun to report.
 *
 * @param source the module's text.
 * @param file its absolute path (the registry's key for its `data`).
 * @param loader how Bun reads it.
 */
export function injectHot(source: string, file: string, loader: "ts" | "tsx" | "js" | "jsx"): string {
  if (!source.includes("import.meta.hot")) return source;
  const matches = [...source.matchAll(CANDIDATE)];
  if (matches.length === 0) return source;
  const code = codeMatches(source, matches, loader);
  if (code === null || code.size === 0) return source;
  const call = hotCall(source);
  let at = 0;
  let out = "";
  matches.forEach((m, i) => {
    if (!code.has(i)) return;
    out += source.slice(at, m.index) + call;
    at = m.index + m[0].length;
  });
  out += source.slice(at);
  const name = call.slice(0, -2);
  // A function declaration is hoisted: the calls above reach it wherever they are. Its property keeps the context.
  return `${out}\nfunction ${name}(){return ${name}.h??=globalThis[Symbol.for(${JSON.stringify(HOT_GLOBAL.description)})]?.(${JSON.stringify(file)})}\n`;
}

/**
 * Which of `matches` (of an expression or identifier in `source`) are code,
 * by index: each is put in place of a probe identifier, and Bun's
 * transpiler (whose `define` replaces identifiers in code only, not in a
 * string, a comment, a template's text, JSX text, a property name or a
 * type) tells which it replaced. `null` when the transpiler cannot read
 * the source (a syntax error).
 */
function codeMatches(source: string, matches: readonly RegExpExecArray[], loader: "ts" | "tsx" | "js" | "jsx"): Set<number> | null {
  let probe = "";
  let at = 0;
  matches.forEach((m, i) => {
    probe += source.slice(at, m.index) + PROBE + i;
    at = m.index + m[0].length;
  });
  probe += source.slice(at);
  const code = new Set<number>();
  try {
    for (const m of probeTranspiler(loader, matches.length).transformSync(probe).matchAll(PROBE_CODE_RE)) code.add(Number(m[1]));
  } catch {
    return null;
  }
  return code;
}

/** Each text occurrence of a CommonJS name; {@link namesCommonJs} asks which are code. */
const COMMONJS_NAME = /(?<![\w$])(?:module|exports|require)(?![\w$])/g;

/**
 * Whether `source` names `module`, `exports` or `require` in its code (not
 * in a string, a comment, a template's text, a property name or a type:
 * `console.log("tick module loaded")` names none): a module with no
 * `import` or `export` that does is CommonJS, and is left to Bun (see
 * `versioning.ts`). True also when the transpiler cannot read `source`.
 * @param source the module's text.
 * @param loader how Bun reads it.
 */
export function namesCommonJs(source: string, loader: "ts" | "tsx" | "js" | "jsx"): boolean {
  const matches = [...source.matchAll(COMMONJS_NAME)];
  if (matches.length === 0) return false;
  const code = codeMatches(source, matches, loader);
  return code === null || code.size > 0;
}

/** `text` with {@link HOT_CALL} (or another name {@link hotCall} gives) written back as `import.meta.hot` (error messages quote the expression). */
export function unhot(text: string): string {
  return text.includes("$tsgi_dev_h") ? text.replace(HOT_CALLS, "import.meta.hot") : text;
}

/**
 * A module's `import.meta.hot` under tsgi-dev: the members bun-types
 * declares. `data` and `dispose` work; `accept`, `decline`, `on` and `off`
 * do nothing (every save re-evaluates the app's whole module graph, so
 * there is nothing to accept, and tsgi-dev sends no HMR events).
 */
export interface HotContext {
  /**
   * The module file's data object: the same object for every generation of
   * the module in this process (`import.meta.hot.data.pool ??= createPool()`
   * keeps one pool across saves), passed to its dispose callbacks.
   * Assigning another object makes that the one the next generation gets.
   */
  data: Record<string, any>;
  /**
   * Run `cb(data)` before the next generation of the app loads (after a save,
   * in place, once the requests still running on this one have finished,
   * for up to `DRAIN_TIMEOUT_MS` of in-flight.ts, 3 s) or when the process
   * stops (after the server closed). Callbacks run in parallel and are
   * awaited for up to {@link DISPOSE_TIMEOUT_MS}; one that throws or rejects
   * is reported in the terminal and the reload goes on.
   * @throws TypeError when `cb` is not a function.
   */
  dispose(cb: (data: any) => void | Promise<void>): void;
  /** Does nothing: every save loads the whole app afresh. A callback given is never called. */
  accept(...args: unknown[]): void;
  /** Does nothing. */
  decline(): void;
  /** Does nothing: tsgi-dev sends no HMR events. */
  on(event: string, callback: () => void): void;
  /** Does nothing. */
  off(event: string, callback: () => void): void;
}

/** A dispose callback that threw or rejected (`error`), or that had not settled when the wait ended (`timedOut`). */
export interface DisposeProblem {
  /** The module file that registered it. */
  file: string;
  /** What it threw or rejected with. */
  error?: unknown;
  /** It had not settled within the timeout. */
  timedOut?: boolean;
}

interface Live {
  file: string;
  callbacks: Array<(data: any) => void | Promise<void>>;
  disposed: boolean;
}

/**
 * The contexts of the modules the app's loads evaluated, and each module
 * file's `data`. {@link dispose} runs the callbacks of every module
 * evaluated since the last dispose (the serving generation, what requests
 * imported lazily, a failed load's modules that got as far as registering
 * one) and forgets them; `data` is kept per file for the process's life.
 */
export class HotModules {
  #data = new Map<string, Record<string, any>>();
  #live: Live[] = [];

  /** Make this registry the one the rewritten modules of this process call (`globalThis[Symbol.for("tsgi-dev.hot")]`). */
  install(): void {
    (globalThis as Record<symbol, unknown>)[HOT_GLOBAL] = (file: string) => this.context(file);
  }

  /** The data object of `file` (created empty). */
  data(file: string): Record<string, any> {
    let data = this.#data.get(file);
    if (!data) this.#data.set(file, (data = {}));
    return data;
  }

  /** Whether any evaluated module registered a dispose callback not run yet. */
  get pending(): boolean {
    return this.#live.some((l) => l.callbacks.length > 0);
  }

  /** A new context for one evaluation of the module at `file` (the appended declaration asks once per evaluation). */
  context(file: string): HotContext {
    let live: Live = { file, callbacks: [], disposed: false };
    this.#live.push(live);
    const modules = this;
    const noop = () => {};
    return {
      get data() {
        return modules.data(file);
      },
      set data(value: Record<string, any>) {
        if (value !== null && typeof value === "object") modules.#data.set(file, value);
      },
      dispose(cb) {
        if (typeof cb !== "function") throw new TypeError(`import.meta.hot.dispose() takes a function, not ${cb === null ? "null" : typeof cb}`);
        // Registered after its module was disposed (a request still running on the old version): it runs with the next dispose.
        if (live.disposed) modules.#live.push((live = { file, callbacks: [], disposed: false }));
        live.callbacks.push(cb);
      },
      accept: noop,
      decline: noop,
      on: noop,
      off: noop,
    };
  }

  /**
   * Run the dispose callbacks of every module evaluated since the last call,
   * in parallel, each with its file's data, and wait for them for up to
   * `timeoutMs`. Never throws.
   * @param timeoutMs how long to wait, ms. Default {@link DISPOSE_TIMEOUT_MS}.
   * @returns the callbacks that threw or rejected (in the order they did),
   *   then those still running (left to finish on their own; what they do
   *   later is not reported).
   */
  async dispose(timeoutMs = DISPOSE_TIMEOUT_MS): Promise<DisposeProblem[]> {
    const live = this.#live;
    this.#live = [];
    const failed: DisposeProblem[] = [];
    const running = new Set<{ file: string }>();
    const runs: Promise<void>[] = [];
    for (const l of live) {
      l.disposed = true;
      for (const cb of l.callbacks) {
        const run = { file: l.file };
        running.add(run);
        runs.push(
          (async () => cb(this.data(l.file)))().then(
            () => void running.delete(run),
            (error: unknown) => {
              running.delete(run);
              failed.push({ file: l.file, error });
            },
          ),
        );
      }
    }
    if (runs.length === 0) return [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(runs), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return [...failed, ...[...running].map((r) => ({ file: r.file, timedOut: true }))];
  }
}
