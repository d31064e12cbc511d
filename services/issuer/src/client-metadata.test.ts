/**
 * The registration API's boundary for client metadata: what it takes, refuses
 * and ignores (RFC 7591 §2), and which server-set values an update may carry
 * back (RFC 7592 §2.2). The config file's strictness is load.test.ts's.
 */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashSecret } from "@sts/client-auth";
import { clientSchema } from "@sts/config";
import { PRIVILEGED, REGISTRABLE, SERVER_SET, registrableMetadata, registrationTokenHash } from "./client-metadata.js";
import type { ManagedRecord } from "./client-store.js";

const URI = "https://sts.test/oauth2/register/admin%3Aa%2Fjob";
const SECRET = "the-issued-secret-0123456789";
const TOKEN = "rat_the-issued-registration-token";

async function registered(): Promise<{ record: ManagedRecord; uri: string }> {
  const record: ManagedRecord = {
    client_id: "admin:a/job",
    secret_hash: await hashSecret(SECRET),
    registration_token_hash: registrationTokenHash(TOKEN),
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["client_credentials"],
    scope: ["read"],
    audience: ["storage"],
    access_token_format: {},
    refresh_token_ttl: 86400,
    internal: false,
    admin: false,
    admin_client_id: "admin:a",
    scope_templates: {},
    created_at: 1_800_000_000,
    updated_at: 1_800_000_100,
  };
  return { record, uri: URI };
}

const refusal = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => "accepted",
    (err: { code?: string; description?: string }) => [err.code, err.description],
  );

describe("registration metadata", () => {
  it("classifies every field of the config's client schema, so a field added there is ignored here until someone decides", () => {
    const classified = new Set<string>(["client_id", ...REGISTRABLE, ...PRIVILEGED, ...SERVER_SET]);
    expect(Object.keys(clientSchema.shape).filter((field) => !classified.has(field))).toEqual([]);
  });

  it("ignores metadata it does not understand, at registration and update alike (RFC 7591 §2)", async () => {
    const unknown = {
      contacts: ["ops@example.org"],
      software_id: "4NRB1-0XZABZI9E6-5SM3R",
      software_version: "2.1",
      logo_uri: "https://example.org/logo.png",
      client_uri: "https://example.org",
      redirect_uris: ["https://example.org/cb"],
      "x-evil-<script>": 1,
      token_endpoint_auth_signing_alg: "ES256",
    };
    const understood = { client_name: "batch job", scope: "read", audience: ["storage"], token_endpoint_auth_method: "client_secret_basic" };
    // JSON.parse makes "__proto__" an own member, ignored like any other.
    const body = JSON.parse(`{"__proto__":{"admin":true},${JSON.stringify({ ...unknown, ...understood }).slice(1)}`) as Record<string, unknown>;
    expect(await registrableMetadata(body)).toEqual(understood);
    expect(await registrableMetadata(body, await registered())).toEqual(understood);
  });

  it("refuses what registration never sets, and at registration an admin or a secret", async () => {
    for (const [field, value] of [
      ["internal", true],
      ["admin", false],
      ["manages", { audience: [], scope: [] }],
      ["client_secret_hash", "scrypt$1$1$1$a$b"],
      ["admin_client_id", "admin:a"],
      ["client_secret", SECRET],
    ] as const) {
      expect(await refusal(registrableMetadata({ scope: "read", [field]: value }))).toEqual([
        "invalid_client_metadata",
        `${field} cannot be set by registration`,
      ]);
    }
    for (const field of PRIVILEGED) {
      expect(await refusal(registrableMetadata({ [field]: null }, await registered()))).toEqual([
        "invalid_client_metadata",
        `${field} cannot be set by registration`,
      ]);
    }
    // What only this server sets, and a registration never names: there is nothing to set, and nothing is.
    expect(await registrableMetadata({ scope: "read", created_at: 1, registration_client_uri: "x", registration_access_token: "x" })).toEqual({
      scope: "read",
    });
  });

  it("lets an update carry back every value this server showed, and refuses any of them changed (RFC 7592 §2.2)", async () => {
    const client = await registered();
    const shown = {
      admin_client_id: "admin:a",
      created_at: 1_800_000_000,
      updated_at: 1_800_000_100,
      client_id_issued_at: 1_800_000_000,
      registration_client_uri: URI,
      registration_access_token: TOKEN,
      client_secret: SECRET,
      client_secret_expires_at: 0,
    };
    expect(await registrableMetadata({ ...shown, scope: "read write" }, client)).toEqual({ scope: "read write" });
    for (const [field, value] of [
      ["admin_client_id", "admin:b"],
      ["created_at", 1_800_000_001],
      ["updated_at", 1_800_000_000],
      ["client_id_issued_at", "1800000000"],
      ["registration_client_uri", `${URI}x`],
      ["registration_access_token", `${TOKEN}x`],
      // RFC 7592 §2.2: the client MUST NOT set its own secret.
      ["client_secret", "a-secret-of-its-own-choosing"],
      ["client_secret_expires_at", 1_900_000_000],
    ] as const) {
      expect(await refusal(registrableMetadata({ ...shown, [field]: value }, client))).toEqual([
        "invalid_client_metadata",
        `${field} cannot be set by registration`,
      ]);
    }
    const { secret_hash: _s, ...withoutSecret } = client.record;
    expect(await refusal(registrableMetadata({ client_secret: SECRET }, { ...client, record: withoutSecret }))).toEqual([
      "invalid_client_metadata",
      "client_secret cannot be set by registration",
    ]);
  });

  it("refuses a jwks holding private or symmetric key values, at registration and update alike (OIDC Dynamic Client Registration §2)", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ecPublic = { ...publicKey.export({ format: "jwk" }), kid: "pub" };
    const ecPrivate = { ...privateKey.export({ format: "jwk" }), kid: "priv" };
    const rsaPublic = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
    const refused = [
      ecPrivate,
      { kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0" },
      // A symmetric key is refused by its type alone, and a key value under any type by its member alone.
      { kty: "oct", kid: "no-value" },
      ...(["d", "p", "q", "dp", "dq", "qi", "k"] as const).map((member) => ({ ...rsaPublic, [member]: "AQAB" })),
      { ...rsaPublic, oth: [{ r: "AQAB", d: "AQAB", t: "AQAB" }] },
    ];
    for (const key of refused) {
      for (const client of [undefined, await registered()]) {
        expect(await refusal(registrableMetadata({ scope: "read", jwks: { keys: [ecPublic, key] } }, client))).toEqual([
          "invalid_client_metadata",
          "jwks: public keys only, without private or symmetric key values",
        ]);
      }
    }
    // Public keys pass, and so does what the config schema refuses in its own words.
    const publicOnly = { keys: [ecPublic, rsaPublic] };
    expect(await registrableMetadata({ jwks: publicOnly })).toEqual({ jwks: publicOnly });
    expect(await registrableMetadata({ jwks: { keys: "none" } })).toEqual({ jwks: { keys: "none" } });
  });

  it("refuses a jwks_uri whose host is an internal address, at registration and update alike (server-side request forgery)", async () => {
    for (const jwks_uri of [
      "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
      "https://127.0.0.1:4222/",
      "https://10.0.0.7/jwks",
      "https://[::1]/jwks",
      "https://[::ffff:a9fe:a9fe]/jwks",
      "https://[fd00:ec2::254]/jwks",
      "https://0x7f.1/jwks",
    ]) {
      for (const client of [undefined, await registered()]) {
        expect(await refusal(registrableMetadata({ token_endpoint_auth_method: "private_key_jwt", jwks_uri }, client))).toEqual([
          "invalid_client_metadata",
          "jwks_uri: its host is a private, loopback, link-local or other non-public address, which the issuer does not fetch from",
        ]);
      }
    }
    // A public address or a name passes (a name is checked where it resolves, as the issuer connects), and so does
    // what the config schema refuses in its own words.
    for (const jwks_uri of ["https://keys.example.com/jwks", "https://93.184.216.34/jwks", "not a URL", 42]) {
      expect(await registrableMetadata({ jwks_uri })).toEqual({ jwks_uri });
    }
  });

  it("refuses the private key the config schema refuses, with the one predicate both use", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwks = { keys: [privateKey.export({ format: "jwk" })] };
    expect(await refusal(registrableMetadata({ jwks }))).toEqual([
      "invalid_client_metadata",
      "jwks: public keys only, without private or symmetric key values",
    ]);
    expect(clientSchema.safeParse({ client_id: "c", token_endpoint_auth_method: "private_key_jwt", jwks }).error?.issues.map((i) => i.message)).toEqual([
      "holds private key values (d): public keys only",
    ]);
  });

  it("refuses a jwks key that could never verify an assertion here, at registration and update alike (RFC 7591 §3.2.2, RFC 7518 §3.3)", async () => {
    const ec = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve }).publicKey.export({ format: "jwk" });
    const p256 = { ...ec("P-256"), kid: "ok" };
    const rsa2048 = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
    const ed25519 = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
    const x25519 = generateKeyPairSync("x25519").publicKey.export({ format: "jwk" });
    const refused: Array<[Record<string, unknown>, string]> = [
      [{ kty: "EC" }, "jwks: a key is not a well-formed EC, RSA or OKP public key"],
      [{ kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" }, "jwks: a key is not a well-formed EC, RSA or OKP public key"],
      [{ kty: "nonsense" }, "jwks: a key is not a well-formed EC, RSA or OKP public key"],
      [rsa1024, "jwks: an RSA key must have at least 2048 bits (RFC 7518 section 3.3)"],
      [x25519, "jwks: keys must be EC P-256 or P-384, RSA, or Ed25519"],
      [ec("secp256k1"), "jwks: keys must be EC P-256 or P-384, RSA, or Ed25519"],
      [{ ...p256, use: "enc" }, "jwks: a key's use must be sig (RFC 7517 section 4.2)"],
      [{ ...p256, key_ops: ["encrypt"] }, "jwks: a key's key_ops must include verify (RFC 7517 section 4.3)"],
      [{ ...p256, alg: "HS256" }, "jwks: a key's alg must be one of ES256, ES384, EdDSA, RS256, PS256"],
      [{ ...p256, alg: "ES384" }, "jwks: a key's alg does not match its type or curve"],
    ];
    for (const [key, description] of refused) {
      for (const client of [undefined, await registered()]) {
        expect(await refusal(registrableMetadata({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [p256, key] } }, client))).toEqual([
          "invalid_client_metadata",
          description,
        ]);
      }
    }
    // Keys an assertion here can be verified with pass, with or without alg, use and key_ops saying so.
    const usable = {
      keys: [
        { ...p256, alg: "ES256", use: "sig", key_ops: ["verify"] },
        { ...ec("P-384"), alg: "ES384" },
        { ...rsa2048, alg: "PS256" },
        { ...ed25519, alg: "EdDSA" },
      ],
    };
    expect(await registrableMetadata({ jwks: usable })).toEqual({ jwks: usable });
  });
});
