import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { OAuthError, toOAuthError, isRelayableErrorCode, ERROR_TABLE, OAUTH_ERROR_CODES, codeFromGrpcStatus } from "./index.js";

describe("OAuthError", () => {
  it("maps every code to the status table of CONVENTIONS.md", () => {
    expect(ERROR_TABLE.invalid_client).toEqual({ http: 401, grpc: status.UNAUTHENTICATED });
    expect(ERROR_TABLE.invalid_target).toEqual({ http: 400, grpc: status.PERMISSION_DENIED });
    expect(ERROR_TABLE.temporarily_unavailable).toEqual({ http: 503, grpc: status.UNAVAILABLE });
    expect(ERROR_TABLE.server_error).toEqual({ http: 500, grpc: status.INTERNAL });
    expect(ERROR_TABLE.not_found).toEqual({ http: 404, grpc: status.NOT_FOUND });
    // Nothing relays an operator API's code: a bare status is the upstream's failure.
    expect(codeFromGrpcStatus(status.NOT_FOUND)).toBe("server_error");
    expect(ERROR_TABLE.failed_precondition).toEqual({ http: 400, grpc: status.FAILED_PRECONDITION });
    expect(codeFromGrpcStatus(status.FAILED_PRECONDITION)).toBe("server_error");
    expect(Object.keys(ERROR_TABLE).sort()).toEqual([...OAUTH_ERROR_CODES].sort());
  });

  it("serializes only code and description, never the cause (RFC 6749 §5.2)", () => {
    const err = new OAuthError("invalid_grant", "assertion expired", { cause: new Error("secret detail") });
    expect(JSON.stringify(err)).toBe('{"error":"invalid_grant","error_description":"assertion expired"}');
    expect(err.status).toBe(400);
  });

  it("replaces characters RFC 6749 forbids in error_description", () => {
    const err = new OAuthError("invalid_request", 'bad "x"\r\n\\ é');
    expect(err.description).toBe("bad ?x???? ?");
  });

  it("turns unknown failures into server_error without leaking the message", () => {
    const err = toOAuthError(new Error("db password wrong"));
    expect(err.code).toBe("server_error");
    expect(err.description).toBe("internal error");
  });

  it("refuses an unknown code as a programmer error", () => {
    expect(() => new OAuthError("nope" as never, "x")).toThrow(TypeError);
  });

  it("keeps Retry-After a whole number of seconds HTTP can send (RFC 9110 §10.2.3 delay-seconds), whatever was relayed", () => {
    const retryAfter = (value: number, code: "temporarily_unavailable" | "server_error" = "temporarily_unavailable"): number | undefined =>
      new OAuthError(code, "x", { retryAfter: value }).retryAfter;
    expect(retryAfter(5)).toBe(5);
    expect(retryAfter(0)).toBe(0);
    expect(retryAfter(1.2)).toBe(2);
    expect(retryAfter(-3)).toBe(0);
    expect(retryAfter(1e21)).toBe(2 ** 31 - 1);
    // No finite number (Number("x") from a relayed header): the default, not "NaN" in a header.
    expect(retryAfter(Number.NaN)).toBe(1);
    expect(retryAfter(Number.POSITIVE_INFINITY)).toBe(1);
    expect(retryAfter(Number.NaN, "server_error")).toBeUndefined();
    for (const v of [5, 0, 1.2, -3, 1e21, Number.NaN]) expect(String(retryAfter(v))).toMatch(/^\d+$/);
  });

  it("defaults Retry-After for temporarily_unavailable", () => {
    expect(new OAuthError("temporarily_unavailable", "nats down").retryAfter).toBe(1);
    expect(codeFromGrpcStatus(status.DEADLINE_EXCEEDED)).toBe("temporarily_unavailable");
  });
});

describe("isRelayableErrorCode", () => {
  it("passes RFC codes on, never an operator API's own, nor an unknown one", () => {
    expect(["invalid_grant", "temporarily_unavailable", "server_error"].every(isRelayableErrorCode)).toBe(true);
    expect(["not_found", "failed_precondition", "made_up", undefined].some(isRelayableErrorCode)).toBe(false);
  });
});
