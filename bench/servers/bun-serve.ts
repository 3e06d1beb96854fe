/** Benchmark target: the same endpoints on Bun.serve. Usage: bun bench/servers/bun-serve.ts PORT */
const port = Number(process.argv[2] ?? 9002);
Bun.serve({
  hostname: "127.0.0.1",
  port,
  async fetch(req) {
    if (req.method === "POST") {
      return new Response(await req.arrayBuffer(), { headers: { "Content-Type": "application/octet-stream" } });
    }
    return new Response("Hello, world!\n", { headers: { "Content-Type": "text/plain" } });
  },
});
console.log("ready");
