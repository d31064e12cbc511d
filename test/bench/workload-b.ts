/**
 * Workload B of the sidecar benchmark, in its own process as a real workload
 * would be: a call made "direct" then crosses a process boundary just as a
 * call through the sidecars does, so the difference is the sidecars alone.
 * It answers `ok` and remembers the distinct Authorization headers it saw,
 * which `GET /__seen` reports and `POST /__reset` forgets.
 *
 *   node workload-b.js <port>
 */
import { createServer } from "node:http";

const port = Number(process.argv[2]);
const seen = new Set<string>();
createServer((req, res) => {
  if (req.url === "/__seen") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ distinct: seen.size }));
  if (req.url === "/__reset") {
    seen.clear();
    return void res.writeHead(204).end();
  }
  seen.add(req.headers.authorization ?? "");
  res.writeHead(200, { "content-type": "text/plain" }).end("ok");
}).listen(port, "127.0.0.1", () => console.log(`workload B on ${port}`));
// Stopped with SIGTERM: exiting normally lets `--cpu-prof` (STS_TEST_NODE_ARGS) write its profile, as the sidecars do.
process.once("SIGTERM", () => process.exit(0));
