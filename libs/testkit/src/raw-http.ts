/** HTTP/1.1 written and read as bytes, for tests of what a listener answers before any request handler runs. */
import { connect } from "node:net";
import type { Socket } from "node:net";

/** Writes `bytes` on a new connection to `port`; what came back once the server closed it. The socket goes into `opened`, for the test to destroy. */
export function rawExchange(port: number, bytes: string | Buffer, opened: Socket[]): Promise<string> {
  const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
  opened.push(socket);
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  return new Promise((resolve) => socket.on("close", () => resolve(received)));
}

/** An answer read as bytes: its status, the header fields named (lower case), and its body parsed as JSON ("" when empty). */
export function parseRawAnswer(answer: string, names: string[]): { status: number; headers: Record<string, string | undefined>; body: unknown } {
  const [head = "", body = ""] = answer.split("\r\n\r\n", 2);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const fields = new Map(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  return {
    status: Number(statusLine.split(" ")[1]),
    headers: Object.fromEntries(names.map((n) => [n, fields.get(n)])),
    body: body === "" ? "" : (JSON.parse(body) as unknown),
  };
}
