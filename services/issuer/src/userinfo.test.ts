/** OIDC UserInfo claims (Core §5.3, §5.4): what each scope releases, from the configured directory's own entries only. */
import { describe, expect, it } from "vitest";
import { userInfoClaims } from "./userinfo.js";

const directory = { alice: { name: "Alice", email: "alice@example.org", phone_number: "+1 555" } };

describe("userInfoClaims", () => {
  it("releases the claims of the granted scopes only", () => {
    expect(userInfoClaims("alice", ["openid", "profile"], directory)).toEqual({ sub: "alice", name: "Alice" });
    expect(userInfoClaims("alice", ["openid", "email"], directory)).toEqual({ sub: "alice", email: "alice@example.org" });
  });

  it("releases nothing but sub for a subject that is no user of the directory, whatever its name (constructor, __proto__)", () => {
    for (const sub of ["bob", "constructor", "__proto__", "toString"]) {
      expect(userInfoClaims(sub, ["openid", "profile", "email", "address", "phone"], directory)).toEqual({ sub });
    }
  });

  it("releases nothing for a scope that is no standard one, whatever its name (constructor, toString), rather than failing", () => {
    expect(userInfoClaims("alice", ["openid", "constructor", "toString", "hasOwnProperty"], directory)).toEqual({ sub: "alice" });
  });
});
