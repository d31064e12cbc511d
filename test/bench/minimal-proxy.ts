/**
 * The floor for the sidecar figures: a pass-through HTTP proxy with nothing
 * in it (no token work, no header rules), in its own process like a sidecar.
 *
 *   node minimal-proxy.js <listen port> <target port>
 */
import { Agent, createServer, request } from "node:http";

const [port, target] = process.argv.slice(2).map(Number);
const agent = new Agent({ keepAlive: true });
createServer((req, res) => {
  const upstream = request({ host: "127.0.0.1", port: target, path: req.url, method: req.method, headers: req.headers, agent }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on("error", () => res.writeHead(502).end());
  req.pipe(upstream);
}).listen(port, "127.0.0.1", () => console.log(`minimal proxy ${port} -> ${target}`));
// Stopped with SIGTERM: exiting normally lets `--cpu-prof` (STS_TEST_NODE_ARGS) write its profile, as the sidecars do.
process.once("SIGTERM", () => process.exit(0));
