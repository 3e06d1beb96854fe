// Benchmark target: the same endpoints on node:http. Usage: node bench/servers/node-http.mjs PORT
import { createServer } from "node:http";

const USAGE = "node bench/servers/node-http.mjs PORT";
const [portWord, ...rest] = process.argv.slice(2);
if (portWord === "--help" || portWord === "-h") {
  console.log(`usage: ${USAGE}`);
  process.exit(0);
}
/** A usage error, as bench/args.ts prints one: the message and the usage on stderr, exit 2. */
function usageError(message) {
  console.error(`${message}\nusage: ${USAGE}`);
  process.exit(2);
}
const port = portWord === undefined ? 9003 : /^\d{1,5}$/.test(portWord) && Number(portWord) <= 65535 ? Number(portWord) : usageError(`PORT must be a port number, 0 to 65535, got ${JSON.stringify(portWord)}`);
if (rest.length > 0) usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
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
