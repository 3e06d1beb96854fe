/**
 * Our CGIHandler running the generated application described by argv[2]
 * (JSON), for test/toolkit-python-diff.test.ts; test/python/cgi_app.py is the
 * same application under wsgiref's CGIHandler.
 */
import type { Application, Body } from "../../src/spec.ts";
import { CGIHandler } from "../../src/toolkit/handlers/index.ts";
import { latin1Encode } from "../../src/toolkit/streams.ts";

type Spec = {
  status: string;
  headers: Array<[string, string]>;
  chunks: string[];
  writes: string[];
  read: "" | "read" | "readline";
  echo: boolean;
  cl: boolean;
  gen: boolean;
  fail: "" | "before" | "after";
};
const spec = JSON.parse(process.argv[2]!) as Spec;
const FLAGS = ["url_scheme", "run_once", "multithread", "multiprocess"];

const app: Application = async (environ, startResponse) => {
  if (spec.fail === "before") throw new Error("boom");
  const chunks = spec.chunks.map(latin1Encode);
  if (spec.read) {
    const cl = environ.CONTENT_LENGTH ?? "";
    const n = /^\d+$/.test(cl) ? Number(cl) : 0;
    const input = environ["tsgi.input"];
    chunks.unshift(spec.read === "read" ? await input.read(n) : await input.readline());
  }
  if (spec.echo) {
    const env = environ as unknown as Record<string, unknown>;
    let text = Object.keys(env)
      .filter((k) => !k.startsWith("tsgi."))
      .sort()
      .map((k) => `${k}=${String(env[k])}\n`)
      .join("");
    for (const k of FLAGS) {
      const v = env["tsgi." + k];
      text += `${k}=${typeof v === "boolean" ? Number(v) : String(v)}\n`;
    }
    chunks.push(latin1Encode(text));
  }
  const writes = spec.writes.map(latin1Encode);
  const headers = spec.headers.map(([k, v]) => [k, v] as [string, string]);
  if (spec.cl) headers.push(["Content-Length", String([...writes, ...chunks].reduce((n, c) => n + c.length, 0))]);
  const write = startResponse(spec.status, headers);
  for (const w of writes) await write(w);
  if (spec.gen || spec.fail === "after") {
    return (function* (): Generator<Uint8Array> {
      // No empty chunk: ours sends no headers for one (PEP 3333), wsgiref does.
      for (const c of chunks.filter((x) => x.length > 0)) {
        yield c;
        if (spec.fail === "after" && c.length > 0) throw new Error("boom after output");
      }
    })() as Body;
  }
  return chunks;
};

await new CGIHandler().run(app);
