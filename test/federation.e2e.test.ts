/**
 * Federation: an edge client exchanges an access token from another
 * identity provider (listed in exchange.trusted_issuers) for one of this
 * stack's. The provider is real: its JWK Set is served over HTTPS on
 * loopback with a certificate from a throwaway CA the services trust.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, credentials } from "@grpc/grpc-js";
import { loadPolicyProto } from "@sts/proto";
import { EVENTS_STREAM, EVENT_TYPES, connectNats, eventSubject } from "@sts/nats";
import type { EventType } from "@sts/nats";
import { freePort, makeTestCa } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, call, mintAsExchanger, tokenClient } from "./chain.js";
import { startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider, TokenSigning } from "./identity-provider.js";

const IDP = "https://idp.test.example/realms/main";
const UNREACHABLE = "https://down.test.example/realms/main";
let dir: string;
let stack: Stack;
let idp: IdentityProvider;
let strangerKey: CryptoKey;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-federation-"));
  const ca = makeTestCa(dir, "idp-ca");
  idp = await startIdentityProvider({ issuer: IDP, ca, name: "idp" });
  strangerKey = (await generateKeyPair("ES256")).privateKey;
  stack = await startStack(
    {
      exchange: {
        trusted_issuers: [
          // Keycloak's way: access and ID tokens are both typ JWT; the payload's typ tells them apart.
          { issuer: IDP, jwks_uri: idp.jwksUri, typ: ["JWT"], claims: { typ: "Bearer" } },
          // A provider whose key set cannot be fetched: nothing listens there.
          { issuer: UNREACHABLE, jwks_uri: `https://127.0.0.1:${await freePort()}/jwks` },
        ],
      },
      policy: {
        hops: [
          { from: "edge", to: "svc-a", scopes: ["a", "b", "openid", "profile"] },
          { from: "edge", to: "svc-d", scopes: ["a"] },
          { from: "svc-a", to: "svc-b", scopes: ["b"] },
          { from: "svc-a", to: "svc-c", scopes: ["b"] },
        ],
      },
      clients: [
        // svc-d resolves its tokens by introspection: what edge gets for it is opaque.
        { client_id: "edge", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [], access_token_format: { "svc-d": "opaque" } },
        { client_id: "svc-a", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] },
        { client_id: "svc-d", client_secret: SECRET, grant_types: ["client_credentials"], audience: [] },
        { client_id: "local-app", client_secret: SECRET, scope: ["b"], audience: ["svc-a"] },
      ],
      // A local user who happens to share the provider's subject identifier.
      users: { "5b7f0c6e-alice": { name: "Local Alice" } },
    },
    // The services trust the provider's TLS certificate the way a deployment would add a private CA.
    { services: ["issuer", "policy", "exchanger", "gateway"], env: { NODE_EXTRA_CA_CERTS: ca.ca_file } },
  );
  // svc-c serves only this stack's own subjects: a policy on who vouches for the subject, at any hop.
  const policy = new (loadPolicyProto().sts.policy.v1.PolicyService)(stack.address.policy, credentials.createInsecure());
  const operator = new Metadata();
  operator.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
  const text = `forbid (principal, action, resource == Audience::"svc-c") when { context.subject.iss == "${IDP}" };`;
  const put = await call(policy, "Put", { policy: { id: "svc-c-local-subjects-only", text, description: "no federated subjects at svc-c" } }, operator);
  policy.close();
  if (!put.ok) throw new Error(`policy not written: ${put.failure.description ?? ""}`);
}, 90_000);

afterAll(async () => {
  await idp?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Minted extends TokenSigning {
  claims?: Record<string, unknown>;
}

/** A user's access token as the provider would issue it (Keycloak style: typ JWT, azp, scope). */
function idpToken(m: Minted = {}): Promise<string> {
  return idp.token(m.claims, m);
}

const exchange = (subject: string, as = "edge", audience = "svc-a", scope = "a b") =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience, scope },
    { authorization: basicAuth(as, SECRET) },
  );

/** The data of the newest event of a type (token.exchanged unless said). */
async function lastEvent(type: EventType = EVENT_TYPES.TOKEN_EXCHANGED): Promise<Record<string, unknown> | undefined> {
  const nats = await connectNats({ servers: stack.nats.url, name: "federation-check" });
  try {
    const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { last_by_subj: eventSubject(type) });
    return m?.json<{ data: Record<string, unknown> }>().data;
  } finally {
    await nats.close();
  }
}

describe("a trusted issuer's access token as the subject", () => {
  it("is exchanged for this stack's token: same subject, scopes and audience cut down, the edge client as actor", async () => {
    const subject = await idpToken();
    const r = await exchange(subject);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const claims = claimsOf(r.body.access_token as string);
    expect(claims).toMatchObject({ iss: stack.gatewayUrl, sub: "5b7f0c6e-alice", aud: "svc-a", scope: "a b", act: { sub: "edge" } });
    expect(claims.exp as number).toBeLessThanOrEqual(claimsOf(subject).exp as number);
    // The token says who vouches for its subject (RFC 9493 iss_sub), so no service takes the provider's alice for ours.
    expect(claims.sub_id).toEqual({ format: "iss_sub", iss: IDP, sub: "5b7f0c6e-alice" });
    // Auditors follow it back to the provider's token, named with its issuer so no jti of theirs can pass for one of ours.
    expect(await lastEvent()).toMatchObject({ jti: claims.jti, parent_jti: `${IDP}#${claimsOf(subject).jti as string}`, subject_issuer: IDP });
  });

  it("keeps naming the provider at the next hop, and to policies there", async () => {
    const at2 = (await exchange(await idpToken())).body.access_token as string;
    const r = await exchange(at2, "svc-a", "svc-b", "b");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const at3 = claimsOf(r.body.access_token as string);
    expect(at3).toMatchObject({
      iss: stack.gatewayUrl,
      sub: "5b7f0c6e-alice",
      sub_id: { format: "iss_sub", iss: IDP },
      act: { sub: "svc-a", act: { sub: "edge" } },
    });
    expect(await lastEvent()).toMatchObject({ jti: at3.jti, parent_jti: claimsOf(at2).jti, subject_issuer: IDP });
  });

  it("lets policies at a later hop see the provider as context.subject.iss", async () => {
    const federated = (await exchange(await idpToken())).body.access_token as string;
    const refused = await exchange(federated, "svc-a", "svc-c", "b");
    expect([refused.status, refused.body.error]).toEqual([400, "invalid_target"]);
    expect(await lastEvent(EVENT_TYPES.EXCHANGE_DENIED)).toMatchObject({ error: "invalid_target", subject_issuer: IDP });
    // The same hop for one of this stack's own subjects is allowed: the forbid is about the origin, not the hop.
    const local = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "b" },
      { authorization: basicAuth("local-app", SECRET) },
    );
    const allowed = await exchange(local.body.access_token as string, "svc-a", "svc-c", "b");
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
  });

  it("tells a resource server that introspects an opaque token whose subject it is (RFC 9493 sub_id)", async () => {
    const r = await exchange(await idpToken(), "edge", "svc-d", "a");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const opaque = r.body.access_token as string;
    expect(opaque.split(".")).toHaveLength(1);
    const introspected = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token: opaque }, { authorization: basicAuth("svc-d", SECRET) });
    expect(introspected.body).toMatchObject({ active: true, sub: "5b7f0c6e-alice", sub_id: { format: "iss_sub", iss: IDP, sub: "5b7f0c6e-alice" } });
  });

  it("lets Mint name only a trusted issuer as the subject's", async () => {
    const tokens = tokenClient(stack.address.issuer);
    const mint = (subject_issuer: string) => mintAsExchanger(tokens, stack.secrets.exchanger, { sub: "x", client_id: "edge", subject_issuer });
    try {
      const untrusted = await mint("https://evil.example");
      expect(untrusted.ok ? "minted" : untrusted.failure.error).toBe("invalid_request");
      const trusted = await mint(IDP);
      expect(trusted.ok && claimsOf(trusted.value.access_token).sub_id).toEqual({ format: "iss_sub", iss: IDP, sub: "x" });
    } finally {
      tokens.close();
    }
  });

  it("does not let the provider's token launder its subject as one of ours, nor bring its own act chain", async () => {
    const laundered = await exchange(await idpToken({ claims: { sub_id: { format: "iss_sub", iss: stack.gatewayUrl, sub: "5b7f0c6e-alice" } } }));
    expect(laundered.status).toBe(200);
    expect(claimsOf(laundered.body.access_token as string).sub_id).toMatchObject({ iss: IDP });
    const withAct = await exchange(await idpToken({ claims: { act: { sub: "svc-a" } } }));
    expect([withAct.status, withAct.body.error]).toEqual([400, "invalid_request"]);
    expect(withAct.body.error_description).toMatch(/may not carry act/);
  });

  it("refuses a provider's token whose sub or aud holds a control character or broken UTF-16 as a bad subject token (invalid_request), issuing nothing", async () => {
    for (const claims of [{ sub: "alice\u001b[2J" }, { sub: "alice\u0085" }, { sub: "alice\ud800" }, { aud: ["edge", "x\ny"] }]) {
      const refused = await exchange(await idpToken({ claims }));
      expect([refused.status, refused.body.error, refused.body.access_token]).toEqual([400, "invalid_request", undefined]);
    }
  });

  it("gets no claims from this stack's user directory at UserInfo, though a local user has the same sub", async () => {
    const at = (await exchange(await idpToken({ claims: { scope: "openid profile a" } }), "edge", "svc-a", "openid profile a")).body.access_token as string;
    const r = await fetch(`${stack.gatewayUrl}/oauth2/userinfo`, { headers: { authorization: `Bearer ${at}` } });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ sub: "5b7f0c6e-alice" });
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    ["an issuer not in the list, with the provider's own key", () => idpToken({ claims: { iss: "https://evil.example/realms/main" } }), /no matching key/],
    ["the trusted issuer's name, signed by another key", () => idpToken({ key: strangerKey }), /bad signature/],
    ["a kid the provider does not publish", () => idpToken({ header: { kid: "idp-9" } }), /no matching key/],
    ["HS256 keyed with anything", () => idpToken({ alg: "HS256", key: new TextEncoder().encode("x".repeat(32)) }), /algorithm not allowed/],
    ["no jti", () => idpToken({ claims: { jti: undefined } }), /missing jti/],
    ["a typ the provider's profile does not list", () => idpToken({ header: { typ: "logout+jwt" } }), /unexpected token type/],
    ["an audience that is not the caller", () => idpToken({ claims: { aud: "someone-else" } }), /not issued to the caller/],
    ["expired", () => idpToken({ claims: { iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 600 } }), /expired/],
    ["the shape of the provider's ID token (same key, typ JWT, payload typ ID)", () => idpToken({ claims: { typ: "ID" } }), /required claim differs/],
    ["a sub longer than RevokeSubject takes (1,024 bytes; é is two)", () => idpToken({ claims: { sub: "é".repeat(513) } }), /sub is longer than 1024 bytes/],
  ])("is refused with invalid_request when it has %s, and nothing is issued", async (_, make, reason) => {
    const r = await exchange(await make());
    expect([r.status, r.body.error, r.body.access_token]).toEqual([400, "invalid_request", undefined]);
    expect(r.body.error_description).toMatch(reason);
  });

  it("can be told apart by policy: a forbid on context.subject.iss stops the provider's subjects only (what-if)", async () => {
    const policy = new (loadPolicyProto().sts.policy.v1.PolicyService)(stack.address.policy, credentials.createInsecure());
    const operator = new Metadata();
    operator.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    const candidate = { id: "no-idp-subjects", text: `forbid (principal, action, resource) when { context.subject.iss == "${IDP}" };` };
    const ask = (iss: string) => {
      const subject = { sub: "5b7f0c6e-alice", client_id: "web-app", iss, scopes: ["a", "b"], audience: ["edge"] };
      const request = { client_id: "edge", audience: "svc-a", requested_scopes: ["a"], subject, depth: 1, actors: [], caller_in_audience: true };
      return call<{ allow: boolean }>(policy, "Validate", { request, candidate }, operator);
    };
    try {
      expect(await ask(IDP)).toMatchObject({ ok: true, value: { allow: false } });
      expect(await ask(stack.gatewayUrl)).toMatchObject({ ok: true, value: { allow: true } });
    } finally {
      policy.close();
    }
  });

  it("fails closed with temporarily_unavailable when the issuer's key set cannot be fetched", async () => {
    const r = await exchange(await idpToken({ claims: { iss: UNREACHABLE } }));
    expect([r.status, r.body.error, r.body.access_token]).toEqual([503, "temporarily_unavailable", undefined]);
  });
});
