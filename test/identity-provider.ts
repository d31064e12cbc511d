/**
 * A fake identity provider for the federation tests, real where it counts:
 * an ES256 key, and an HTTPS server on loopback (certificate from a
 * throwaway CA the services trust through NODE_EXTRA_CA_CERTS) serving its
 * JWK Set at /jwks and an RFC 7662 introspection endpoint at /introspect that
 * authenticates its caller with client_secret_basic and records each call.
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair, jwtVerify } from "jose";
import type { CryptoKey, JWK } from "jose";
import type { TestCa } from "@sts/testkit";
import { basicAuth } from "./harness.js";

/** One call the introspection endpoint received, as it arrived. */
export interface IntrospectionCall {
  method: string | undefined;
  contentType: string | undefined;
  authorization: string | undefined;
  form: Record<string, string>;
}

/** An answer of the introspection endpoint in place of its RFC 7662 one: status, raw body, and a delay before it. */
export interface IntrospectionReply {
  status?: number;
  body: string;
  delayMs?: number;
}

/** The member of `events` that makes a JWT a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";

/** How a test token is signed, when not as the provider does (another key or algorithm, extra header members). */
export interface TokenSigning {
  header?: Record<string, unknown>;
  key?: CryptoKey | Uint8Array;
  alg?: string;
}

/** A running fake provider. */
export interface IdentityProvider {
  issuer: string;
  jwksUri: string;
  introspectionEndpoint: string;
  /** The key its tokens are signed with (kid `kid`). */
  privateKey: CryptoKey;
  kid: string;
  /** Every call its introspection endpoint received, oldest first. */
  calls: IntrospectionCall[];
  /** Makes introspection answer `{"active": false}` for this jti from now on (a logout, a session ended). */
  revoke(jti: string): void;
  /** When set and returning a reply, the endpoint answers that instead (faults, lies, delays). */
  reply: ((token: string) => IntrospectionReply | undefined) | undefined;
  /** A user's access token as Keycloak issues it (typ JWT, payload typ Bearer, azp), with these claims over the defaults. */
  token(claims?: Record<string, unknown>, signing?: TokenSigning): Promise<string>;
  /**
   * An OpenID Connect Back-Channel Logout token for `sub` (typ logout+jwt, the logout event, a sid, for audience
   * `mesh-sts`), with these claims over the defaults.
   */
  logoutToken(claims?: Record<string, unknown>, signing?: TokenSigning): Promise<string>;
  /** The introspection calls that carried this token. */
  callsFor(token: string): IntrospectionCall[];
  /** Stops answering, cutting kept-alive connections too, so the next call finds nothing listening. */
  close(): Promise<void>;
}

/** Options of {@link startIdentityProvider}. */
export interface IdentityProviderOptions {
  issuer: string;
  /** The CA that signs its TLS certificate; `name` names the certificate's files. */
  ca: TestCa;
  name: string;
  /** The client allowed to introspect, with its secret. */
  client?: { id: string; secret: string };
}

/** Starts a fake provider on a free loopback port. */
export async function startIdentityProvider(options: IdentityProviderOptions): Promise<IdentityProvider> {
  const { issuer } = options;
  const kid = `${options.name}-1`;
  const pair = await generateKeyPair("ES256");
  const jwks: { keys: JWK[] } = { keys: [{ ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" }] };
  const revoked = new Set<string>();
  const calls: IntrospectionCall[] = [];
  const expected = options.client && basicAuth(options.client.id, options.client.secret);

  /** RFC 7662 §2.2: active with the token's claims while it verifies, is unexpired and not revoked; else only active false. */
  async function answer(token: string): Promise<IntrospectionReply> {
    try {
      const { payload } = await jwtVerify(token, pair.publicKey, { issuer, algorithms: ["ES256"] });
      if (typeof payload.jti !== "string" || revoked.has(payload.jti)) return { body: JSON.stringify({ active: false }) };
      const { iss, sub, azp, exp, iat, jti, scope } = payload as Record<string, unknown>;
      return { body: JSON.stringify({ active: true, iss, sub, client_id: azp, exp, iat, jti, scope, token_type: "Bearer" }) };
    } catch {
      return { body: JSON.stringify({ active: false }) };
    }
  }

  const tls = options.ca.issue(options.name);
  const server: Server = createServer({ cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file) }, (req, res) => {
    if (req.url === "/jwks") return void res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify(jwks));
    if (req.url !== "/introspect") return void res.writeHead(404).end();
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      calls.push({ method: req.method, contentType: req.headers["content-type"], authorization: req.headers.authorization, form });
      const reply = async (): Promise<IntrospectionReply> => {
        if (req.method !== "POST") return { status: 405, body: "" };
        if (expected && req.headers.authorization !== expected) return { status: 401, body: JSON.stringify({ error: "invalid_client" }) };
        return provider.reply?.(form.token ?? "") ?? answer(form.token ?? "");
      };
      reply()
        .catch((): IntrospectionReply => ({ status: 500, body: "" }))
        .then((r) => {
          setTimeout(() => {
            if (!res.destroyed) res.writeHead(r.status ?? 200, { "content-type": "application/json" }).end(r.body);
          }, r.delayMs ?? 0);
        })
        .catch(() => res.destroy());
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  const base = `https://127.0.0.1:${port}`;

  /** Signs the provider's claims over the ones every token of it has; a claim given as undefined is left out (a token without jti, say). */
  function sign(claims: Record<string, unknown>, signing: TokenSigning): Promise<string> {
    const all = { iss: issuer, sub: "5b7f0c6e-alice", jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims };
    const body = Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
    return new SignJWT(body).setProtectedHeader({ alg: signing.alg ?? "ES256", kid, ...signing.header }).sign(signing.key ?? pair.privateKey);
  }

  const provider: IdentityProvider = {
    issuer,
    jwksUri: `${base}/jwks`,
    introspectionEndpoint: `${base}/introspect`,
    privateKey: pair.privateKey,
    kid,
    calls,
    reply: undefined,
    revoke: (jti) => void revoked.add(jti),
    token(claims = {}, signing = {}) {
      const now = Math.floor(Date.now() / 1000);
      const defaults = { typ: "Bearer", aud: "edge", azp: "web-app", scope: "openid a b", exp: now + 300 };
      return sign({ ...defaults, ...claims }, { ...signing, header: { typ: "JWT", ...signing.header } });
    },
    logoutToken(claims = {}, signing = {}) {
      const now = Math.floor(Date.now() / 1000);
      const defaults = { aud: "mesh-sts", sid: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, exp: now + 120 };
      return sign({ ...defaults, ...claims }, { ...signing, header: { typ: "logout+jwt", ...signing.header } });
    },
    callsFor: (token) => calls.filter((c) => c.form.token === token),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return provider;
}
