/**
 * Environ classes that keep secrets out of logs: a port of gevent.pywsgi's
 * `Environ`, `SecureEnviron` and `WSGISecureEnviron`
 * (see `docs/toolkit/secure-environ.md`).
 *
 * Instances are ordinary objects for reading and writing keys
 * (`environ["PATH_INFO"]`, `Object.keys(environ)`, `{ ...environ }`, `in`,
 * `delete`): the settings below live in private fields and on the prototype,
 * never as own enumerable properties. Only *printing* is masked: `String()`,
 * `JSON.stringify()` and `console.log()` / `Bun.inspect()` / `util.inspect()`.
 *
 * @module
 */
import type { Environ as SpecEnviron } from "../spec.ts";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** The text that replaces a masked value. */
export const MASKED = "<MASKED>";

/** Keys and values to start an environ with: an object (own enumerable keys are copied) or `[key, value]` pairs. */
export type EnvironInit = object | Iterable<readonly [string, unknown]>;

function entriesOf(init: EnvironInit | undefined): Array<[string, unknown]> {
  if (init === undefined || init === null) return [];
  if (Symbol.iterator in Object(init) && !(init instanceof Environ)) {
    return [...(init as Iterable<readonly [string, unknown]>)].map(([k, v]) => [k, v]);
  }
  return Object.entries(init);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") {
    return typeof value === "function" ? `[Function ${(value as { name?: string }).name || "anonymous"}]` : String(value);
  }
  if (Array.isArray(value)) return `[${value.map(describe).join(", ")}]`;
  const name = (value as object).constructor?.name;
  return `[${name && name !== "Object" ? name : "object"}]`;
}

/** Keep plain data as is for JSON; describe objects and functions. */
function jsonValue(value: unknown): unknown {
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  if (Array.isArray(value) && value.every((v) => v === null || ["string", "number", "boolean"].includes(typeof v))) return value;
  return describe(value);
}

/** The environ interface plus an instance's own class (declaration merging). */
export interface Environ extends SpecEnviron {}

/**
 * A base class for environ objects (gevent `pywsgi.Environ`, a `dict`
 * subclass): a plain-object-like container of environ keys with a
 * {@link copy} method. Usable wherever a TSGI `Environ` is expected (the
 * type merges the spec's `Environ` interface; the constructor does not check
 * that the required keys are present).
 *
 * @example
 * const env = new Environ({ REQUEST_METHOD: "GET", PATH_INFO: "/" });
 * env.PATH_INFO; // "/"
 * Object.keys(env); // ["REQUEST_METHOD", "PATH_INFO"]
 */
export class Environ {
  /**
   * @param init keys to copy in: an object (own enumerable keys; another
   *   `Environ` included) or `[key, value]` pairs. Default: none.
   */
  constructor(init?: EnvironInit) {
    for (const [k, v] of entriesOf(init)) (this as Record<string, unknown>)[k] = v;
  }

  /**
   * A shallow copy: a new instance of the same class with the same keys
   * (gevent `Environ.copy()`; `SecureEnviron` also carries over the
   * instance's printing settings).
   */
  copy(): this {
    const Ctor = this.constructor as new (init?: EnvironInit) => this;
    return new Ctor(this);
  }
}

/** A set-like container of key names: an array, Set or any object with `has`/`includes`. */
export type KeyContainer = Iterable<string> | ReadonlySet<string> | { has(key: string): boolean };

function contains(container: KeyContainer | null | undefined, key: string): boolean {
  if (!container) return false;
  if (typeof (container as ReadonlySet<string>).has === "function") return (container as ReadonlySet<string>).has(key);
  if (Array.isArray(container)) return container.includes(key);
  for (const k of container as Iterable<string>) if (k === key) return true;
  return false;
}

function isEmpty(container: KeyContainer | null | undefined): boolean {
  if (!container) return true;
  if (Array.isArray(container)) return container.length === 0;
  if (typeof (container as ReadonlySet<string>).size === "number") return (container as ReadonlySet<string>).size === 0;
  if (Symbol.iterator in Object(container)) {
    for (const _ of container as Iterable<string>) return false;
    return true;
  }
  return false;
}

/**
 * An environ that does not print its values by default (gevent
 * `SecureEnviron`), to keep `Authorization`, cookies and the like out of
 * logs and error pages.
 *
 * Printing (`toString()`, `toJSON()`, inspect) follows gevent's rules:
 * - {@link secureRepr} `false`: prints every key and value.
 * - {@link secureRepr} `true` (the default) and {@link whitelistKeys} empty:
 *   prints only `<SecureEnviron (keys: N)>` (`toJSON()` gives every key with
 *   a `"<MASKED>"` value, or `{}` when {@link printMaskedKeys} is false).
 * - {@link secureRepr} `true` and a non-empty whitelist: whitelisted keys are
 *   printed with their values; others ({@link isMasked}) are printed as
 *   `"<MASKED>"` when {@link printMaskedKeys} is true, or left out and counted
 *   as `(hidden keys: N)` when it is false.
 *
 * Each setting is per instance, falling back to the class's static default
 * (`defaultSecureRepr` `true`, `defaultWhitelistKeys` `[]`,
 * `defaultPrintMaskedKeys` `true`); subclass to change the defaults.
 *
 * @example
 * const env = new SecureEnviron({ key: "value" });
 * String(env); // "<SecureEnviron (keys: 1)>"
 * env.whitelistKeys = ["key"];
 * env.secure = "secret";
 * String(env); // '{key: "value", secure: "<MASKED>"}'
 */
export class SecureEnviron extends Environ {
  /** Class default for {@link secureRepr} (gevent `default_secure_repr`). */
  static defaultSecureRepr = true;
  /** Class default for {@link whitelistKeys} (gevent `default_whitelist_keys`). */
  static defaultWhitelistKeys: KeyContainer = [];
  /** Class default for {@link printMaskedKeys} (gevent `default_print_masked_keys`). */
  static defaultPrintMaskedKeys = true;

  #secureRepr: boolean | undefined;
  #whitelistKeys: KeyContainer | undefined;
  #printMaskedKeys: boolean | undefined;

  private get cls(): typeof SecureEnviron {
    return this.constructor as typeof SecureEnviron;
  }

  /** Mask values when printing (gevent `secure_repr`); defaults to the class's `defaultSecureRepr`. */
  get secureRepr(): boolean {
    return this.#secureRepr ?? this.cls.defaultSecureRepr;
  }
  set secureRepr(v: boolean) {
    this.#secureRepr = v;
  }

  /** Keys printed with their values (gevent `whitelist_keys`); defaults to the class's `defaultWhitelistKeys`. */
  get whitelistKeys(): KeyContainer {
    return this.#whitelistKeys ?? this.cls.defaultWhitelistKeys;
  }
  set whitelistKeys(v: KeyContainer) {
    this.#whitelistKeys = v;
  }

  /**
   * Print masked keys with a `"<MASKED>"` value (`true`) or leave them out
   * and count them (`false`) (gevent `print_masked_keys`); defaults to the
   * class's `defaultPrintMaskedKeys`.
   */
  get printMaskedKeys(): boolean {
    return this.#printMaskedKeys ?? this.cls.defaultPrintMaskedKeys;
  }
  set printMaskedKeys(v: boolean) {
    this.#printMaskedKeys = v;
  }

  /** Whether printing masks `key`'s value: here, when it is not whitelisted. */
  isMasked(key: string): boolean {
    return !contains(this.whitelistKeys, key);
  }

  /** Whether printing shows only the key count (secure, and no whitelist). */
  protected get opaque(): boolean {
    return isEmpty(this.whitelistKeys);
  }

  /** A shallow copy of the same class that also keeps this instance's printing settings. */
  override copy(): this {
    const c = super.copy();
    const src = this as SecureEnviron;
    const dst = c as SecureEnviron;
    if (src.#secureRepr !== undefined) dst.#secureRepr = src.#secureRepr;
    if (src.#whitelistKeys !== undefined) dst.#whitelistKeys = src.#whitelistKeys;
    if (src.#printMaskedKeys !== undefined) dst.#printMaskedKeys = src.#printMaskedKeys;
    return c;
  }

  /**
   * What printing shows: the visible entries (values masked as needed) and
   * the number of keys left out.
   */
  safeEntries(): { entries: Array<[string, unknown]>; hidden: number } {
    const all = Object.entries(this);
    if (!this.secureRepr) return { entries: all, hidden: 0 };
    const print = this.printMaskedKeys;
    const entries: Array<[string, unknown]> = [];
    let hidden = 0;
    for (const [k, v] of all) {
      const masked = this.opaque || this.isMasked(k);
      if (!masked) entries.push([k, v]);
      else if (print) entries.push([k, MASKED]);
      else hidden++;
    }
    return { entries, hidden };
  }

  /**
   * The masked text form (gevent `repr()`): `{KEY: "value", ...}`, with
   * `, (hidden keys: N)` before the brace when keys were left out, or
   * `<ClassName (keys: N)>` when secure with no whitelist. Non-string values
   * print as `[ClassName]`.
   */
  override toString(): string {
    const n = Object.keys(this).length;
    if (this.secureRepr && this.opaque) return `<${this.constructor.name} (keys: ${n})>`;
    const { entries, hidden } = this.safeEntries();
    const body = entries.map(([k, v]) => `${k}: ${describe(v)}`);
    if (hidden) body.push(`(hidden keys: ${hidden})`);
    return `{${body.join(", ")}}`;
  }

  /**
   * The masked object for `JSON.stringify()`: visible keys with their values
   * (objects and functions described as `"[ClassName]"`), masked keys with
   * `"<MASKED>"` or left out (see {@link printMaskedKeys}).
   */
  toJSON(): Record<string, unknown> {
    const { entries } = this.safeEntries();
    return Object.fromEntries(entries.map(([k, v]) => [k, jsonValue(v)]));
  }

  /** `console.log()` / `Bun.inspect()` / `util.inspect()` print {@link toString}. */
  [INSPECT](): string {
    return this.toString();
  }
}

/**
 * Keys always treated as secret by {@link TsgiSecureEnviron}, whatever the
 * pattern says (unless whitelisted).
 */
export const SENSITIVE_KEYS: ReadonlySet<string> = new Set([
  "HTTP_AUTHORIZATION",
  "HTTP_COOKIE",
  "HTTP_PROXY_AUTHORIZATION",
  "HTTP_SET_COOKIE",
  "REMOTE_USER",
  // Every request field line, Authorization and Cookie among them (eventlet's headers_raw).
  "tsgi.headers_raw",
]);

/**
 * Keys whose names look like credentials: any key containing `pass`,
 * `secret`, `token`, `auth`, `cookie`, `session`, `key`, `credential`,
 * `private`, `csrf`, `xsrf`, `signature`, `jwt` or `oidc`
 * (case-insensitive), e.g. `HTTP_X_API_KEY`, `HTTP_X_AUTH_TOKEN`,
 * `HTTP_X_CSRF_TOKEN`, `DB_PASSWORD`, and the signed tokens access proxies
 * add to each request: `HTTP_CF_ACCESS_JWT_ASSERTION` (Cloudflare Access),
 * `HTTP_X_GOOG_IAP_JWT_ASSERTION` (Google IAP), `HTTP_X_AMZN_OIDC_DATA`
 * (AWS load balancers).
 */
export const SENSITIVE_KEY_PATTERN = /pass|secret|token|auth|cookie|session|key|credential|private|csrf|xsrf|signature|jwt|oidc/i;

/**
 * The environ class for TSGI servers (the counterpart of gevent's
 * `WSGISecureEnviron`): prints everything *except* values that look
 * secret, so an error page or log line stays useful.
 *
 * Difference from gevent: `WSGISecureEnviron` whitelists only
 * `REMOTE_ADDR`, `REMOTE_PORT` and `HTTP_HOST` and hides everything else;
 * this class masks only keys in {@link SENSITIVE_KEYS} or matching
 * {@link SENSITIVE_KEY_PATTERN}, and shows them as `"<MASKED>"`
 * (`defaultPrintMaskedKeys` `true`). {@link whitelistKeys} (default
 * {@link TsgiSecureEnviron.defaultWhitelistKeys}) wins over the pattern.
 * Query strings and bodies are not inspected: a secret in `QUERY_STRING`
 * is printed.
 *
 * @example
 * const env = new TsgiSecureEnviron({ REMOTE_ADDR: "::1", HTTP_AUTHORIZATION: "Basic eDp5" });
 * String(env); // '{REMOTE_ADDR: "::1", HTTP_AUTHORIZATION: "<MASKED>"}'
 */
export class TsgiSecureEnviron extends SecureEnviron {
  /**
   * Keys never masked even though they match the pattern: `AUTH_TYPE`
   * (the scheme name only), `REMOTE_ADDR`, `REMOTE_PORT`, `HTTP_HOST`,
   * `HTTP_KEEP_ALIVE`, `HTTP_SEC_WEBSOCKET_VERSION`.
   */
  static override defaultWhitelistKeys: KeyContainer = new Set([
    "AUTH_TYPE",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "HTTP_HOST",
    "HTTP_KEEP_ALIVE",
    "HTTP_SEC_WEBSOCKET_VERSION",
  ]);
  static override defaultPrintMaskedKeys = true;

  /** Masked when listed in {@link SENSITIVE_KEYS} or matching {@link SENSITIVE_KEY_PATTERN}, and not whitelisted. */
  override isMasked(key: string): boolean {
    const wl = this.whitelistKeys;
    if (contains(wl, key)) return false;
    return SENSITIVE_KEYS.has(key) || SENSITIVE_KEY_PATTERN.test(key);
  }

  /** Never opaque: this class masks by key name. */
  protected override get opaque(): boolean {
    return false;
  }
}
