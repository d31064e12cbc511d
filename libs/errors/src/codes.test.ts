import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { codeFromGrpcStatus } from "./index.js";

describe("codeFromGrpcStatus (a status without the oauth-error metadata every handler of the stack attaches)", () => {
  it("never blames the end client's credentials or request for a transport's, proxy's or RBAC filter's status", () => {
    // Before: invalid_client (401 and a Basic challenge at the gateway) and invalid_request.
    expect(codeFromGrpcStatus(status.UNAUTHENTICATED, "rbac denied")).toBe("server_error");
    expect(codeFromGrpcStatus(status.INVALID_ARGUMENT, "bad header")).toBe("server_error");
    for (const s of [status.PERMISSION_DENIED, status.INTERNAL, status.UNKNOWN, status.UNIMPLEMENTED, status.NOT_FOUND, status.FAILED_PRECONDITION]) {
      expect(codeFromGrpcStatus(s), status[s]).toBe("server_error");
    }
  });

  it("makes what gRPC says is retryable temporarily_unavailable (503 + Retry-After)", () => {
    for (const s of [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED]) expect(codeFromGrpcStatus(s), status[s]).toBe("temporarily_unavailable");
  });

  it("takes RESOURCE_EXHAUSTED as the request's size only for grpc-js's own message-size refusal", () => {
    expect(codeFromGrpcStatus(status.RESOURCE_EXHAUSTED, "Received message larger than max (100012 vs 65536)")).toBe("invalid_request");
    expect(codeFromGrpcStatus(status.RESOURCE_EXHAUSTED, "Received message that decompresses to a size larger than 65536")).toBe("invalid_request");
    // grpc-js's mapping of an HTTP/2 ENHANCE_YOUR_CALM reset, a quota, or a message without details: load, not input.
    for (const details of ["Bandwidth exhausted or memory limit exceeded", "quota exceeded", "", "Received message larger than max"]) {
      expect(codeFromGrpcStatus(status.RESOURCE_EXHAUSTED, details), details).toBe("temporarily_unavailable");
    }
    expect(codeFromGrpcStatus(status.RESOURCE_EXHAUSTED)).toBe("temporarily_unavailable");
  });
});
