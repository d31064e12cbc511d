import { createServer } from "node:http2";
import type { Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { constants as h2 } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { callUnary, createClient } from "./client.js";
import { errorFromItemError, errorFromServiceError, statusFromOAuthError } from "./error-mapping.js";
import { jsonMethod } from "./json-method.fixture.js";

/** The ServiceError a client sees for a server's OAuthError. */
function received(err: OAuthError): ServiceError {
  const s = statusFromOAuthError(err);
  const e: ServiceError = Object.assign(new Error(s.details), { code: s.code, details: s.details, metadata: s.metadata });
  return e;
}

/** A ServiceError as a transport, proxy or RBAC filter sends it: a status and no oauth-error metadata. */
function bare(code: grpc.status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

describe("errors received from another service", () => {
  it("keep their RFC code and description, but an operator API's own code becomes server_error: no OAuth client sees one", () => {
    const refused = errorFromServiceError(received(new OAuthError("invalid_grant", "expired")));
    expect([refused.code, refused.description]).toEqual(["invalid_grant", "expired"]);
    for (const code of ["not_found", "failed_precondition"] as const) {
      const relayed = errorFromServiceError(received(new OAuthError(code, "no such key")));
      expect([relayed.code, relayed.status]).toEqual(["server_error", 500]);
      expect(errorFromItemError({ code, description: "no such key" }).code).toBe("server_error");
    }
    expect(errorFromServiceError(received(new OAuthError("temporarily_unavailable", "nats down"))).code).toBe("temporarily_unavailable");
  });

  it("without oauth-error never blame the end client: a bare UNAUTHENTICATED or INVALID_ARGUMENT is our failure (RFC 6749 §5.2)", () => {
    const seen = (code: grpc.status, details: string) => {
      const e = errorFromServiceError(bare(code, details));
      return [e.code, e.status, e.description];
    };
    expect(seen(grpc.status.UNAUTHENTICATED, "rbac denied")).toEqual(["server_error", 500, "upstream error"]);
    expect(seen(grpc.status.INVALID_ARGUMENT, "bad")).toEqual(["server_error", 500, "upstream error"]);
    expect(seen(grpc.status.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded")).toEqual([
      "temporarily_unavailable",
      503,
      "upstream service unavailable",
    ]);
    expect(seen(grpc.status.RESOURCE_EXHAUSTED, "Received message larger than max (70000 vs 65536)")).toEqual(["invalid_request", 400, "request too large"]);
  });
});

/**
 * A plain HTTP/2 server standing in for a proxy or mesh filter in front of a service: it answers each method with a
 * bare gRPC status (no oauth-error trailer), a non-gRPC HTTP 401, or an ENHANCE_YOUR_CALM reset.
 */
describe("a failure without oauth-error, end to end through callUnary", () => {
  let proxy: Http2Server;
  let client: grpc.Client;

  beforeAll(async () => {
    proxy = createServer();
    proxy.on("stream", (stream, headers) => {
      const method = String(headers[":path"]).split("/").pop();
      stream.on("error", () => undefined);
      if (method === "Http401") {
        stream.respond({ ":status": 401, "content-type": "text/plain" });
        stream.end("proxy: unauthorized");
      } else if (method === "Calm") {
        stream.close(h2.NGHTTP2_ENHANCE_YOUR_CALM);
      } else {
        const code = { Unauthenticated: "16", InvalidArgument: "3", Unavailable: "14" }[method ?? ""] ?? "13";
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": code, "grpc-message": "rbac denied" }));
        stream.end();
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const method = (name: string) => jsonMethod(`/x.X/${name}`);
    const names = ["Unauthenticated", "InvalidArgument", "Unavailable", "Http401", "Calm"];
    const Ctor = grpc.makeGenericClientConstructor(Object.fromEntries(names.map((n) => [n, method(n)])), "X");
    client = createClient(Ctor, `127.0.0.1:${(proxy.address() as AddressInfo).port}`);
  });

  afterAll(async () => {
    client?.close();
    await new Promise((resolve) => proxy?.close(resolve));
  });

  const failure = async (method: string): Promise<[string, number, string]> => {
    const err = await callUnary(client, method, {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof OAuthError)) throw new Error(`${method}: expected an OAuthError, got ${String(err)}`);
    return [err.code, err.status, err.description];
  };

  it("answers an RBAC filter's UNAUTHENTICATED or INVALID_ARGUMENT as server_error, never invalid_client (401) or invalid_request", async () => {
    expect(await failure("Unauthenticated")).toEqual(["server_error", 500, "upstream error"]);
    expect(await failure("InvalidArgument")).toEqual(["server_error", 500, "upstream error"]);
  });

  it("answers a proxy's non-gRPC HTTP 401 (grpc-js: UNAUTHENTICATED) as server_error", async () => {
    expect(await failure("Http401")).toEqual(["server_error", 500, "upstream error"]);
  });

  it("answers an ENHANCE_YOUR_CALM reset (grpc-js: RESOURCE_EXHAUSTED) and UNAVAILABLE as temporarily_unavailable, not request too large", async () => {
    expect(await failure("Calm")).toEqual(["temporarily_unavailable", 503, "upstream service unavailable"]);
    expect(await failure("Unavailable")).toEqual(["temporarily_unavailable", 503, "upstream service unavailable"]);
  });
});
