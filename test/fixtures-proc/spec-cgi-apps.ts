/**
 * Applications for spec.md's CGI gateway example (`runWithCgi`), run as a
 * CGI script by docs-examples.test.ts: `CGI_EXAMPLE` is the example's file,
 * `APP` the application to serve, behind validator() (its warnings to stderr)
 * unless `VALIDATE=0` (an application that breaks the rules on purpose, to
 * see what the gateway itself lets through).
 */
import type { Application } from "../../src/spec.ts";
import { validator } from "../../src/toolkit/validate.ts";

const { runWithCgi } = (await import(process.env.CGI_EXAMPLE!)) as { runWithCgi: (app: Application) => Promise<void> };
const enc = new TextEncoder();
const headers: Array<[string, string]> = [["Content-Type", "text/plain"]];
const apps: Record<string, Application> = {
  echo: async (environ, startResponse) => {
    const body = await environ["tsgi.input"].read();
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [enc.encode(`${environ.REQUEST_METHOD} ${environ.PATH_INFO} [${new TextDecoder().decode(body)}]\n`)];
  },
  written: async (_environ, startResponse) => {
    await startResponse("200 OK", [["Content-Type", "text/plain"]])(enc.encode("written, "));
    return [enc.encode("returned\n")];
  },
  // A TypeError from startResponse swallowed, and a list changed after it: neither may reach the wire.
  swallowed: (_environ, startResponse) => {
    try {
      startResponse("200 OK\r\nSet-Cookie: injected=1", [["Content-Type", "text/plain"]]);
    } catch {}
    return [enc.encode("body\n")];
  },
  changed: (_environ, startResponse) => {
    startResponse("200 OK", headers);
    headers.push(["X-Note", "a\r\nSet-Cookie: injected=1"]);
    return [enc.encode("body\n")];
  },
};
const app = apps[process.env.APP!]!;
await runWithCgi(process.env.VALIDATE === "0" ? app : validator(app, { warn: (m) => console.error(m) }));
