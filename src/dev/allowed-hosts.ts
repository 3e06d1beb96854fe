/**
 * DNS-rebinding protection for the dev server. A page on another site can
 * point its own host name at 127.0.0.1 and then read the dev server's
 * answers as same-origin: error pages carry source code, stacks and the
 * request. Browsers always send the name they used as `Host`, so the dev
 * server answers only requests whose `Host` names this machine (Vite's
 * `server.allowedHosts`, added for GHSA-vg6x-rcgg-rjx6; webpack-dev-server's
 * `allowedHosts`; Django's `ALLOWED_HOSTS`).
 * @module
 */
import { isIP } from "node:net";
import { ownCopy } from "../http/intern.ts";
import type { Application, Environ } from "../spec.ts";

/**
 * Host names to answer besides the defaults: exact names (`app.test`), or a
 * leading dot for a domain and its subdomains (`.example.com`), as Vite
 * reads them; `true` answers every host (the check is off).
 */
export type AllowedHosts = readonly string[] | true;

/**
 * Whether a request's `Host` value may be answered. Always allowed: no
 * `Host` (HTTP/1.0), `localhost` and `*.localhost` (RFC 6761: they resolve
 * to loopback only), IPv4 and IPv6 literals (a rebinding attack needs a
 * name), the host the server was bound to, and `allowed`.
 * @param host the `Host` field value, with or without a port.
 * @param bound the `--host` the server listens on (a wildcard adds nothing).
 */
export function hostAllowed(host: string | undefined, bound: string, allowed: AllowedHosts): boolean {
  if (allowed === true || host === undefined || host === "") return true;
  const name = hostName(host);
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (isIP(name.startsWith("[") ? name.slice(1, -1) : name) !== 0) return true;
  if (name === bound.toLowerCase()) return true;
  for (const entry of allowed) {
    const e = entry.toLowerCase();
    if (e.startsWith(".") ? name === e.slice(1) || name.endsWith(e) : name === e) return true;
  }
  return false;
}

/** The name part of a `Host` value, lower-cased, without the port (`[::1]:8000` → `[::1]`). */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(":");
  const name = colon === -1 ? h : h.slice(0, colon);
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/**
 * Host names {@link withHostCheck} warns about, at most; after them one line
 * says it stops. Any client, or a rebinding page behind wildcard DNS, can
 * send a new name with each request: each warned name is remembered, and
 * would be printed.
 */
export const MAX_WARNED_HOSTS = 10;

/**
 * Wrap `app`: a request whose `Host` is not allowed ({@link hostAllowed}) is
 * answered `403 Forbidden` with what to do, and never reaches the app.
 * @param warn called with a one-line warning the first time each host name
 *   is refused (for the terminal), for the first {@link MAX_WARNED_HOSTS}
 *   names, then once with a line saying that later names are not reported.
 */
export function withHostCheck(app: Application, bound: string, allowed: AllowedHosts, warn?: (message: string) => void): Application {
  if (allowed === true) return app;
  const encoder = new TextEncoder();
  const warned = new Set<string>();
  return (environ: Environ, startResponse) => {
    const host = typeof environ.HTTP_HOST === "string" ? environ.HTTP_HOST : undefined;
    if (hostAllowed(host, bound, allowed)) return app(environ, startResponse);
    const name = hostName(host!);
    // Host names are the clients' own: each is remembered as a copy (the name is a slice of the
    // request head's string, which the runtime shares past 8 characters: it would keep the head).
    if (warn && !warned.has(name) && warned.size <= MAX_WARNED_HOSTS) {
      warned.add(ownCopy(name));
      if (warned.size <= MAX_WARNED_HOSTS) {
        warn(`blocked a request for host "${name}": not this machine's name (DNS rebinding protection); --allowed-hosts ${name} allows it`);
      } else {
        warn(`blocked requests for more host names than ${MAX_WARNED_HOSTS} (DNS rebinding protection): further ones are answered 403 and not reported any more`);
      }
    }
    const body = encoder.encode(
      `Blocked request: the host "${name}" is not allowed (a protection against DNS rebinding).\n` +
        `To allow it, start tsgi-dev with --allowed-hosts ${name}\n`,
    );
    startResponse("403 Forbidden", [
      ["Content-Type", "text/plain; charset=utf-8"],
      ["Content-Length", String(body.byteLength)],
      // The page quotes the Host field: never sniffed as HTML.
      ["X-Content-Type-Options", "nosniff"],
    ]);
    return [body];
  };
}
