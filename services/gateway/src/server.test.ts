import { connect } from "node:net";
import type { Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { parseRawAnswer, rawExchange, waitFor } from "@sts/testkit";
import { maxHeaderBytesFor } from "@sts/config";
import { testGateway } from "./gateway.fixture.js";

/** Far above the timeouts the gateway is given here, far below the 30 s Node would otherwise wait between checks. */
const WAIT_MS = 10_000;

const started: Array<{ close(): Promise<void> }> = [];
const sockets: Socket[] = [];
afterEach(async () => {
  // A connection the gateway failed to give up would hold its close.
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(started.splice(0).map((g) => g.close()));
});

/** A gateway without an issuer: these requests never reach one. */
async function gateway(options: { headersTimeoutMs?: number; requestTimeoutMs?: number; maxHeaderBytes?: number } = {}): Promise<number> {
  const g = await testGateway(options);
  started.push(g);
  return g.port;
}

/** Writes `text` on a new connection and collects what comes back until the gateway closes it. */
function rawConnection(port: number, text: string): { socket: Socket; received: () => string; closed: Promise<string> } {
  const socket = connect(port, "127.0.0.1", () => socket.write(text));
  sockets.push(socket);
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  return { socket, received: () => received, closed: new Promise((resolve) => socket.on("close", () => resolve(received))) };
}

/** `p`, or a failure saying what did not happen within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe("slow clients", () => {
  it("gives up a client that never finishes its headers (408), as headersTimeout says", async () => {
    const port = await gateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const { closed } = rawConnection(port, "POST /oauth2/token HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\n");
    expect(await within(closed, WAIT_MS, "the gateway gave the connection up")).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("gives up a request whose body is still coming after requestTimeout (408)", async () => {
    const port = await gateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const head = "POST /oauth2/token HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n";
    const { closed } = rawConnection(port, `${head}grant_type=cl`);
    expect(await within(closed, WAIT_MS, "the gateway gave the request up")).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe("Expect: 100-continue (RFC 9110 §10.1.1)", () => {
  const expecting = (method: string, path: string, length: number, type = "application/x-www-form-urlencoded"): string =>
    `${method} ${path} HTTP/1.1\r\nHost: sts\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

  it.each([
    ["a declared body over the limit", 10_000_000, undefined],
    ["a body of type application/json", 20, "application/json"],
    ["a form in another charset than UTF-8", 20, "application/x-www-form-urlencoded; charset=iso-8859-1"],
  ])("refuses %s at once, never inviting it", async (_what, length, type) => {
    const port = await gateway();
    const { closed } = rawConnection(port, expecting("POST", "/oauth2/token", length, type));
    const answer = await within(closed, WAIT_MS, "the gateway answered and closed");
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).not.toContain("100 Continue");
    expect(answer).toContain('"error":"invalid_request"');
  });

  it("refuses a method the path does not take without inviting the body, and closes the connection", async () => {
    const port = await gateway();
    const { closed } = rawConnection(port, expecting("PUT", "/oauth2/token", 5));
    const answer = await within(closed, WAIT_MS, "the gateway answered and closed");
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(answer).not.toContain("100 Continue");
    expect(answer.toLowerCase()).toContain("connection: close");
  });

  it("invites the body of a request it will read, then reads it", async () => {
    const port = await gateway();
    const conn = rawConnection(port, expecting("POST", "/oauth2/userinfo", 3));
    await waitFor(() => conn.received().startsWith("HTTP/1.1 100 Continue\r\n\r\n"), { timeoutMs: WAIT_MS, message: "100 Continue" });
    // Only now: the body read, UserInfo refuses the request for its missing bearer credential.
    expect(conn.received()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    conn.socket.end("a=b");
    const answer = await within(conn.closed, WAIT_MS, "the gateway answered");
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 401 /);
  });
});

describe("request header size", () => {
  const withHeaderOf = (bytes: number): string =>
    `GET /.well-known/openid-configuration HTTP/1.1\r\nHost: sts\r\nX-Padding: ${"x".repeat(bytes)}\r\nConnection: close\r\n\r\n`;

  it("takes a bearer token as large as a raised tokens.max_token_bytes lets the issuer mint", async () => {
    const port = await gateway({ maxHeaderBytes: maxHeaderBytesFor(32_768) });
    expect(await within(rawConnection(port, withHeaderOf(32_768)).closed, WAIT_MS, "answered")).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("answers 431 past its limit, 16 KiB unless the tokens need more", async () => {
    expect(maxHeaderBytesFor(8192)).toBe(16 * 1024);
    const port = await gateway();
    expect(await within(rawConnection(port, withHeaderOf(20_000)).closed, WAIT_MS, "answered")).toMatch(/^HTTP\/1\.1 431 /);
  });
});

/** The head of a request announcing a 10 MB body, and its first KiB. */
const withLargeBody = (method: string, path: string): string =>
  `${method} ${path} HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n${"a".repeat(1024)}`;

// A request answered without its body being read (a 404, a 405, a GET that brought one) must not have that body read
// for it: maxBodyBytes bounds only the bodies the gateway reads, and Node would read and drop any amount, until
// requestTimeout (two minutes here, far past WAIT_MS), on a connection kept for the next request.
describe("a body the gateway answers without reading", () => {
  it.each([
    ["a method the token endpoint does not take (405)", "PUT", "/oauth2/token", 405],
    ["a path nothing serves (404)", "POST", "/nowhere", 404],
    ["a GET of the metadata (200)", "GET", "/.well-known/openid-configuration", 200],
    ["a GET of a probe (200)", "GET", "/healthz", 200],
  ])("is not read for %s: the connection closes after the answer, which says so", async (_what, method, path, status) => {
    const port = await gateway({ requestTimeoutMs: 120_000 });
    const answer = await within(rawConnection(port, withLargeBody(method, path)).closed, WAIT_MS, "the gateway closed the connection");
    expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(answer.toLowerCase()).toContain("\r\nconnection: close\r\n");
  });

  it("leaves the connection open after a request without a body, and after one whose body it read", async () => {
    const port = await gateway({ requestTimeoutMs: 120_000 });
    const conn = rawConnection(port, "GET /healthz HTTP/1.1\r\nHost: sts\r\n\r\n");
    const answers = (): number => conn.received().match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0;
    await waitFor(() => answers() === 1, { timeoutMs: WAIT_MS, message: "GET /healthz answered" });
    // UserInfo reads a POST's body before it refuses the missing bearer credential.
    conn.socket.write("POST /oauth2/userinfo HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b");
    await waitFor(() => answers() === 2, { timeoutMs: WAIT_MS, message: "POST /oauth2/userinfo answered on the same connection" });
    conn.socket.write("GET /healthz HTTP/1.1\r\nHost: sts\r\n\r\n");
    await waitFor(() => answers() === 3, { timeoutMs: WAIT_MS, message: "a third request answered on the same connection" });
    expect(conn.received().match(/HTTP\/1\.1 \d{3} /g)).toEqual(["HTTP/1.1 200 ", "HTTP/1.1 401 ", "HTTP/1.1 200 "]);
    expect(conn.received().toLowerCase()).not.toContain("connection: close");
  });
});

// The gateway's answers at the edge of HTTP itself: a request body in a content coding is 415 naming the codings taken
// (RFC 9110 §15.5.16, §12.5.3), and what Node's HTTP server refuses before any request exists (a malformed request,
// headers too large, a client too slow) carries the RFC 6749 §5.2 body and `Cache-Control: no-store` as every other
// answer of an OAuth endpoint does.

const FORM = "grant_type=client_credentials&client_id=svc-a&client_secret=s";

/** A POST of `body` to the token endpoint with the given extra header lines. */
const tokenRequest = (body: Buffer, extra: string[]): Buffer =>
  Buffer.concat([
    Buffer.from(
      [
        "POST /oauth2/token HTTP/1.1",
        "Host: sts",
        "Content-Type: application/x-www-form-urlencoded",
        `Content-Length: ${body.length}`,
        "Connection: close",
        ...extra,
        "",
        "",
      ].join("\r\n"),
    ),
    body,
  ]);

describe("a request body in a content coding (RFC 9110 §15.5.16)", () => {
  it.each(["gzip", "GZIP", "identity, gzip", "br"])("is 415 for Content-Encoding: %s, naming identity in Accept-Encoding", async (coding) => {
    const port = await gateway();
    const answer = await rawExchange(port, tokenRequest(gzipSync(FORM), [`Content-Encoding: ${coding}`]), sockets);
    expect(parseRawAnswer(answer, ["accept-encoding", "cache-control", "content-type"])).toEqual({
      status: 415,
      headers: { "accept-encoding": "identity", "cache-control": "no-store", "content-type": "application/json; charset=utf-8" },
      body: { error: "invalid_request", error_description: "content codings are not supported: send the body as it is" },
    });
  });

  it("is refused before its body is invited: no 100 Continue", async () => {
    // The body never comes: a gateway that invited it gives the request up at requestTimeout.
    const port = await gateway({ requestTimeoutMs: 1_000 });
    const head = tokenRequest(Buffer.alloc(0), ["Content-Encoding: gzip", "Expect: 100-continue"])
      .toString("latin1")
      .replace("Content-Length: 0", "Content-Length: 20");
    const answer = await rawExchange(port, head, sockets);
    expect(answer).toMatch(/^HTTP\/1\.1 415 /);
    expect(answer).not.toContain("100 Continue");
  });

  it("reads a body sent as it is, Content-Encoding: identity included, on to the client's authentication", async () => {
    const port = await gateway();
    // The issuer is unreachable: a request that got past the body is answered 503 by the token endpoint.
    for (const extra of [[], ["Content-Encoding: identity"]]) {
      const answer = parseRawAnswer(await rawExchange(port, tokenRequest(Buffer.from(FORM), extra), sockets), []);
      expect(answer.status, extra.join()).toBe(503);
    }
  });
});

describe("what Node's HTTP server refuses on its own", () => {
  it.each([
    ["a malformed request line", "GARBAGE\r\n\r\n", 400, "malformed HTTP request"],
    [
      "header fields past maxHeaderBytes",
      `GET /healthz HTTP/1.1\r\nHost: sts\r\nX-Padding: ${"x".repeat(20_000)}\r\n\r\n`,
      431,
      "request header fields too large",
    ],
    ["a client that never finishes its headers", "POST /oauth2/token HTTP/1.1\r\nHost: sts\r\n", 408, "the request was not received in time"],
  ])("answers %s with an OAuth error body, not to be stored", async (_what, request, status, description) => {
    const port = await gateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const answer = await rawExchange(port, request, sockets);
    expect(parseRawAnswer(answer, ["cache-control", "pragma", "connection", "content-type"])).toEqual({
      status,
      headers: { "cache-control": "no-store", pragma: "no-cache", connection: "close", "content-type": "application/json; charset=utf-8" },
      body: { error: "invalid_request", error_description: description },
    });
  });

  it("answers a body still coming after requestTimeout with 408 and the OAuth body", async () => {
    const port = await gateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const head = "POST /oauth2/token HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n";
    const answer = parseRawAnswer(await rawExchange(port, `${head}grant_type=cl`, sockets), ["cache-control"]);
    expect(answer).toEqual({
      status: 408,
      headers: { "cache-control": "no-store" },
      body: { error: "invalid_request", error_description: "the request was not received in time" },
    });
  });

  it("answers a request that does not parse after one already answered on the same connection, in its turn", async () => {
    const port = await gateway();
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write("GET /healthz HTTP/1.1\r\nHost: sts\r\n\r\n");
    await waitFor(() => received.includes("\r\n\r\n"), { timeoutMs: 10_000, message: "GET /healthz answered" });
    socket.write("GARBAGE\r\n\r\n");
    await closed;
    // The answer to the first request, then the refusal of the second, each whole.
    expect(received.match(/HTTP\/1\.1 \d{3} /g)).toEqual(["HTTP/1.1 200 ", "HTTP/1.1 400 "]);
  });
});
