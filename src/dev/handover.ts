/**
 * Restart mode's handover: when a new app process has taken over the port,
 * the old one stops accepting but answers what its open keep-alive
 * connections still bring by forwarding it to the port (where only the new
 * process accepts now), each answer with `Connection: close`. So a request
 * that crossed the restart on an old connection runs the new code instead of
 * being reset (RFC 9112 §9.3.1's race) or answered by the old code.
 * @module
 */
import { fromFetchHandler } from "../fetch/index.ts";
import type { Application } from "../spec.ts";
import { isWildcard } from "./ports.ts";

/** How long an idle keep-alive connection of the old process may still bring a request (ms). */
export const HANDOVER_IDLE_GRACE_MS = 1000;

/**
 * A TSGI app that forwards each request to `origin` (`http://host:port`)
 * and streams the answer back as it is: status, fields (Set-Cookie kept
 * apart), body not decompressed, redirects not followed. Each forwarded
 * request opens its own connection, so it reaches whichever process
 * accepts on the port now. The request's path and query are appended to
 * `origin` as they are (a path `//host/x` stays a path on `origin`).
 */
export function forwardTo(origin: string): Application {
  return fromFetchHandler(async (request: Request) => {
    const url = new URL(request.url);
    // Appended to the origin, not resolved against it: a path that starts with `//` (or `/\`,
    // which the Request's URL reads as `//`) would resolve as a network-path reference to another host.
    const target = `${origin}${url.pathname}${url.search}`;
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    return fetch(target, {
      method: request.method,
      headers: request.headers,
      body: hasBody ? request.body : null,
      redirect: "manual",
      decompress: false,
      keepalive: false,
      signal: request.signal,
      // Bun streams a ReadableStream request body (fetch's `duplex: "half"`).
    } as RequestInit);
  });
}

/** The address this machine reaches a server bound to `host` at (what {@link forwardTo} forwards to): loopback for a wildcard bind. */
export function loopbackFor(host: string): string {
  if (host === "::") return "[::1]";
  if (isWildcard(host)) return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
