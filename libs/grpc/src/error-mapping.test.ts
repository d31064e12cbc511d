import { describe, expect, it } from "vitest";
import type { ServiceError } from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { errorFromItemError, errorFromServiceError, statusFromOAuthError } from "./error-mapping.js";

/** The ServiceError a client sees for a server's OAuthError. */
function received(err: OAuthError): ServiceError {
  const s = statusFromOAuthError(err);
  const e: ServiceError = Object.assign(new Error(s.details), { code: s.code, details: s.details, metadata: s.metadata });
  return e;
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
});
