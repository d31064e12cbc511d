import { describe, expect, it } from "vitest";
import { MisplacedToken } from "@sts/mesh";
import { RepeatedAuthorization, refuseRepeatedAuthorization } from "./single-credential.js";

describe("refuseRepeatedAuthorization (RFC 6750 §3.1, RFC 9110 §5.3)", () => {
  it("takes a request with one Authorization field, or none", () => {
    expect(() => refuseRepeatedAuthorization(["Host", "svc", "Authorization", "Bearer t"])).not.toThrow();
    expect(() => refuseRepeatedAuthorization(["Host", "svc"])).not.toThrow();
    // A value that reads "authorization" is not a field name.
    expect(() => refuseRepeatedAuthorization(["Authorization", "Bearer t", "x-note", "authorization"])).not.toThrow();
  });

  it("refuses two Authorization fields, whatever their case, as invalid_request (400, gRPC INVALID_ARGUMENT)", () => {
    const refused = (): void => refuseRepeatedAuthorization(["authorization", "Bearer first", "Host", "svc", "AUTHORIZATION", "Bearer second"]);
    expect(refused).toThrow(RepeatedAuthorization);
    // The mesh library maps MisplacedToken to 400 and INVALID_ARGUMENT, never to 401 as a bad token.
    expect(refused).toThrow(MisplacedToken);
    expect(refused).toThrow(expect.objectContaining({ code: "invalid_request" }));
  });
});
