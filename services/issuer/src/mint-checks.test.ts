/**
 * Mint's own checks of the delegation record the exchanger computed: the `act` chain (RFC 8693 §4.1) and the lineage
 * parent recorded in token.exchanged. Each refusal is invalid_request and never echoes the input.
 */
import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import type { Actor__Output } from "@sts/proto";
import { checkedActChain, checkedParentJti } from "./mint-checks.js";

const STS = "https://sts.test";
const IDP = "https://idp.example";

/** The proto Actor chain naming `subs`, current actor first. */
const chain = (...subs: string[]): Actor__Output | null => subs.reduceRight<Actor__Output | null>((act, sub) => ({ sub, act }), null);

/** The OAuth code and description a call fails with, or its value. */
function outcome<T>(fn: () => T): T | [string, string] {
  try {
    return fn();
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
}

const malformed = ["invalid_request", "malformed act chain: every actor must be a client id of at most 256 characters"];

describe("checkedActChain (MintRequest.act, RFC 8693 §4.1)", () => {
  it("reads no act as none, and a chain whose current actor is the token's client as the nested act claim", () => {
    expect(checkedActChain(null, "svc-b", 8)).toBeUndefined();
    expect(checkedActChain(chain("svc-b"), "svc-b", 8)).toEqual({ sub: "svc-b" });
    expect(checkedActChain(chain("svc-c", "svc-b", "svc-a"), "svc-c", 3)).toEqual({ sub: "svc-c", act: { sub: "svc-b", act: { sub: "svc-a" } } });
  });

  it("refuses an actor with an empty sub at any depth rather than cutting the chain there (the earlier actors would vanish)", () => {
    expect(outcome(() => checkedActChain(chain("svc-c", "", "svc-a"), "svc-c", 8))).toEqual(malformed);
    expect(outcome(() => checkedActChain(chain(""), "svc-c", 8))).toEqual(malformed);
    expect(outcome(() => checkedActChain(chain("svc-c", ""), "svc-c", 8))).toEqual(malformed);
  });

  it("refuses a current actor other than the client the token is issued to", () => {
    expect(outcome(() => checkedActChain(chain("svc-x", "svc-a"), "svc-c", 8))).toEqual([
      "invalid_request",
      "act must name the client the token is issued to as its current actor (RFC 8693 section 4.1)",
    ]);
  });

  it("refuses a chain deeper than exchange.max_depth, and actors no client id could be", () => {
    expect(outcome(() => checkedActChain(chain("svc-c", "svc-b", "svc-a"), "svc-c", 2))).toEqual([
      "invalid_request",
      "act chain deeper than 2 (exchange.max_depth)",
    ]);
    const deep = chain(...Array.from({ length: 20_000 }, (_, i) => (i === 0 ? "svc-c" : `a${i}`)));
    expect(outcome(() => checkedActChain(deep, "svc-c", 32))).toEqual(["invalid_request", "act chain deeper than 32 (exchange.max_depth)"]);
    expect(outcome(() => checkedActChain(chain("svc-c", "a".repeat(257)), "svc-c", 8))).toEqual(malformed);
    expect(outcome(() => checkedActChain(chain("svc-c", "svc-\u001b[2Jb"), "svc-c", 8))).toEqual(malformed);
  });
});

describe("checkedParentJti (MintRequest.parent_jti)", () => {
  const refused = [
    "invalid_request",
    "parent_jti must name the token exchanged: the first jti of the lineage, or <subject_issuer>#<jti> for a trusted issuer's token",
  ];

  it("takes none, our subject token's jti (the lineage's first), or a trusted issuer's token named after it", () => {
    expect(checkedParentJti("", [], STS, STS)).toBeUndefined();
    expect(checkedParentJti("j1", ["j1", "j0"], STS, STS)).toBe("j1");
    // Our token for a provider's subject: ours to name by its jti.
    expect(checkedParentJti("j1", ["j1"], IDP, STS)).toBe("j1");
    expect(checkedParentJti(`${IDP}#kc-1`, [], IDP, STS)).toBe(`${IDP}#kc-1`);
    // A provider's token exchanged with an actor token of ours: the lineage starts with the actor's jti.
    expect(checkedParentJti(`${IDP}#kc-1`, ["actor-j"], IDP, STS)).toBe(`${IDP}#kc-1`);
  });

  it("refuses any other parent: another of the lineage's jtis, one outside it, another issuer's name, ours spelled as foreign", () => {
    for (const [parent, lineage, vouching] of [
      ["j0", ["j1", "j0"], STS],
      ["forged", ["j1"], STS],
      ["forged", [], STS],
      [`${STS}#j1`, ["j1"], STS],
      [`https://evil.example#kc-1`, [], IDP],
      [`${IDP}#`, [], IDP],
      [`${IDP}#kc\n1`, [], IDP],
    ] as const) {
      expect(outcome(() => checkedParentJti(parent, lineage, vouching, STS))).toEqual(refused);
    }
  });
});
