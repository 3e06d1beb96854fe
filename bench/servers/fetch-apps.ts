/**
 * The fetch-style hello apps the bench serves two ways: through tsgi's
 * fetch bridge (`fromFetchHandler`, what `tsgi serve app.ts` does with such
 * an export) and on `Bun.serve` itself, the server a user moves from.
 * `fetch` is a plain `(request) => Response`, `hono` a Hono app with one
 * route (`c.text()`, which adds `Content-Type: text/plain; charset=UTF-8`).
 */
import { Hono } from "hono";

const hono = new Hono();
hono.get("/", (c) => c.text("Hello, world!\n"));

/** The fetch apps by name. */
export const fetchApps = {
  fetch: (_request: Request) => new Response("Hello, world!\n"),
  hono: hono.fetch,
} as const;

/** A name of {@link fetchApps}. */
export type FetchAppName = keyof typeof fetchApps;

/** Whether `name` names one of {@link fetchApps}. */
export function isFetchApp(name: string | undefined): name is FetchAppName {
  return name === "fetch" || name === "hono";
}
