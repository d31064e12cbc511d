import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "./index.js";
import { problemsOf } from "./problems.fixture.js";

const secretClient = { client_id: "A", client_secret: "0123456789abcdef0123" };

describe("config", () => {
  it("fills defaults for an empty file", () => {
    const c = parseConfig({});
    expect(c.keys.algorithm).toBe("ES256");
    expect(c.tokens.access_token_ttl).toBe(300);
    expect(c.services.issuer.port).toBe(50051);
  });

  it("gives the audit API an audience and a scope for auditors' tokens, and refuses a scope that is not one token", () => {
    expect([parseConfig({}).audit.api_audience, parseConfig({}).audit.api_scope]).toEqual(["sts-audit", "audit:read"]);
    const c = parseConfig({ audit: { api_audience: "https://audit.example", api_scope: "audit" } });
    expect([c.audit.api_audience, c.audit.api_scope]).toEqual(["https://audit.example", "audit"]);
    expect(problemsOf(() => parseConfig({ audit: { api_scope: "audit read" } }))).toEqual(["audit.api_scope: one scope token (RFC 6749 §3.3)"]);
    expect(problemsOf(() => parseConfig({ audit: { api_audience: "" } }))[0]).toMatch(/^audit\.api_audience: /);
  });

  it("gives the issuer's operator APIs an audience and a scope per call group, and names the section's old name", () => {
    expect(parseConfig({}).issuer_admin).toEqual({
      api_audience: "sts-issuer-admin",
      revoke_subjects_scope: "subjects:revoke",
      read_keys_scope: "keys:read",
      manage_keys_scope: "keys:manage",
    });
    const c = parseConfig({ issuer_admin: { manage_keys_scope: "sts:keys" } });
    expect([c.issuer_admin.manage_keys_scope, c.issuer_admin.read_keys_scope]).toEqual(["sts:keys", "keys:read"]);
    expect(problemsOf(() => parseConfig({ issuer_admin: { read_keys_scope: "keys read" } }))).toEqual([
      "issuer_admin.read_keys_scope: one scope token (RFC 6749 §3.3)",
    ]);
    expect(problemsOf(() => parseConfig({ subject_revocation: { scope: "subjects:revoke" } }))).toEqual([
      "subject_revocation: renamed issuer_admin (api_audience stays; scope is now revoke_subjects_scope)",
    ]);
  });

  it("names an unknown field with its path", () => {
    expect(problemsOf(() => parseConfig({ clients: [{ ...secretClient, colour: "red" }] }))).toEqual(["clients[0].colour: unknown field"]);
  });

  it("names a field of the wrong type", () => {
    const problems = problemsOf(() => parseConfig({ tokens: { max_token_bytes: "big" } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^tokens\.max_token_bytes: .*expected number/);
  });

  it("refuses a client with both jwks and jwks_uri (RFC 7591 §2)", () => {
    const client = {
      client_id: "admin:test/vo_1",
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" })] },
      jwks_uri: "https://example.org/jwks",
    };
    expect(problemsOf(() => parseConfig({ clients: [client] }))).toEqual(["clients[0].jwks_uri: jwks and jwks_uri are mutually exclusive (RFC 7591 §2)"]);
  });

  it("refuses a client key that could never verify an assertion here, naming the key's path, as registration does", () => {
    const weakRsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
    const x25519 = generateKeyPairSync("x25519").publicKey.export({ format: "jwk" });
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" });
    const problems = (key: object): readonly string[] =>
      problemsOf(() => parseConfig({ clients: [{ client_id: "signer", token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [key] } }] }));
    expect(problems(weakRsa)).toEqual(["clients[0].jwks.keys[0]: an RSA key must have at least 2048 bits (RFC 7518 section 3.3)"]);
    expect(problems(x25519)).toEqual(["clients[0].jwks.keys[0]: keys must be EC P-256 or P-384, RSA, or Ed25519"]);
    expect(problems({ kty: "EC" })).toEqual(["clients[0].jwks.keys[0]: a key is not a well-formed EC, RSA or OKP public key"]);
    expect(problems({ ...ec, use: "enc" })).toEqual(["clients[0].jwks.keys[0]: a key's use must be sig (RFC 7517 section 4.2)"]);
    expect(problems({ ...ec, alg: "RS256" })).toEqual(["clients[0].jwks.keys[0]: a key's alg does not match its type or curve"]);
  });

  it("refuses a public client (token_endpoint_auth_method none): no grant here takes one, so it could never get a token", () => {
    expect(problemsOf(() => parseConfig({ clients: [{ client_id: "public-app", token_endpoint_auth_method: "none" }] }))).toEqual([
      "clients[0].token_endpoint_auth_method: none is not supported: every grant here needs an authenticated client",
    ]);
  });

  it("refuses a client's private or symmetric key in jwks, naming the key's path and members, never their values", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pub = { ...publicKey.export({ format: "jwk" }), kid: "pub" };
    const priv = { ...privateKey.export({ format: "jwk" }), kid: "priv" };
    const client = (keys: object[]) => ({ client_id: "c", token_endpoint_auth_method: "private_key_jwt", jwks: { keys } });
    const problems = problemsOf(() => parseConfig({ clients: [secretClient, client([pub, priv])] }));
    expect(problems).toEqual(["clients[1].jwks.keys[1]: holds private key values (d): public keys only"]);
    expect(problems.join()).not.toContain(String(priv.d));
    expect(problemsOf(() => parseConfig({ clients: [client([{ kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQ" }])] }))).toEqual([
      "clients[0].jwks.keys[0]: a symmetric key (kty oct): public keys only",
    ]);
    expect(parseConfig({ clients: [client([pub])] }).clients[0]?.jwks).toEqual({ keys: [pub] });
  });

  it("fetches clients' jwks_uri from public addresses only unless the operator lists networks in CIDR notation", () => {
    expect(parseConfig({}).client_jwks_uri).toEqual({ allow_private_networks: [] });
    const networks = ["10.20.0.0/16", "127.0.0.1/32", "fd12:3456::/48", "::1/128"];
    expect(parseConfig({ client_jwks_uri: { allow_private_networks: networks } }).client_jwks_uri.allow_private_networks).toEqual(networks);
    for (const bad of ["10.20.0.0", "10.20.0.0/33", "::1/129", "intranet/8", "10.20.0.0/16/1", "10.20.0.0/x"]) {
      expect(problemsOf(() => parseConfig({ client_jwks_uri: { allow_private_networks: [bad] } }))).toEqual([
        "client_jwks_uri.allow_private_networks[0]: expected a network in CIDR notation, such as 10.20.0.0/16 or fd12:3456::/48",
      ]);
    }
  });

  it("takes only an https jwks_uri (the issuer fetches it)", () => {
    const client = { client_id: "c", token_endpoint_auth_method: "private_key_jwt", jwks_uri: "http://169.254.169.254/latest" };
    expect(problemsOf(() => parseConfig({ clients: [client] }))).toEqual(["clients[0].jwks_uri: must be an https URL"]);
    expect(parseConfig({ clients: [{ ...client, jwks_uri: "https://example.org/jwks" }] }).clients[0]?.jwks_uri).toBe("https://example.org/jwks");
  });

  it("parses durations and scope strings", () => {
    const c = parseConfig({ tokens: { access_token_ttl: "5m" }, clients: [{ ...secretClient, scope: "a b  c" }] });
    expect(c.tokens.access_token_ttl).toBe(300);
    expect(c.clients[0]?.scope).toEqual(["a", "b", "c"]);
    expect(problemsOf(() => parseConfig({ tokens: { access_token_ttl: "soon" } }))[0]).toMatch(/^tokens\.access_token_ttl: expected a duration/);
  });

  it("bounds a refresh token family to 30 days unless told otherwise, never to less than a minute", () => {
    expect(parseConfig({}).tokens.refresh_family_lifetime).toBe(30 * 86_400);
    expect(parseConfig({ tokens: { refresh_family_lifetime: "90d" } }).tokens.refresh_family_lifetime).toBe(90 * 86_400);
    expect(problemsOf(() => parseConfig({ tokens: { refresh_family_lifetime: "10s" } }))).toEqual(["tokens.refresh_family_lifetime: at least 60s"]);
  });

  it("refuses duplicated client ids", () => {
    expect(problemsOf(() => parseConfig({ clients: [secretClient, secretClient] }))).toEqual(["clients[1].client_id: duplicates clients[0]"]);
  });

  it("refuses a client named like a user: clients and users share the sub namespace", () => {
    const users = { [secretClient.client_id]: { name: "A user" } };
    expect(problemsOf(() => parseConfig({ clients: [secretClient], users }))).toEqual(["clients[0].client_id: is also a user in users"]);
    expect(parseConfig({ clients: [secretClient], users: { alice: {} } }).clients).toHaveLength(1);
  });

  it("applies environment overrides after the file", () => {
    const c = parseConfig({ services: { issuer: { port: 1 } } }, { STS_ISSUER_PORT: "7000", NATS_URL: "nats://10.0.0.1:4222" });
    expect(c.services.issuer.port).toBe(7000);
    expect(c.nats.url).toBe("nats://10.0.0.1:4222");
  });

  it("listens on host unless bind is given, so one file can name the address to dial and the interface to listen on", () => {
    const c = parseConfig({ services: { issuer: { host: "issuer.mesh-sts.svc", bind: "0.0.0.0" }, policy: { host: "10.0.0.7" } } });
    expect([c.services.issuer.host, c.services.issuer.bind]).toEqual(["issuer.mesh-sts.svc", "0.0.0.0"]);
    expect([c.services.policy.host, c.services.policy.bind]).toEqual(["10.0.0.7", "10.0.0.7"]);
    expect(parseConfig({}, { STS_EXCHANGER_BIND: "::" }).services.exchanger.bind).toBe("::");
    expect(problemsOf(() => parseConfig({ services: { audit: { bind: "" } } }))[0]).toMatch(/^services\.audit\.bind: /);
  });

  it("takes grpc_tls whole or not at all, mutual by default, from the file or the environment", () => {
    expect(parseConfig({}).grpc_tls).toBeUndefined();
    const files = { STS_GRPC_TLS_CERT_FILE: "/tls/tls.crt", STS_GRPC_TLS_KEY_FILE: "/tls/tls.key", STS_GRPC_TLS_CA_FILE: "/tls/ca.crt" };
    expect(parseConfig({}, files).grpc_tls).toEqual({
      cert_file: "/tls/tls.crt",
      key_file: "/tls/tls.key",
      ca_file: "/tls/ca.crt",
      require_client_cert: true,
      reload_interval: 60,
    });
    const problems = problemsOf(() => parseConfig({ grpc_tls: { cert_file: "/tls/tls.crt" } }));
    expect(problems.map((p) => p.split(":")[0])).toEqual(["grpc_tls.key_file", "grpc_tls.ca_file"]);
  });

  it("refuses to pin Mint and Decide to a certificate servers would not ask for", () => {
    const grpc_tls = { cert_file: "c", key_file: "k", ca_file: "a", require_client_cert: false, spiffe_ids: { exchanger: "spiffe://example.org/exchanger" } };
    expect(problemsOf(() => parseConfig({ grpc_tls }))[0]).toMatch(/^grpc_tls\.require_client_cert: must stay true/);
    expect(parseConfig({ grpc_tls: { ...grpc_tls, require_client_cert: true } }).grpc_tls?.spiffe_ids?.exchanger).toBe("spiffe://example.org/exchanger");
  });

  it("accepts only well-formed SPIFFE IDs for the services' certificates", () => {
    const tlsWith = (issuer: string) => ({ grpc_tls: { cert_file: "c", key_file: "k", ca_file: "a", spiffe_ids: { issuer } } });
    expect(parseConfig(tlsWith("spiffe://example.org/ns/mesh-sts/sa/issuer")).grpc_tls?.spiffe_ids?.issuer).toBe("spiffe://example.org/ns/mesh-sts/sa/issuer");
    for (const bad of [
      "https://example.org/issuer",
      "spiffe://Example.org/issuer",
      "spiffe://example.org",
      "spiffe://example.org/a/../b",
      "spiffe://example.org/a//b",
    ]) {
      expect(problemsOf(() => parseConfig(tlsWith(bad)))[0], bad).toMatch(/^grpc_tls\.spiffe_ids\.issuer: /);
    }
  });

  it("takes trusted issuers with an https key set, once each, and never this stack's own issuer", () => {
    const idp = { issuer: "https://idp.example/realms/main", jwks_uri: "https://idp.example/realms/main/certs" };
    expect(parseConfig({ exchange: { trusted_issuers: [idp] } }).exchange.trusted_issuers).toEqual([
      { ...idp, algorithms: ["ES256", "ES384", "EdDSA", "RS256", "PS256"], typ: ["at+jwt"], claims: {} },
    ]);
    expect(problemsOf(() => parseConfig({ exchange: { trusted_issuers: [{ ...idp, jwks_uri: "http://idp.example/certs" }] } }))).toEqual([
      "exchange.trusted_issuers[0].jwks_uri: must be an https URL",
    ]);
    expect(problemsOf(() => parseConfig({ exchange: { trusted_issuers: [{ ...idp, algorithms: ["HS256"] }] } }))[0]).toMatch(
      /^exchange\.trusted_issuers\[0\]\.algorithms\[0\]: /,
    );
    // Keycloak types access and ID tokens alike as JWT: listing it needs a claim only access tokens carry.
    expect(problemsOf(() => parseConfig({ exchange: { trusted_issuers: [{ ...idp, typ: ["JWT"] }] } }))).toEqual([
      "exchange.trusted_issuers[0].claims: needed when typ lists more than at+jwt, so that ID tokens cannot pass as access tokens",
    ]);
    expect(parseConfig({ exchange: { trusted_issuers: [{ ...idp, typ: ["JWT"], claims: { typ: "Bearer" } }] } }).exchange.trusted_issuers[0]?.claims).toEqual({
      typ: "Bearer",
    });
    expect(problemsOf(() => parseConfig({ exchange: { trusted_issuers: [idp, idp] } }))).toEqual([
      "exchange.trusted_issuers[1].issuer: duplicates exchange.trusted_issuers[0]",
    ]);
    expect(problemsOf(() => parseConfig({ issuer: idp.issuer, exchange: { trusted_issuers: [idp] } }))).toEqual([
      "exchange.trusted_issuers[0].issuer: is this stack's own issuer",
    ]);
  });

  describe("a trusted issuer's introspection (RFC 7662)", () => {
    const idp = { issuer: "https://idp.example/realms/main", jwks_uri: "https://idp.example/realms/main/certs" };
    const introspection = { endpoint: "https://idp.example/realms/main/introspect", client_id: "sts", client_secret_file: "/run/secrets/idp" };
    const parsed = (i: Record<string, unknown>) => parseConfig({ exchange: { trusted_issuers: [{ ...idp, introspection: i }] } }).exchange.trusted_issuers[0];
    const problems = (i: Record<string, unknown>) => problemsOf(() => parseConfig({ exchange: { trusted_issuers: [{ ...idp, introspection: i }] } }));

    it("is off unless configured, and defaults to a 30 s reuse of active answers and a 3 s deadline", () => {
      expect(parseConfig({ exchange: { trusted_issuers: [idp] } }).exchange.trusted_issuers[0]?.introspection).toBeUndefined();
      expect(parsed(introspection)?.introspection).toEqual({ ...introspection, cache_ttl: 30, timeout_ms: 3000 });
      expect(parsed({ ...introspection, cache_ttl: "2m", timeout_ms: 500 })?.introspection).toMatchObject({ cache_ttl: 120, timeout_ms: 500 });
      const fromEnv = { endpoint: introspection.endpoint, client_id: "sts", client_secret_env: "IDP_INTROSPECTION_SECRET", cache_ttl: 0 };
      expect(parsed(fromEnv)?.introspection).toMatchObject({ client_secret_env: "IDP_INTROSPECTION_SECRET", cache_ttl: 0 });
    });

    it("needs an https endpoint, since the token and the secret travel to it", () => {
      expect(problems({ ...introspection, endpoint: "http://idp.example/introspect" })).toEqual([
        "exchange.trusted_issuers[0].introspection.endpoint: must be an https URL",
      ]);
    });

    it("takes the client secret from exactly one of a file or an environment variable, never inline", () => {
      const { client_secret_file: _, ...noSecret } = introspection;
      expect(problems(noSecret)).toEqual([
        "exchange.trusted_issuers[0].introspection.client_secret_file: required (or client_secret_env): the endpoint authenticates the exchanger",
      ]);
      expect(problems({ ...introspection, client_secret_env: "IDP_SECRET" })).toEqual([
        "exchange.trusted_issuers[0].introspection.client_secret_env: give client_secret_file or client_secret_env, not both",
      ]);
      expect(problems({ ...noSecret, client_secret_env: "not a name" })).toEqual([
        "exchange.trusted_issuers[0].introspection.client_secret_env: expected the name of an environment variable",
      ]);
      expect(problems({ ...noSecret, client_secret: "s3cret-in-a-configmap" })).toEqual([
        "exchange.trusted_issuers[0].introspection.client_secret: not taken from the config file (a secret): set exchange.trusted_issuers[0].introspection.client_secret_file or client_secret_env",
      ]);
      // The refusal never repeats the secret.
      expect(problems({ ...noSecret, client_secret: "s3cret-in-a-configmap" }).join("\n")).not.toContain("s3cret");
    });

    it("bounds the reuse of an active answer and the deadline, naming the field", () => {
      expect(problems({ ...introspection, cache_ttl: "10m" })).toEqual(["exchange.trusted_issuers[0].introspection.cache_ttl: at most 300 seconds"]);
      expect(problems({ ...introspection, cache_ttl: "soon" })[0]).toMatch(/^exchange\.trusted_issuers\[0\]\.introspection\.cache_ttl: expected a duration/);
      expect(problems({ ...introspection, timeout_ms: 5 })[0]).toMatch(/^exchange\.trusted_issuers\[0\]\.introspection\.timeout_ms: /);
      expect(problems({ ...introspection, timeout_ms: 3_001 })[0]).toMatch(/^exchange\.trusted_issuers\[0\]\.introspection\.timeout_ms: /);
      expect(problems({ ...introspection, client_id: "" })[0]).toMatch(/^exchange\.trusted_issuers\[0\]\.introspection\.client_id: /);
      expect(problems({ ...introspection, token_type_hint: "refresh_token" })).toEqual([
        "exchange.trusted_issuers[0].introspection.token_type_hint: unknown field",
      ]);
    });
  });

  it("reports YAML syntax errors and duplicate keys with a line", () => {
    const dir = mkdtempSync(join(tmpdir(), "sts-config-"));
    try {
      const file = join(dir, "bad.yaml");
      writeFileSync(file, "issuer: http://a\nissuer: http://b\n");
      expect(problemsOf(() => loadConfig(file))[0]).toMatch(/^line 2: /);
      expect(problemsOf(() => loadConfig(join(dir, "missing.yaml")))).toEqual(["cannot read file: ENOENT"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the nats section", () => {
  it("takes each way of authenticating, from the file or the environment", () => {
    expect(parseConfig({ nats: { creds_file: "/n/svc.creds" } }).nats.creds_file).toBe("/n/svc.creds");
    expect(parseConfig({}, { STS_NATS_NKEY_SEED_FILE: "/n/svc.nk" }).nats.nkey_seed_file).toBe("/n/svc.nk");
    expect(parseConfig({ nats: { user: "sts-issuer", password_file: "/n/password" } }).nats).toMatchObject({
      user: "sts-issuer",
      password_file: "/n/password",
    });
    expect(parseConfig({}, { STS_NATS_USER: "sts-issuer", STS_NATS_PASSWORD: "s3cret" }).nats).toMatchObject({ user: "sts-issuer", password: "s3cret" });
    expect(parseConfig({}, { STS_NATS_TOKEN: "t0ken" }).nats.token).toBe("t0ken");
    expect(parseConfig({ nats: { token_file: "/n/token" } }).nats.token_file).toBe("/n/token");
    expect(parseConfig({}).nats.user).toBeUndefined();
  });

  it("refuses two ways of authenticating, naming the second", () => {
    expect(problemsOf(() => parseConfig({ nats: { creds_file: "/n/svc.creds" } }, { STS_NATS_TOKEN: "t0ken" }))).toEqual([
      "nats.token: one way of authenticating to NATS at most: creds_file and token were given",
    ]);
    expect(problemsOf(() => parseConfig({ nats: { nkey_seed_file: "/n/svc.nk", user: "u", password_file: "/n/p" } }))).toEqual([
      "nats.user: one way of authenticating to NATS at most: nkey_seed_file and user + password_file were given",
    ]);
  });

  it("keeps passwords and tokens out of the file, and never repeats them", () => {
    const problems = problemsOf(() => parseConfig({ nats: { user: "u", password: "in-the-file", token: "also-in-the-file" } }));
    expect(problems).toEqual([
      "nats.password: not taken from the config file (a secret): set STS_NATS_PASSWORD or nats.password_file",
      "nats.token: not taken from the config file (a secret): set STS_NATS_TOKEN or nats.token_file",
    ]);
    expect(problems.join("\n")).not.toMatch(/in-the-file/);
  });

  it("pairs a user with one password, and a password with a user", () => {
    expect(problemsOf(() => parseConfig({}, { STS_NATS_USER: "u" }))).toEqual([
      "nats.password: required with nats.user: set STS_NATS_PASSWORD or nats.password_file",
    ]);
    expect(problemsOf(() => parseConfig({ nats: { password_file: "/n/p" } }))).toEqual(["nats.user: required with a password"]);
    expect(problemsOf(() => parseConfig({ nats: { user: "u", password_file: "/n/p" } }, { STS_NATS_PASSWORD: "p" }))).toEqual([
      "nats.password_file: give STS_NATS_PASSWORD or password_file, not both",
    ]);
  });

  it("takes TLS with a CA, and a client certificate only with its key", () => {
    const env = { STS_NATS_TLS_CA_FILE: "/tls/ca.crt", STS_NATS_TLS_CERT_FILE: "/tls/tls.crt", STS_NATS_TLS_KEY_FILE: "/tls/tls.key" };
    expect(parseConfig({}, env).nats.tls).toEqual({ ca_file: "/tls/ca.crt", cert_file: "/tls/tls.crt", key_file: "/tls/tls.key" });
    expect(problemsOf(() => parseConfig({ nats: { tls: { ca_file: "/tls/ca.crt", key_file: "/tls/tls.key" } } }))).toEqual([
      "nats.tls.cert_file: required with key_file",
    ]);
    expect(problemsOf(() => parseConfig({ nats: { tls: { ca_file: "/tls/ca.crt", cert_file: "/tls/tls.crt" } } }))).toEqual([
      "nats.tls.key_file: required with cert_file",
    ]);
  });

  it("takes nats:// and tls:// URLs, and refuses credentials in one without repeating it", () => {
    expect(parseConfig({ nats: { url: "tls://a:4222, tls://b:4222" } }).nats.url).toBe("tls://a:4222, tls://b:4222");
    const problems = problemsOf(() => parseConfig({}, { NATS_URL: "nats://sts:hunter2@nats:4222" }));
    expect(problems).toEqual([
      "nats.url: credentials in the URL are ignored by the NATS client: use nats.user with STS_NATS_PASSWORD, or another nats auth field",
    ]);
    expect(problems.join("\n")).not.toContain("hunter2");
    expect(problemsOf(() => parseConfig({ nats: { url: "ws://nats:80" } }))[0]).toMatch(/^nats\.url: expected nats:\/\/host:port or tls:\/\/host:port/);
  });
});

describe("clients[].client_secret_hash", () => {
  const salt = "A".repeat(22);
  const hash = "B".repeat(43);
  it("takes the shape stsctl hash-secret prints", () => {
    const stored = `scrypt$16384$8$1$${salt}$${hash}`;
    expect(parseConfig({ clients: [{ client_id: "api", client_secret_hash: stored }] }).clients[0]?.client_secret_hash).toBe(stored);
  });

  it.each([
    ["no hash part", `scrypt$16384$8$1$${salt}`],
    ["a short hash", `scrypt$16384$8$1$${salt}$${hash.slice(1)}`],
    ["a cost that is not a number", `scrypt$N$8$1$${salt}$${hash}`],
    ["a salt of standard base64", `scrypt$16384$8$1$${"A".repeat(20)}+/$${hash}`],
    ["the secret itself after the prefix", "scrypt$my-client-secret-0001"],
  ])("refuses %s, naming the field (such a client could never authenticate)", (_what, stored) => {
    expect(() => parseConfig({ clients: [{ client_id: "api", client_secret_hash: stored }] })).toThrow(/clients\[0\]\.client_secret_hash: must be scrypt/);
  });

  it.each([
    ["an N that is no power of two (Node's scrypt throws on it)", `scrypt$1000$8$1$${salt}$${hash}`],
    ["an N past 65536 (every wrong secret anyone sends costs that much)", `scrypt$67108864$8$1$${salt}$${hash}`],
    ["an r past 8", `scrypt$16384$99$1$${salt}$${hash}`],
    ["a p past 4", `scrypt$16384$8$99$${salt}$${hash}`],
  ])("refuses %s, naming the field", (_what, stored) => {
    expect(problemsOf(() => parseConfig({ clients: [{ client_id: "api", client_secret_hash: stored }] }))).toEqual([
      expect.stringMatching(/^clients\[0\]\.client_secret_hash: scrypt N must be a power of two from 16384 to 65536/),
    ]);
  });
});
