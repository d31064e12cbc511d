/**
 * The answers Node's HTTP server gives on its own, before any request reaches a listener of the stack: a malformed
 * request (400), header fields past maxHeaderSize (431), a chunk extension past its bound (413), a client too slow for
 * headersTimeout or requestTimeout (408). Node writes them with no body and no cache directive; from the gateway (an
 * OAuth endpoint) and a sidecar they carry the RFC 6749 §5.2 body and `Cache-Control: no-store`, as every other answer
 * of theirs does.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { HttpDrain } from "./http-drain.js";

/** Status line and description of each refusal, by the code of Node's error (`HPE_*` from its parser); 400 for the rest. */
const REFUSALS: Readonly<Record<string, readonly [number, string, string]>> = {
  HPE_HEADER_OVERFLOW: [431, "Request Header Fields Too Large", "request header fields too large"],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, "Content Too Large", "chunk extensions too large"],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "the request was not received in time"],
};
const MALFORMED = [400, "Bad Request", "malformed HTTP request"] as const;

/**
 * The raw answer to a refused connection: `headers` (the listener's own content type and cache directives), then
 * `Connection: close` (RFC 9112 §9.6): nothing more is read from it.
 */
export function refusalResponse(code: string | undefined, headers: Readonly<Record<string, string>>): string {
  const [status, reason, description] = (code !== undefined && REFUSALS[code]) || MALFORMED;
  const body = JSON.stringify({ error: "invalid_request", error_description: description });
  const fields = Object.entries({ ...headers, "content-length": String(Buffer.byteLength(body)), connection: "close" });
  return [`HTTP/1.1 ${status} ${reason}`, ...fields.map(([name, value]) => `${name}: ${value}`), "", body].join("\r\n");
}

/**
 * Answers the server's `clientError`s as {@link refusalResponse} says, with `headers`. As Node's own handler does, a
 * connection whose current answer has started (`drain` follows every answer), or that the client reset or can no
 * longer be written, is only closed: anything written there would be read as part of that answer.
 */
export function answerClientErrors(server: Server, drain: HttpDrain, headers: Readonly<Record<string, string>>): void {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === "ECONNRESET" || !socket.writable || drain.answerStarted(socket)) {
      socket.destroy();
      return;
    }
    // Ended, then destroyed once written: an HTTP server's sockets stay half-open after end() until the client closes.
    socket.once("finish", () => socket.destroy());
    socket.end(refusalResponse(err.code, headers));
  });
}
