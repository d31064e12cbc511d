import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { TOKEN_TYPE } from "@sts/jwt";
import type { AccessTokenClaims } from "@sts/jwt";
import type { ExchangeRequest__Output } from "@sts/proto";
import { MAX_DECISION_SUBJECT_CHARS } from "@sts/scopes";
import {
  actingParty,
  allowanceForAll,
  badToken,
  buildActChain,
  checkDepth,
  checkMayAct,
  checkNotExpired,
  grantedScopes,
  mintTimes,
  parseExchangeParams,
  scopesToAsk,
  subjectNamesProblem,
  tokenTypeFor,
} from "./exchange-rules.js";

const request = (over: Partial<ExchangeRequest__Output> = {}): ExchangeRequest__Output => ({
  client: null,
  subject_token: "a.b.c",
  subject_token_type: TOKEN_TYPE.ACCESS_TOKEN,
  actor_token: "",
  actor_token_type: "",
  requested_token_type: "",
  audience: ["B"],
  resource: [],
  scope: "b c",
  ...over,
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof OAuthError) return err.code;
    throw err;
  }
  return "ok";
}

const subject = (over: Partial<AccessTokenClaims> = {}): AccessTokenClaims => ({
  iss: "i",
  sub: "alice",
  aud: "A",
  exp: 2,
  iat: 1,
  jti: "j",
  client_id: "client",
  scope: "a b c",
  ...over,
});

describe("parseExchangeParams (RFC 8693 §2.1)", () => {
  it("accepts the chain's parameters and defaults requested_token_type to access_token", () => {
    const p = parseExchangeParams(request({ resource: ["https://b.example", "urn:example:b"] }), 8192);
    expect(p.audiences).toEqual(["B", "https://b.example", "urn:example:b"]);
    expect(p.scope).toEqual(["b", "c"]);
    expect(p.requestedTokenType).toBe(TOKEN_TYPE.ACCESS_TOKEN);
  });

  it.each([
    ["missing subject_token", { subject_token: "" }],
    ["missing subject_token_type", { subject_token_type: "" }],
    ["unknown subject_token_type", { subject_token_type: "urn:ietf:params:oauth:token-type:saml2" }],
    ["refresh token as subject", { subject_token_type: TOKEN_TYPE.REFRESH_TOKEN }],
    ["actor_token without its type", { actor_token: "x.y.z" }],
    ["actor_token_type without a token", { actor_token_type: TOKEN_TYPE.JWT }],
    ["unknown requested_token_type", { requested_token_type: TOKEN_TYPE.ID_TOKEN }],
    ["no target", { audience: [] }],
    ["oversized subject_token", { subject_token: "x".repeat(9000) }],
  ])("refuses %s with invalid_request", (_name, over) => {
    expect(code(() => parseExchangeParams(request(over), 8192))).toBe("invalid_request");
  });

  it.each([
    ["that is a logical name", "B"],
    ["that is a relative reference", "/api/data"],
    ["with a fragment", "https://b.example/api#admin"],
    ["with an empty fragment", "https://b.example/#"],
    ["with a space", "https://b.example/a b"],
    ["with a malformed percent-escape", "https://b.example/%zz"],
  ])("refuses a resource %s with invalid_target (RFC 8707 section 2, RFC 8693 section 2.1)", (_name, resource) => {
    expect(code(() => parseExchangeParams(request({ audience: [], resource: [resource] }), 8192))).toBe("invalid_target");
  });

  it("refuses scope path tricks with invalid_scope", () => {
    expect(code(() => parseExchangeParams(request({ scope: "read:/data/../etc" }), 8192))).toBe("invalid_scope");
  });
});

describe("act chain (RFC 8693 §4.1)", () => {
  it("nests the previous actor inside the new one", () => {
    const first = buildActChain({ sub: "A", iss: "i" }, undefined);
    expect(buildActChain({ sub: "B", iss: "i" }, first)).toEqual({ sub: "B", act: { sub: "A" } });
  });

  it("bounds depth by the smaller of the policy and global limits", () => {
    const chain = buildActChain({ sub: "C", iss: "i" }, { sub: "B", act: { sub: "A" } });
    expect(code(() => checkDepth(chain, 0, 3))).toBe("ok");
    expect(code(() => checkDepth(chain, 2, 8))).toBe("invalid_request");
    expect(code(() => checkDepth(chain, 5, 2))).toBe("invalid_request");
  });
});

describe("may_act (RFC 8693 §4.4)", () => {
  it("lets only the named party act", () => {
    const s = subject({ may_act: { sub: "svc-a" } });
    expect(code(() => checkMayAct(s, { sub: "svc-a", iss: "i" }))).toBe("ok");
    expect(code(() => checkMayAct(s, { sub: "svc-b", iss: "i" }))).toBe("invalid_request");
    expect(code(() => checkMayAct(subject(), { sub: "anyone", iss: "i" }))).toBe("ok");
  });

  it("holds the named issuer to account too", () => {
    const s = subject({ may_act: { sub: "svc-a", iss: "https://other.example" } });
    expect(code(() => checkMayAct(s, { sub: "svc-a", iss: "i" }))).toBe("invalid_request");
    expect(code(() => checkMayAct(s, { sub: "svc-a", iss: "https://other.example" }))).toBe("ok");
  });

  it("reads a may_act without iss as naming a party of the token's issuer: in a trusted issuer's token, never our client", () => {
    // A provider's token (iss: the provider) whose may_act names its own party svc-a; our client svc-a (iss "i") is not it.
    const provider = "https://idp.example/realms/main";
    expect(code(() => checkMayAct(subject({ iss: provider, may_act: { sub: "svc-a" } }), { sub: "svc-a", iss: "i" }))).toBe("invalid_request");
    expect(code(() => checkMayAct(subject({ iss: provider, may_act: { sub: "svc-a" } }), { sub: "svc-a", iss: provider }))).toBe("ok");
    // The provider names our client by naming us as its issuer.
    expect(code(() => checkMayAct(subject({ iss: provider, may_act: { sub: "svc-a", iss: "i" } }), { sub: "svc-a", iss: "i" }))).toBe("ok");
  });

  it.each([{}, { iss: "i" }, { sub: "" }, { sub: 7 }, "svc-a", ["svc-a"], null, { sub: "svc-a", iss: 1 }])(
    "reads the malformed may_act %j as allowing nobody",
    (mayAct) => {
      const s = subject({ may_act: mayAct });
      const failure = (() => {
        try {
          checkMayAct(s, { sub: "svc-a", iss: "i" });
        } catch (err) {
          return err as OAuthError;
        }
        return undefined;
      })();
      expect(failure?.code).toBe("invalid_request");
      expect(failure?.description).toMatch(/may_act is malformed/);
    },
  );
});

describe("the acting party", () => {
  const own = subject({ sub: "svc-a", client_id: "svc-a" });
  it("is the calling client, with or without its own actor token", () => {
    expect(actingParty("svc-a", "i", undefined)).toEqual({ sub: "svc-a", iss: "i" });
    expect(actingParty("svc-a", "i", own)).toEqual({ sub: "svc-a", iss: "i" });
    // A token obtained by the client for a user still names the client in client_id.
    expect(actingParty("svc-a", "i", subject({ sub: "alice", client_id: "svc-a" }))).toEqual({ sub: "svc-a", iss: "i" });
  });

  it("refuses an actor token that is someone else's, which would forge the act chain", () => {
    expect(code(() => actingParty("svc-b", "i", own))).toBe("invalid_request");
    expect(code(() => actingParty("svc-b", "i", subject({ sub: "alice", client_id: "app" })))).toBe("invalid_request");
  });
});

describe("scope rule", () => {
  it("never grants more than the subject token had", () => {
    expect(code(() => scopesToAsk(["d"], ["a", "b", "c"]))).toBe("invalid_scope");
    expect(scopesToAsk(["b", "c", "d"], ["a", "b", "c"])).toEqual(["b", "c"]);
    expect(grantedScopes(["b", "c"], ["a", "b", "c"], { allowedScopes: ["b", "c"], defaultScopes: [] })).toEqual(["b", "c"]);
  });

  it("narrows to what the policy allows", () => {
    expect(grantedScopes(["b", "c"], ["a", "b", "c"], { allowedScopes: ["c"], defaultScopes: [] })).toEqual(["c"]);
    expect(code(() => grantedScopes(["a"], ["a", "b"], { allowedScopes: [], defaultScopes: [] }))).toBe("invalid_scope");
  });

  it("uses the policy default within the subject scope when nothing is requested", () => {
    expect(grantedScopes([], ["b", "c"], { allowedScopes: [], defaultScopes: ["c", "z"] })).toEqual(["c"]);
  });

  it("keeps structured down-scopes within the subject's path", () => {
    expect(scopesToAsk(["read:/data/cern/run7"], ["read:/data/cern"])).toEqual(["read:/data/cern/run7"]);
    expect(code(() => scopesToAsk(["read:/data/cernX"], ["read:/data/cern"]))).toBe("invalid_scope");
  });

  it("grants the meet of a broader structured request and a narrower allowance", () => {
    expect(grantedScopes(["read:/data"], ["read:/data"], { allowedScopes: ["read:/data/cern"], defaultScopes: [] })).toEqual(["read:/data/cern"]);
  });

  it("gives several audiences the meet of their allowances, not only the scopes they spell alike", () => {
    const forAll = allowanceForAll(
      { allowedScopes: ["b", "read:/data"], defaultScopes: ["read:/data", "c"] },
      { allowedScopes: ["read:/data/x", "b"], defaultScopes: ["read:/data/x/y"] },
    );
    expect(forAll).toEqual({ allowedScopes: ["b", "read:/data/x"], defaultScopes: ["read:/data/x/y"] });
    expect(allowanceForAll({ allowedScopes: ["a"], defaultScopes: [] }, { allowedScopes: ["b"], defaultScopes: [] }).allowedScopes).toEqual([]);
  });

  it("names token_type Bearer for both issued types, which are usable as access tokens (RFC 8693 §2.2.1)", () => {
    expect(tokenTypeFor(TOKEN_TYPE.ACCESS_TOKEN)).toBe("Bearer");
    expect(tokenTypeFor(TOKEN_TYPE.JWT)).toBe("Bearer");
    expect(tokenTypeFor("urn:ietf:params:oauth:token-type:id_token")).toBe("N_A");
  });
});

describe("checkNotExpired", () => {
  it("refuses a token at or past its exp, whatever the clock tolerance let through, as a bad token of its position", () => {
    expect(code(() => checkNotExpired(100, "actor_token", 100))).toBe("invalid_request");
    expect(() => checkNotExpired(100, "actor_token", 101)).toThrow(/actor_token rejected: token expired/);
    expect(code(() => checkNotExpired(101, "subject_token", 100))).toBe("ok");
  });
});

describe("subjectNamesProblem: a subject token's names must fit where they go (RFC 8693 §2.2.2)", () => {
  const names = { sub: "5b7f0c6e-alice", client_id: "web-app", aud: ["edge", "account"], jti: "1f0c" };

  it("takes the names a provider's access token ordinarily carries", () => {
    expect(subjectNamesProblem(names)).toBeUndefined();
    expect(subjectNamesProblem({ ...names, aud: "edge", client_id: "" })).toBeUndefined();
    expect(subjectNamesProblem({ ...names, aud: Array.from({ length: 256 }, (_, i) => `app-${i}`) })).toBeUndefined();
    expect(subjectNamesProblem({ ...names, client_id: "c".repeat(1024), jti: "j".repeat(1024) })).toBeUndefined();
  });

  // The policy service answers each of these as a malformed decision request: a deny, which read as invalid_target.
  it.each<[string, Record<string, unknown>, RegExp]>([
    ["an empty sub", { sub: "" }, /^sub is empty$/],
    ["a sub past RevokeSubject's 1,024 bytes", { sub: "é".repeat(513) }, /^sub is longer than 1024 bytes$/],
    ["an empty audience", { aud: ["edge", ""] }, /^aud holds an empty audience$/],
    ["more than 256 audiences", { aud: Array.from({ length: 257 }, (_, i) => `app-${i}`) }, /^aud names more than 256 audiences$/],
    ["an audience that is not a string", { aud: ["edge", 7] }, /^aud is not a string or a list of strings$/],
    ["an audience past 1,024 characters", { aud: ["edge", "a".repeat(1025)] }, /longer than 1024 characters/],
    ["a client_id past 1,024 characters", { client_id: "c".repeat(1025) }, /longer than 1024 characters/],
    ["an empty jti", { jti: "" }, /^jti is empty$/],
    ["a jti holding a line break", { jti: "1f0c\nforged" }, /control character/],
    ["a client_id holding a C1 control", { client_id: "web\u0085app" }, /control character/],
  ])("refuses %s", (_, over, reason) => {
    // Object.assign: a claim of the wrong type is what a provider may send, whatever the claims type says.
    expect(subjectNamesProblem(Object.assign({}, names, over))).toMatch(reason);
  });
});

describe("subjectNamesProblem: the subject's part of a policy decision fits its budget (MAX_DECISION_SUBJECT_CHARS)", () => {
  // 1,000-character audiences up to `chars` characters in all, the last one cut to land there.
  const audiences = (chars: number): string[] => [
    ...Array.from({ length: Math.floor(chars / 1000) }, (_, i) => `aud-${i}-`.padEnd(1000, "x")),
    ...(chars % 1000 > 0 ? ["z".repeat(chars % 1000)] : []),
  ];
  const base = {
    sub: "alice",
    client_id: "web-app",
    jti: "1f0c",
    iss: "https://idp.example",
    scope: "openid read:/data/",
    act: { sub: "svc-a", act: { sub: "svc-b" } },
  };
  // What the question carries of it beside the audiences: read:/data/ is carried as read:/data, jti not at all.
  const carried = "alice".length + "web-app".length + "https://idp.example".length + "openid".length + "read:/data".length + "svc-a".length + "svc-b".length;

  it("takes a token whose sub, client_id, iss, scopes, audiences and actors sum to the budget, and refuses one character more as the token's fault", () => {
    expect(subjectNamesProblem({ ...base, aud: audiences(MAX_DECISION_SUBJECT_CHARS - carried) })).toBeUndefined();
    const over = subjectNamesProblem({ ...base, aud: audiences(MAX_DECISION_SUBJECT_CHARS - carried + 1) });
    expect(over).toBe(
      `its sub, client_id, iss, scopes, audiences and actors sum to more than ${MAX_DECISION_SUBJECT_CHARS} characters, more than a policy decision takes`,
    );
    // verifySubject answers it so, before any policy is asked (RFC 8693 §2.2.2: the subject token is the bad one).
    expect(badToken("subject_token", over ?? "").code).toBe("invalid_request");
  });

  it("counts every part the question carries: the act chain's actors, the scopes, and the longer of iss and the sub_id issuer", () => {
    const at = { ...base, aud: audiences(MAX_DECISION_SUBJECT_CHARS - carried) };
    expect(subjectNamesProblem({ ...at, act: { sub: "svc-a", act: { sub: "svc-bb" } } })).toMatch(/sum to more than/);
    expect(subjectNamesProblem({ ...at, scope: "openid read:/datum" })).toMatch(/sum to more than/);
    expect(subjectNamesProblem({ ...at, sub_id: { format: "iss_sub", iss: "https://idp.example/x", sub: "alice" } })).toMatch(/sum to more than/);
    // A scope claim that does not parse is refused on its own (malformed scope claim), not counted here.
    expect(subjectNamesProblem({ ...at, scope: "a".repeat(300) })).toBeUndefined();
  });
});

describe("mintTimes: the int64 seconds Mint takes", () => {
  it("holds not_after to the subject's and the actor's exp", () => {
    expect(mintTimes({ exp: 2000.7, iat: 1000 })).toEqual({ not_after: "2000", origin_iat: "1000" });
    expect(mintTimes({ exp: 2000, iat: 1000, origin_iat: 900 }, 1500)).toEqual({ not_after: "1500", origin_iat: "900" });
  });

  it("writes an exp past every safe integer as the largest one, never as 1e+21 (read as 1) or a number the int64 wraps", () => {
    for (const exp of [2 ** 64 + 4096, 1e21, 1e300]) expect(mintTimes({ exp, iat: 1000 }).not_after).toBe(String(Number.MAX_SAFE_INTEGER));
  });

  it("refuses a chain said to begin at or before 1970 as a bad subject token", () => {
    for (const iat of [0, -5, -1e21]) {
      expect(code(() => mintTimes({ exp: 2000, iat }))).toBe("invalid_request");
      expect(() => mintTimes({ exp: 2000, iat })).toThrow(/subject_token rejected: iat is not after 1970-01-01/);
    }
  });
});
