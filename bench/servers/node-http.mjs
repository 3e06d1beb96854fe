// Benchmark target: the same endpoints on node:http. Usage: node bench/servers/node-http.mjs PORT
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 9003);
const body = Buffer.from("Hello, world!\n");
createServer((req, res) => {
  if (req.method === "POST") {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => {
      const data = Buffer.concat(parts);
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": data.length });
      res.end(data);
    });
    return;
  }
  res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
  res.end(body);
})
  .listen(port, "127.0.0.1", () => console.log("ready"));
