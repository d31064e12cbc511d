/**
 * The lane a token request travels in is chosen by the credential it presents, not by how it is spelled: RFC 6749
 * §2.3.1 Basic credentials are form-encoded before base64, so one id and secret have countless spellings.
 */
import { describe, expect, it } from "vitest";
import type { TokenRequest, TokenResponse__Output } from "@sts/proto";
import { TokenLanes } from "./token-lanes.js";

/** Lanes that answer every request at once, and record which one each request took. */
function recordingLanes(): { lanes: TokenLanes; took: string[] } {
  const took: string[] = [];
  const lane = (name: string) => ({
    call: async (_request: TokenRequest): Promise<TokenResponse__Output> => {
      took.push(name);
      return { access_token: "at", token_type: "Bearer", expires_in: "300" } as TokenResponse__Output;
    },
  });
  return { lanes: new TokenLanes(lane("proven"), lane("other")), took };
}

const request = (authorization: string): TokenRequest => ({ grant_type: "client_credentials", client: { authorization } });

/** Basic credentials with the characters of id and secret whose bit is set in `spelling` percent-escaped. */
function basic(id: string, secret: string, spelling = 0): string {
  let bit = 0;
  const encode = (s: string): string =>
    [...s].map((c) => ((spelling >> bit++) & 1 ? `%${c.charCodeAt(0).toString(16).toUpperCase()}` : encodeURIComponent(c))).join("");
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString("base64")}`;
}

describe("the proven lane (README: Client secrets)", () => {
  it("takes a credential the issuer accepted however it is spelled the next time", async () => {
    const { lanes, took } = recordingLanes();
    await lanes.call(request(basic("svc-a", "secret-of-svc-a-01")));
    await lanes.call(request(basic("svc-a", "secret-of-svc-a-01", 0b1011)));
    await lanes.call(request(`basic  ${basic("svc-a", "secret-of-svc-a-01").slice("Basic ".length)}`));
    expect(took).toEqual(["other", "proven", "proven"]);
  });

  it("cannot be emptied of other clients by one client presenting its own secret spelled 10,001 ways", async () => {
    const { lanes, took } = recordingLanes();
    const a = basic("svc-a", "secret-of-svc-a-01");
    await lanes.call(request(a));
    // Each spelling decodes to the same id and secret, which the issuer accepts every time (from its cache: cheap).
    for (let spelling = 0; spelling <= 10_000; spelling++) await lanes.call(request(basic("svc-b", "secret-of-svc-b-01", spelling)));
    took.length = 0;
    await lanes.call(request(a));
    expect(took).toEqual(["proven"]);
  });
});
