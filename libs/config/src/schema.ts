/**
 * The stack's configuration file, one place: every option is declared here
 * with its default and a line saying what it does. The README's configuration
 * reference is written from this file.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { MAX_CLIENT_ID_CHARS, publicJwkProblem, verificationKeyProblem } from "@sts/jwt";
import { parseDurationSeconds } from "./duration.js";
import { issuerProblem } from "./issuer-url.js";
import { workloadApiSocketProblem } from "./spiffe-endpoint.js";

/** A duration in seconds, written as 300, "300s", "5m", "1h" or "7d". */
const duration = z.unknown().transform((value, ctx) => {
  const seconds = parseDurationSeconds(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: "custom", message: 'expected a duration such as 300, "5m", "1h" or "7d"' });
    return z.NEVER;
  }
  return seconds;
});

/** A duration of at most `max` seconds: past it a typo (`30d` for `30s`) would leave a safety check off that long. */
const atMost = (max: number, why: string) => duration.pipe(z.number().max(max, `at most ${why}`));

const port = z.number().int().min(0).max(65535);

/** The longest delay a Node timer takes, in whole seconds (2^31 - 1 ms). */
const MAX_TIMER_SECONDS = 2_147_483;
/** A duration a timer waits: a longer one than Node's timers take fires at once (after 1 ms, with a warning). */
const timerDuration = duration.pipe(z.number().max(MAX_TIMER_SECONDS, `at most ${MAX_TIMER_SECONDS} seconds (about 24 days), the longest a timer waits`));
/**
 * The longest lifetime or retention the file takes: 100 years (36500d). The issuer keeps what a token needs (its
 * revocation, its refresh family, an opaque token's record) in NATS buckets for up to twice the longest token
 * lifetime, and nats-server takes a max age in nanoseconds as a 64-bit integer, about 292 years: past it the issuer's
 * start failed with nats-server's "invalid JSON", naming no field.
 */
const MAX_LIFETIME_SECONDS = 36_500 * 86_400;
const LIFETIME_BOUND = `at most ${MAX_LIFETIME_SECONDS} seconds (36500d, 100 years)`;
/**
 * A lifetime or period of at least `min` seconds (0 would issue tokens already expired, or redo a job at every check)
 * and at most {@link MAX_LIFETIME_SECONDS}.
 */
const lifetime = (min: number) => duration.pipe(z.number().min(min, `at least ${min}s`).max(MAX_LIFETIME_SECONDS, LIFETIME_BOUND));
const listen = (defaultPort: number) =>
  z
    .strictObject({
      /** Address the other services dial to reach this one; also the interface to listen on unless `bind` says otherwise. */
      host: z.string().min(1).default("127.0.0.1"),
      /** Interface to listen on when it differs from `host` (0.0.0.0 in a pod, whose `host` is its Service's DNS name). */
      bind: z.string().min(1).optional(),
      /** TCP port; 0 picks a free one (tests). */
      port: port.default(defaultPort),
      /**
       * Plain-HTTP port for operators, on `bind`: GET /metrics (Prometheus),
       * /healthz and /readyz (probes that work while the gRPC port needs mTLS).
       * Absent: no admin server, and metrics are not recorded.
       */
      admin_port: port.optional(),
    })
    .prefault({})
    // One shared file serves every service: each listens on `bind` and dials the others at `host`.
    .transform((s) => ({ ...s, bind: s.bind ?? s.host }));

/** A SPIFFE ID: spiffe://trust-domain/path, with the charset and segment rules of the SPIFFE ID specification. */
const spiffeId = z
  .string()
  .max(2048)
  .regex(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/, "expected spiffe://trust-domain/path")
  .refine(
    (id) =>
      !id
        .split("/")
        .slice(3)
        .some((segment) => segment === "." || segment === ".."),
    "a SPIFFE ID path has no . or .. segment",
  );

/**
 * What is wrong with `value` as the address of a sidecar's destination, if anything: it must be an origin
 * (scheme://host:port) of one of `schemes`, those the code can dial there. Calls keep their own path, so a path here
 * would look like a boundary and be none (`http://ingress/svc-d` would carry svc-d's token to every path of the
 * ingress); a query or fragment would be dropped as silently, and userinfo never sent. The message never repeats the
 * URL, which may hold a password.
 */
function originProblem(value: string, schemes: readonly string[], why: string): string | undefined {
  // Not a URL at all: z.url() has said so.
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  if (!schemes.includes(url.protocol.slice(0, -1))) return `expected ${schemes.map((s) => `${s}://host:port`).join(" or ")} ${why}`;
  if (url.username !== "" || url.password !== "")
    return "no user or password in the URL: the sidecar never sends them, and the config file is no place for a secret";
  const only = "give scheme://host:port only";
  if (url.pathname !== "/") return `no path: each call keeps its own (/x goes to scheme://host:port/x), so a path here would confine nothing; ${only}`;
  // After the checks above, href is the origin, "/", then "?" or "#" if anything follows (WHATWG keeps an empty one).
  const rest = url.href.slice(url.origin.length + 1);
  if (rest.startsWith("?")) return `no query: each call keeps its own; ${only}`;
  if (rest !== "") return `no fragment: it is never sent; ${only}`;
  return undefined;
}

/** A destination's origin, one of `schemes` (see {@link originProblem}). */
const originUrl = (schemes: readonly string[], why: string) =>
  z.url().superRefine((value, ctx) => {
    const problem = originProblem(value, schemes, why);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** Where routes go: forward() and the HTTP/2 proxy dial http:// in clear and https:// with the sidecar's tls. */
const routeUrl = originUrl(["http", "https"], "(https:// with the sidecar's tls)");

/**
 * The workload's own address: http:// only. The HTTP/1.1 forwarder has no TLS identity for it (every call would fail)
 * and the HTTP/2 proxy would dial an https:// one with no client certificate, checked against the system's CAs.
 */
const upstreamUrl = originUrl(["http"], "(the workload next to the sidecar is called in cleartext)");

/** Scope lists may be written as "a b c" or [a, b, c]. */
const scopeList = z.union([z.string(), z.array(z.string())]).transform((v) => (typeof v === "string" ? v.split(" ").filter(Boolean) : v));

export const SIGNING_ALGORITHMS = ["ES256", "EdDSA", "RS256", "PS256"] as const;
export const ASSERTION_ALGORITHMS = ["ES256", "ES384", "EdDSA", "RS256", "PS256"] as const;

/** Longest reuse of a provider's `active` answer: as long as this, a token it revoked is still exchanged. */
const MAX_INTROSPECTION_CACHE_TTL = 300;

/**
 * How the exchanger asks a trusted issuer whether one of its tokens is still
 * active (RFC 7662). The client secret comes from a file or an environment
 * variable, never from this file: the file is a ConfigMap in a cluster.
 */
const introspectionSchema = z
  .strictObject({
    /** The provider's introspection endpoint; https only, since the token and our secret travel to it. */
    endpoint: z.url({ protocol: /^https$/, error: "must be an https URL" }),
    /** Our client at the provider, authenticated with client_secret_basic (RFC 6749 §2.3.1). */
    client_id: z.string().min(1),
    /** File holding that client's secret (surrounding whitespace ignored), read again at each call so a rotated Secret takes effect. */
    client_secret_file: z.string().min(1).optional(),
    /** Name of the environment variable holding that client's secret (instead of client_secret_file). */
    client_secret_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected the name of an environment variable")
      .optional(),
    /**
     * How long an `active` answer is reused for the same token (0: never); an
     * `inactive` one is kept until the token expires.
     */
    cache_ttl: duration.pipe(z.number().max(MAX_INTROSPECTION_CACHE_TTL, `at most ${MAX_INTROSPECTION_CACHE_TTL} seconds`)).default(30),
    /** Deadline of one introspection call, in milliseconds; past it the exchange fails closed (temporarily_unavailable). */
    // At most 3 s: the call is one step of an exchange that the gateway gives 8 s in all, after a key set fetch of up to 3 s.
    timeout_ms: z.number().int().min(100).max(3_000).default(3_000),
  })
  .superRefine((i, ctx) => {
    if (i.client_secret_file !== undefined && i.client_secret_env !== undefined) {
      ctx.addIssue({ code: "custom", path: ["client_secret_env"], message: "give client_secret_file or client_secret_env, not both" });
    }
    if (i.client_secret_file === undefined && i.client_secret_env === undefined) {
      ctx.addIssue({ code: "custom", path: ["client_secret_file"], message: "required (or client_secret_env): the endpoint authenticates the exchanger" });
    }
  });

/** An issuer whose access tokens the exchanger accepts as subject tokens. */
const trustedIssuerSchema = z.strictObject({
  /** Its identifier, compared exactly with a token's `iss`. */
  issuer: z.url(),
  /** Its JWK Set, fetched over https and cached. */
  jwks_uri: z.url({ protocol: /^https$/, error: "must be an https URL" }),
  /** Accepted signing algorithms (asymmetric only). */
  algorithms: z
    .array(z.enum(ASSERTION_ALGORITHMS))
    .min(1)
    .default([...ASSERTION_ALGORITHMS]),
  /**
   * Accepted `typ` header values. RFC 9068's only by default: a provider that
   * types its access tokens plain `JWT` (Keycloak) types its ID tokens so too,
   * so listing `JWT` needs `claims` that only its access tokens carry.
   */
  typ: z.array(z.string().min(1)).min(1).default(["at+jwt"]),
  /** Claims the provider's access tokens must carry with exactly these values (Keycloak: `typ: Bearer`). */
  claims: z.record(z.string().min(1), z.string()).default({}),
  /**
   * RFC 7662 introspection at the provider before each exchange of one of its
   * tokens, so a token it revoked (logout, session ended) is refused before it
   * expires. Absent: only its signature, claims and `exp` are checked.
   */
  introspection: introspectionSchema.optional(),
  /**
   * OpenID Connect Back-Channel Logout: the provider posts a logout token to
   * the gateway's /oauth2/backchannel-logout when a user signs out there, and
   * every token of this stack made for that user stops working at once.
   * Absent: its logout tokens are refused.
   */
  backchannel_logout: z
    .strictObject({
      /** The `aud` its logout tokens carry: the client id this stack is registered under at the provider. */
      audience: z.string().min(1),
    })
    .optional(),
});
export const AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] as const;
export const GRANT_TYPES = [
  "client_credentials",
  "urn:ietf:params:oauth:grant-type:token-exchange",
  "urn:ietf:params:oauth:grant-type:jwt-bearer",
  "refresh_token",
] as const;

/**
 * A client's public key: registration refuses private and symmetric keys, and keys that could never verify an
 * assertion here, and so does the file (the same predicates).
 */
const jwk = z.looseObject({ kty: z.string() }).superRefine((key, ctx) => {
  const problem = publicJwkProblem(key) ?? verificationKeyProblem(key);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** An IPv4 or IPv6 network in CIDR notation (10.20.0.0/16, fd12:3456::/48). */
const cidr = z.string().refine((value) => {
  const [address = "", prefix = "", ...rest] = value.split("/");
  const family = isIP(address);
  return family !== 0 && rest.length === 0 && /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}, "expected a network in CIDR notation, such as 10.20.0.0/16 or fd12:3456::/48");

/**
 * Default of an admin's `manages.max_clients`, and the cap of an admin without `manages`: every client an admin
 * registers is a record each issuer and exchanger replica and each sidecar holds in memory.
 */
export const DEFAULT_MAX_MANAGED_CLIENTS = 1000;

/**
 * Default and ceiling of `policy.max_policies`. Every policy.updated event lists the ids in force (up to 200
 * characters each), and the config file's hops may add as many again as the bound: at the ceiling that list stays
 * under nats-server's default max_payload of 1 MiB, so no change goes unannounced for want of room.
 */
const DEFAULT_MAX_POLICIES = 1000;
const MAX_POLICIES_CEILING = 2000;

/**
 * Whether a client_secret_hash's scrypt parameters are ones this stack computes: Node's scrypt refuses an N that is
 * not a power of two, and anyone may make the issuer run it at the hash's cost by sending a wrong secret, so the cost
 * is bounded (at most 64 MiB and a few times stsctl hash-secret's 16384, 8, 1).
 */
function scryptCostBounded(hash: string): boolean {
  const [, n, r, p] = hash.split("$").map(Number) as [number, number, number, number];
  return n >= 16384 && n <= 65536 && (n & (n - 1)) === 0 && r >= 1 && r <= 8 && p >= 1 && p <= 4;
}

/** The shortest client secret a client may have (stsctl hash-secret holds a secret it hashes to it too). */
export const MIN_CLIENT_SECRET_CHARS = 16;

/** One registered client, as seeded from the config file. */
export const clientSchema = z
  .strictObject({
    /** Canonical client id; any string (it is encoded before use in NATS keys or subjects). */
    client_id: z.string().min(1).max(MAX_CLIENT_ID_CHARS),
    /** Shared secret in clear, hashed at seeding and never stored; prefer client_secret_hash or an env override. */
    client_secret: z.string().min(MIN_CLIENT_SECRET_CHARS, `must be at least ${MIN_CLIENT_SECRET_CHARS} characters`).optional(),
    /**
     * scrypt hash of the secret, as printed by `stsctl hash-secret`: `scrypt$N$r$p$salt$hash` (base64url salt of 16+
     * bytes, 32-byte hash). Any other shape could never match a secret, and the client would be refused for good.
     */
    client_secret_hash: z
      .string()
      .regex(
        /^scrypt\$[1-9]\d{0,7}\$[1-9]\d?\$[1-9]\d?\$[A-Za-z0-9_-]{22,}\$[A-Za-z0-9_-]{43}$/,
        "must be scrypt$N$r$p$salt$hash, as printed by stsctl hash-secret",
      )
      .refine(
        scryptCostBounded,
        "scrypt N must be a power of two from 16384 to 65536, r from 1 to 8, p from 1 to 4: every attempt to authenticate as the client, by anyone, runs scrypt at that cost",
      )
      .optional(),
    /** RFC 7591 token_endpoint_auth_method. */
    token_endpoint_auth_method: z.enum(AUTH_METHODS).default("client_secret_basic"),
    /** Grant types the client may use. */
    grant_types: z.array(z.enum(GRANT_TYPES)).min(1).default(["client_credentials"]),
    /** Largest set of scopes the client may obtain (structured name:/path scopes allowed). */
    scope: scopeList.default([]),
    /** Audiences the client may ask for, in order; the first is the primary one. */
    audience: z.array(z.string().min(1)).default([]),
    /** Access token format per audience: jwt (default) or opaque (introspection only). */
    access_token_format: z.record(z.string(), z.enum(["jwt", "opaque"])).default({}),
    /** Access token lifetime for this client; defaults to tokens.access_token_ttl. */
    access_token_ttl: lifetime(1).optional(),
    /** Refresh token lifetime (refresh tokens are issued to clients with the refresh_token grant, for user grants). */
    refresh_token_ttl: lifetime(1).default(86400),
    /** Public keys for private_key_jwt (RFC 7591 jwks); exclusive with jwks_uri. */
    jwks: z.strictObject({ keys: z.array(jwk).min(1) }).optional(),
    /** URL of the client's JWK Set (RFC 7591 jwks_uri); exclusive with jwks. */
    // https only: the issuer fetches it, and a client can change it itself (RFC 7592).
    jwks_uri: z.url({ protocol: /^https$/, error: "must be an https URL" }).optional(),
    /** A service of this stack (the exchanger) allowed to call the issuer's Mint. */
    internal: z.boolean().default(false),
    /** An admin client (dedicated token issuer): may start flows for the clients it manages. */
    admin: z.boolean().default(false),
    /**
     * What an admin may hand out to the clients it registers: their audiences
     * must be among these and their scopes within these (a structured scope
     * covers its down-scopes). Without it, an admin registers clients with no
     * audience and no scope at all: an admin never grants more than it was given.
     */
    manages: z
      .strictObject({
        audience: z.array(z.string().min(1)).default([]),
        scope: scopeList.default([]),
        /** Most clients the admin may have registered at once (RFC 7591 registration); a deletion makes room again. */
        max_clients: z.number().int().min(0).default(DEFAULT_MAX_MANAGED_CLIENTS),
      })
      .optional(),
    /** The admin client that manages this one. */
    admin_client_id: z.string().min(1).optional(),
    /** Scope templates: a requested `name:` expands to these scopes; `{sub}` becomes the user. */
    scope_templates: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9._-]*:$/, "keys are name: template requests"), z.array(z.string().min(1))).default({}),
    /** Human-readable name. */
    client_name: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.jwks && c.jwks_uri) {
      ctx.addIssue({ code: "custom", path: ["jwks_uri"], message: "jwks and jwks_uri are mutually exclusive (RFC 7591 §2)" });
    }
    if (c.client_secret && c.client_secret_hash) {
      ctx.addIssue({ code: "custom", path: ["client_secret_hash"], message: "give client_secret or client_secret_hash, not both" });
    }
    const secretMethod = c.token_endpoint_auth_method === "client_secret_basic" || c.token_endpoint_auth_method === "client_secret_post";
    if (secretMethod && !c.client_secret && !c.client_secret_hash) {
      ctx.addIssue({ code: "custom", path: ["client_secret"], message: `required for ${c.token_endpoint_auth_method}` });
    }
    // RFC 7591 names it, but no grant here takes a client that proves nothing: such a client could never get a token.
    if (c.token_endpoint_auth_method === "none") {
      ctx.addIssue({
        code: "custom",
        path: ["token_endpoint_auth_method"],
        message: "none is not supported: every grant here needs an authenticated client",
      });
    }
    if (c.token_endpoint_auth_method === "private_key_jwt" && !c.jwks && !c.jwks_uri) {
      ctx.addIssue({ code: "custom", path: ["jwks"], message: "private_key_jwt needs jwks or jwks_uri" });
    }
  });

/** A simple exchange hop, compiled into readable Cedar policies by the policy service. */
export const hopSchema = z.strictObject({
  /** Calling client id. */
  from: z.string().min(1),
  /** Target audience. */
  to: z.string().min(1),
  /** Scopes the caller may obtain for the target. */
  scopes: scopeList,
  /** Scopes granted when the request names none; defaults to `scopes`. */
  default_scopes: scopeList.optional(),
  /** Largest delegation chain depth for this hop. */
  max_depth: z.number().int().min(1).max(32).optional(),
  /** Whether the caller must be in the subject token's aud (RFC 8693 §2.1 presenter). */
  require_caller_in_audience: z.boolean().default(true),
});

/** One scope token (RFC 6749 §3.3): a scope an operator API's access token must carry. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "one scope token (RFC 6749 §3.3)");

/** A path to a file mounted into the pod (from a Secret for anything secret). */
const filePath = z.string().min(1);

/**
 * Where a TLS identity comes from: three PEM files, or the SPIFFE Workload
 * API (a SPIRE agent) instead; exactly one, checked by {@link oneTlsSource}.
 * Shared by grpc_tls and the sidecars' tls, so both take and refuse the same.
 */
const tlsSourceFields = {
  /** PEM certificate chain presented, as a server and as a client: an X.509-SVID, or a certificate whose names match the `host` dialled. */
  cert_file: filePath.optional(),
  /** PEM private key of that certificate (mount it from a secret). */
  key_file: filePath.optional(),
  /** PEM CA bundle that the peers' certificates must chain to. */
  ca_file: filePath.optional(),
  /** How often the three files are read again, so rotated certificates (SVIDs, cert-manager) take effect without a restart; 0 reads them once. Default 60. */
  reload_interval: timerDuration.optional(),
  /**
   * The X.509-SVID, its key and the trust bundle taken from the SPIFFE
   * Workload API (a SPIRE agent) instead of the three files, each rotation
   * applied as the agent pushes it.
   */
  workload_api: z
    .strictObject({
      /** The agent's socket, unix:///path; absent: the SPIFFE_ENDPOINT_SOCKET environment variable. */
      socket: z
        .string()
        .superRefine((socket, ctx) => {
          const problem = workloadApiSocketProblem(socket);
          if (problem) ctx.addIssue({ code: "custom", message: problem });
        })
        .optional(),
      /** How long the process waits for its first SVID; past it, it fails to start (it never serves without an identity). */
      startup_timeout: timerDuration.pipe(z.number().min(1, "at least 1s")).default(30),
    })
    .optional(),
};

/** The fields of {@link tlsSourceFields} as parsed, before one source is picked. */
type TlsSourceInput = z.output<z.ZodObject<typeof tlsSourceFields>>;

/**
 * One source of the material, whole: the three files (reload_interval defaulting to 60) or workload_api. The path
 * names the field at fault.
 */
function oneTlsSource<T extends TlsSourceInput>(section: T, ctx: z.RefinementCtx) {
  const { cert_file, key_file, ca_file, reload_interval, workload_api, ...rest } = section;
  const files = Object.entries({ cert_file, key_file, ca_file });
  const given = files.flatMap(([field, value]) => (value === undefined ? [] : [field]));
  const refuse = (path: string[], message: string): void => ctx.addIssue({ code: "custom", path, message });
  if (workload_api) {
    if (given.length > 0) refuse(["workload_api"], `not with ${given.join(", ")}: give the files or workload_api`);
    if (reload_interval !== undefined) refuse(["reload_interval"], "for the files only: the Workload API pushes each rotation");
    return { ...rest, workload_api };
  }
  if (cert_file === undefined || key_file === undefined || ca_file === undefined) {
    if (given.length === 0) refuse([], "needs cert_file, key_file and ca_file, or workload_api");
    for (const [field] of files.filter(([, value]) => value === undefined && given.length > 0)) {
      refuse([field], `required with ${given.join(" and ")} (or workload_api instead of the files)`);
    }
    return z.NEVER;
  }
  return { ...rest, cert_file, key_file, ca_file, reload_interval: reload_interval ?? 60 };
}

/**
 * NATS server URLs, comma-separated: `nats://host:port`, `tls://host:port`
 * (TLS required) or `host:port`. nats.js drops credentials written in a URL
 * without a word, and a URL is logged, so `user:pass@` is refused; the
 * message never repeats the URL, which would print the password.
 */
const natsUrls = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    for (const url of value.split(",").map((u) => u.trim())) {
      const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
      const authority = url.replace(/^[^/]*:\/\//, "").split("/")[0] ?? "";
      if (scheme !== undefined && scheme !== "nats" && scheme !== "tls") {
        ctx.addIssue({ code: "custom", message: "expected nats://host:port or tls://host:port (comma-separated for several servers)" });
      } else if (authority.includes("@")) {
        ctx.addIssue({
          code: "custom",
          message: "credentials in the URL are ignored by the NATS client: use nats.user with STS_NATS_PASSWORD, or another nats auth field",
        });
      }
    }
  });

/** The ways of authenticating to NATS, each named by the fields that select it. */
const NATS_AUTH_METHODS = [["creds_file"], ["nkey_seed_file"], ["user", "password", "password_file"], ["token", "token_file"]] as const;

/**
 * The stack's NATS: where it is, how each service authenticates, and the TLS
 * it requires. One way of authenticating at most; none for a local server
 * without authorization. Secrets come from the environment or from files
 * (read again at each reconnect, so rotated credentials take effect without a
 * restart), never from this file.
 */
const natsSchema = z
  .strictObject({
    /** NATS server URL(s); when absent the local runner starts its own nats-server. */
    url: natsUrls.optional(),
    /** Folder for the local nats-server's JetStream store. */
    data_dir: z.string().default(".data/nats"),
    /** Replicas for streams and KV buckets (3 in a production cluster). */
    replicas: z.number().int().min(1).max(5).default(1),
    /** Decentralized-auth credentials (`.creds`: the user JWT and its nkey seed, as `nsc` writes them). */
    creds_file: filePath.optional(),
    /** An nkey seed file (`SU...`): the server knows the user by its public key. */
    nkey_seed_file: filePath.optional(),
    /** User name, with `password` or `password_file`. */
    user: z.string().min(1).optional(),
    /** The user's password; only from STS_NATS_PASSWORD, never written in this file. */
    password: z.string().min(1).optional(),
    /** File holding the user's password (surrounding whitespace ignored). */
    password_file: filePath.optional(),
    /** Authorization token; only from STS_NATS_TOKEN, never written in this file. */
    token: z.string().min(1).optional(),
    /** File holding the authorization token (surrounding whitespace ignored). */
    token_file: filePath.optional(),
    /** TLS required on every NATS connection (also implied by a tls:// URL, then verified against the system's CAs). */
    tls: z
      .strictObject({
        /** PEM CA bundle the server's certificate is verified against. */
        ca_file: filePath,
        /** PEM client certificate, for servers that verify clients (mutual TLS); needs key_file. */
        cert_file: filePath.optional(),
        /** PEM private key of cert_file. */
        key_file: filePath.optional(),
      })
      .optional(),
  })
  .superRefine((n, ctx) => {
    const given = NATS_AUTH_METHODS.map((fields) => fields.filter((f) => n[f] !== undefined)).filter((fields) => fields.length > 0);
    if (given.length > 1) {
      const names = given.map((fields) => fields.join(" + "));
      ctx.addIssue({ code: "custom", path: [given[1]?.[0] ?? ""], message: `one way of authenticating to NATS at most: ${names.join(" and ")} were given` });
    }
    if (n.password !== undefined && n.password_file !== undefined) {
      ctx.addIssue({ code: "custom", path: ["password_file"], message: "give STS_NATS_PASSWORD or password_file, not both" });
    }
    if ((n.password !== undefined || n.password_file !== undefined) && n.user === undefined) {
      ctx.addIssue({ code: "custom", path: ["user"], message: "required with a password" });
    }
    if (n.user !== undefined && n.password === undefined && n.password_file === undefined) {
      ctx.addIssue({ code: "custom", path: ["password"], message: "required with nats.user: set STS_NATS_PASSWORD or nats.password_file" });
    }
    if (n.token !== undefined && n.token_file !== undefined) {
      ctx.addIssue({ code: "custom", path: ["token_file"], message: "give STS_NATS_TOKEN or token_file, not both" });
    }
    if (n.tls?.key_file !== undefined && n.tls.cert_file === undefined) {
      ctx.addIssue({ code: "custom", path: ["tls", "cert_file"], message: "required with key_file" });
    }
    if (n.tls?.cert_file !== undefined && n.tls.key_file === undefined) {
      ctx.addIssue({ code: "custom", path: ["tls", "key_file"], message: "required with cert_file" });
    }
  })
  .prefault({});

/** The whole configuration file. */
export const configSchema = z.strictObject({
  /** Issuer identifier (`iss`), also the public base URL of the gateway: https, no query or fragment (http on loopback only). */
  issuer: z
    .url()
    .superRefine((value, ctx) => {
      const problem = issuerProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .default("http://127.0.0.1:8080"),
  nats: natsSchema,
  services: z
    .strictObject({
      gateway: listen(8080),
      issuer: listen(50051),
      exchanger: listen(50052),
      policy: listen(50053),
      audit: listen(50054),
    })
    .prefault({}),
  /**
   * TLS on every gRPC port and on the calls between services, mutual by
   * default; without it the ports are plaintext (inside a mesh that supplies mTLS).
   * The certificate, key and CA bundle come from the three files or, instead,
   * from the SPIFFE Workload API (workload_api): exactly one.
   */
  grpc_tls: z
    .strictObject({
      ...tlsSourceFields,
      /** Servers refuse a caller without a certificate from ca_file (or the Workload API's bundle). */
      require_client_cert: z.boolean().default(true),
      /**
       * SPIFFE ID each service presents (its X.509-SVID's one URI SAN); a
       * service named here is checked by that ID instead of by host name.
       */
      spiffe_ids: z
        .strictObject({ issuer: spiffeId.optional(), exchanger: spiffeId.optional(), policy: spiffeId.optional(), audit: spiffeId.optional() })
        .optional(),
    })
    .transform(oneTlsSource)
    .optional(),
  keys: z
    .strictObject({
      /** Signing algorithm of new keys. */
      algorithm: z.enum(SIGNING_ALGORITHMS).default("ES256"),
      /** A new key is made when the active one is older than this. */
      rotate_after: lifetime(60).default(7 * 86400),
      /** A private JWK file to sign with instead of generating keys (kept out of NATS). */
      jwk_file: z.string().optional(),
    })
    .prefault({}),
  tokens: z
    .strictObject({
      /** Default access token lifetime. */
      access_token_ttl: lifetime(1).default(300),
      /** Largest accepted age of a client_assertion / assertion `exp` ahead of now. */
      assertion_max_lifetime: atMost(3600, "an hour: an assertion is made for the request that carries it, and its jti is kept this long").default(300),
      /**
       * The sole `aud` a client_assertion or jwt-bearer assertion may name: the issuer identifier
       * (draft-ietf-oauth-rfc7523bis, after the 2025 audience-injection attack), or, for clients configured before it,
       * the token endpoint URL too (RFC 7523 §3).
       */
      assertion_audience: z.enum(["issuer", "issuer_or_token_endpoint"]).default("issuer"),
      /**
       * Most time a refresh token family lives from its first token. Each
       * rotation's token lives refresh_token_ttl from its own issue, never
       * past this: a client that keeps refreshing must go back to its grant.
       */
      refresh_family_lifetime: duration.refine((seconds) => seconds >= 60, { message: "at least 60s" }).default(30 * 86_400),
      /** Accepted clock skew when checking exp/nbf/iat. */
      clock_tolerance: atMost(300, "5 minutes: every verifier would accept tokens that long past their exp").default(30),
      /**
       * How long a verifier (a sidecar, introspection) keeps answering from its
       * cached revocations after losing NATS; past it, it fails closed with
       * temporarily_unavailable.
       */
      revocation_max_staleness: atMost(3600, "an hour: past it, a revoked token may stay accepted that long").default(30),
      /** Largest accepted token or assertion, in bytes, checked before any crypto. */
      max_token_bytes: z.number().int().min(512).max(65536).default(8192),
    })
    .prefault({}),
  exchange: z
    .strictObject({
      /** Upper bound on act-chain depth whatever a policy says. */
      max_depth: z.number().int().min(1).max(32).default(8),
      /**
       * How long a policy decision may be reused (dropped at once on policy.updated). That event is core NATS: an
       * exchanger cut off from NATS while a policy changed never sees it, and reuses what it cached for this long.
       */
      decision_cache_ttl: atMost(3600, "an hour: an exchanger that missed a policy change would allow what it forbids that long").default(60),
      /** Client the exchanger authenticates as when calling the issuer's Mint (registered with internal: true). */
      client_id: z.string().default("sts-exchanger"),
      /** Deadline of a call to the policy service or the issuer, in milliseconds. */
      call_timeout_ms: z.number().int().min(10).max(60_000).default(6_000),
      /**
       * Other issuers whose access tokens may be presented as subject tokens
       * (an edge identity provider, say); the exchanged token is this stack's.
       */
      trusted_issuers: z.array(trustedIssuerSchema).default([]),
    })
    .prefault({}),
  policy: z
    .strictObject({
      /** Simple hop declarations, seeded as Cedar policies at first start. */
      hops: z.array(hopSchema).default([]),
      /**
       * Audience an operator's access token must name for the policy API's
       * operator calls (Validate, Get, List, Put, Delete, Reset; never Decide, the
       * exchanger's). Register each operator as a client with this audience
       * and read_scope or write_scope; every change is then recorded under its
       * identity (the policy.updated event, the stored version's author).
       */
      api_audience: z.string().min(1).default("sts-policy"),
      /** Scope for reading policies: Get, List and the what-if Validate. */
      read_scope: scopeToken.default("policy:read"),
      /**
       * Scope for changing policies: Put, Delete and Reset. It grants reading too: a
       * writer sees what it changes (Put's expected_revision comes from Get).
       */
      write_scope: scopeToken.default("policy:write"),
      /**
       * How long a policy replica keeps deciding (Decide, Validate) from its
       * copy of the policies bucket while it cannot confirm that copy holds
       * every change (cut off from NATS; when connected, its copy behind the
       * bucket, given two probe periods more). Past it, the replica answers
       * temporarily_unavailable and reports NOT_SERVING: an operator's forbid
       * made through another replica would not reach it.
       */
      max_staleness: duration
        .pipe(
          z
            .number()
            .min(1, "at least 1 second: a replica refusing at every blip of NATS would fail every exchange")
            .max(3600, "at most 3600 seconds (1 hour): past it, a forbid may go unenforced that long"),
        )
        .default(30),
      /**
       * Most policies the set may hold, the config file's hops included. A
       * Put of a new id past it is refused (failed_precondition): delete one
       * first. A replica's start is refused when its hops alone compile to
       * more.
       */
      max_policies: z
        .number()
        .int()
        .min(1)
        .max(MAX_POLICIES_CEILING, `at most ${MAX_POLICIES_CEILING}: each policy.updated event lists every id in force, and must fit in one NATS message`)
        .default(DEFAULT_MAX_POLICIES),
    })
    .prefault({}),
  /**
   * The issuer's operator APIs: revoking everything a subject holds
   * (TokenService.RevokeSubject, `stsctl subject revoke`) and managing the
   * signing keys (KeyService List, Rotate, Withdraw, `stsctl keys`). An
   * operator presents its own access token naming `api_audience` and carrying
   * the scope the call needs; each change is recorded under its client id
   * (the `subject.revoked`, `key.rotated` and `key.withdrawn` events).
   */
  issuer_admin: z
    .strictObject({
      /** Audience an operator's access token must name to call the issuer's operator APIs. Register each operator as a client with it and the scopes it needs. */
      api_audience: z.string().min(1).default("sts-issuer-admin"),
      /** Scope for RevokeSubject; a valid token without it is refused (insufficient_scope). */
      revoke_subjects_scope: scopeToken.default("subjects:revoke"),
      /** Scope for listing the signing keys (KeyService.List): kids, states and times, never private material. */
      read_keys_scope: scopeToken.default("keys:read"),
      /**
       * Scope for changing the signing keys: Rotate (a planned successor) and
       * Withdraw (a compromised key, refused everywhere at once). It grants
       * listing too: an operator sees what it changes.
       */
      manage_keys_scope: scopeToken.default("keys:manage"),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** SQLite file of the audit projection (rebuilt from the stream when missing). */
      db_path: z.string().default(".data/audit.sqlite"),
      /** Durable consumer name of the projection. */
      consumer: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default("audit-projection"),
      /**
       * Audience an auditor's access token must name to read the audit API
       * (Query, Tail, Lineage, Verify). Register each auditor as a client with
       * this audience and `api_scope`; every read is then recorded under its
       * identity as an `audit.accessed` event.
       */
      api_audience: z.string().min(1).default("sts-audit"),
      /** Scope an auditor's access token must carry for the audit API; a valid token without it is refused (insufficient_scope). */
      api_scope: scopeToken.default("audit:read"),
      /**
       * Answer audit calls that present no credential at all, as "anonymous", when STS_AUDIT_TOKEN is not set: a local
       * stack's demo and stsctl. Off by default: the trail names every subject, client, audience and jti.
       */
      allow_anonymous: z.boolean().default(false),
      /**
       * How long the events stream (the audit trail's source) keeps an event, 0 for ever. When set, the issuer applies
       * it at each start (a change made with `nats stream edit` is put back); unset, the stream is left as it is (a new
       * one keeps every event). A projection rebuilt from the stream starts at its oldest event.
       */
      stream_max_age: duration.pipe(z.number().max(MAX_LIFETIME_SECONDS, LIFETIME_BOUND)).optional(),
      /** Most bytes the events stream holds, the oldest events dropped past it, 0 for no limit but the server's; unset: as it is. */
      stream_max_bytes: z.number().int().min(0).optional(),
      /** How long events may wait in the stream while the projection commits nothing before the service reports unready. */
      max_projection_lag: duration.refine((seconds) => seconds >= 1, { message: "at least 1s" }).default(30),
    })
    .prefault({}),
  clients: z.array(clientSchema).default([]),
  /**
   * The file's revision, raised with every change of the file where replicas may start on different files at once (a
   * rolling deploy, one pod rolled back or restarted mid-rollout). A client record or retirement the issuer wrote from
   * a file of a higher revision is never rewritten nor retired by an issuer starting on a lower one, so an older file
   * cannot undo a newer one's clients. Every file at 0 (unset): each start's file decides, whatever wrote before it.
   */
  config_revision: z.number().int().min(0).default(0),
  /**
   * How the issuer fetches the key sets clients name by jwks_uri (private_key_jwt, jwt-bearer assertions), from the
   * config file or a registration alike: https only, no redirect followed, at most 64 KiB, 3 s. It connects only to
   * public addresses, checking the address a name resolved to as it connects (so a name turned to an internal one
   * later is refused too): a client must not make the issuer call into its own network (cloud metadata at
   * 169.254.169.254, NATS, the services' admin ports).
   */
  client_jwks_uri: z
    .strictObject({
      /**
       * Networks (CIDR) otherwise refused, private, loopback, link-local or other special-purpose ones, whose key
       * servers the issuer may fetch from anyway: an on-premise deployment's. Everything in them becomes reachable by
       * whoever can register a jwks_uri, so list the key servers' networks only, never 0.0.0.0/0.
       */
      allow_private_networks: z.array(cidr).default([]),
    })
    .prefault({}),
  /** Per-workload sidecars, by workload client id (the sidecar process picks its own with STS_SIDECAR). */
  sidecars: z
    .record(
      z.string(),
      z.strictObject({
        /** Public listener: inbound calls to the workload arrive here (HTTPS, mutual, with tls). */
        inbound: z.strictObject({ host: z.string().default("127.0.0.1"), port }),
        /** The workload's own address, where verified calls are forwarded: http://host:port, no path (each call keeps its own). */
        upstream: upstreamUrl,
        /** Local listener the workload calls its destinations through: http://host:port/<route>/<path>. */
        outbound: z.strictObject({ host: z.string().default("127.0.0.1"), port }),
        /** gRPC inbound listener, when the workload serves gRPC: h2c, or HTTP/2 over mutual TLS with tls. */
        grpc_inbound: z.strictObject({ host: z.string().default("127.0.0.1"), port }).optional(),
        /** The workload's gRPC address (h2c, http://host:port), when it differs from upstream. */
        grpc_upstream: upstreamUrl.optional(),
        /** gRPC (h2c) outbound listener: the workload's channel uses the route name as its authority. */
        grpc_outbound: z.strictObject({ host: z.string().default("127.0.0.1"), port }).optional(),
        /**
         * Health listener, apart from the inbound one so that no workload path is
         * shadowed: GET /healthz (the process answers), GET /readyz (503 while NATS,
         * and with it revocations, is unreachable).
         */
        health: z.strictObject({ host: z.string().default("127.0.0.1"), port }).optional(),
        /** How long a forwarded HTTP call may go without any traffic from its upstream before it is abandoned (504 before an answer, a cut connection after). */
        upstream_idle_timeout: timerDuration.default(30),
        /** The workload's audience (what inbound tokens must name); defaults to the workload id. */
        audience: z.string().optional(),
        /**
         * Mutual TLS between sidecars. With it, the inbound listener serves
         * HTTPS and grpc_inbound HTTP/2 over TLS, both refusing a caller without
         * a certificate from ca_file; calls to https routes present cert_file.
         * The listeners to and from the workload stay cleartext on loopback.
         * The certificate, key and CA bundle come from the three files or,
         * instead, from the SPIFFE Workload API (workload_api): exactly one.
         */
        tls: z
          .strictObject({
            ...tlsSourceFields,
            /**
             * SPIFFE IDs whose certificates may call in; another peer is refused
             * (403, gRPC PERMISSION_DENIED) before its token is looked at. Absent:
             * any certificate from ca_file.
             */
            allowed_peers: z.array(spiffeId).min(1, "list at least one SPIFFE ID, or leave allowed_peers out").optional(),
            /**
             * Binds tokens to the peers presenting them: each calling peer's
             * SPIFFE ID mapped to the OAuth client its workload runs as. When
             * set, a token is accepted only from the peer of the client it was
             * issued to (its `client_id`: for an exchanged token, the workload
             * that exchanged it); a token presented by another peer, or by one
             * not listed, is refused (401 invalid_token), so a token stolen in
             * transit or from a log is of no use to another workload.
             */
            peer_clients: z.record(spiffeId, z.string().min(1)).optional(),
          })
          .transform(oneTlsSource)
          .optional(),
        /** Destinations: route name → where, for which audience, with which scopes. */
        routes: z
          .record(
            z.string().regex(/^[A-Za-z0-9._-]+$/),
            z.strictObject({
              /** Where HTTP calls go, an origin with no path (each call keeps its own): http://, or https:// (mutual TLS, needs the sidecar's tls). */
              url: routeUrl,
              /** Where gRPC calls go, when not to url: http:// (h2c) or https:// (HTTP/2 over mutual TLS), an origin likewise. */
              grpc_url: routeUrl.optional(),
              audience: z.string().min(1),
              scopes: scopeList,
              /** SPIFFE ID the destination must present, checked instead of its host name; needs https URLs. */
              spiffe_id: spiffeId.optional(),
            }),
          )
          .default({}),
      }),
    )
    // Rules between a route and the sidecar's tls; the path names the field at fault.
    .superRefine((sidecars, ctx) => {
      for (const [workload, sidecar] of Object.entries(sidecars)) {
        for (const [name, route] of Object.entries(sidecar.routes)) {
          // A field that is not a URL has its own issue already; parsed here it would throw out of the validation.
          const urls = (["url", "grpc_url"] as const).filter((field) => URL.canParse(route[field] ?? ""));
          const https = (field: (typeof urls)[number]): boolean => new URL(route[field] ?? "").protocol === "https:";
          // The sidecar's certificate is its identity to the next hop, and its ca_file what that hop is checked against.
          for (const field of urls.filter(https)) {
            if (!sidecar.tls) {
              ctx.addIssue({
                code: "custom",
                path: [workload, "routes", name, field],
                message: "an https:// route needs the sidecar's tls (its certificate and ca_file)",
              });
            }
          }
          // Over http:// no certificate is presented, so the ID could never be checked.
          const plain = urls.filter((field) => !https(field));
          if (route.spiffe_id !== undefined && plain.length > 0) {
            ctx.addIssue({
              code: "custom",
              path: [workload, "routes", name, "spiffe_id"],
              message: `needs https:// in ${plain.join(" and ")}: it is checked in the TLS handshake`,
            });
          }
        }
      }
    })
    .default({}),
  /**
   * How long a service (or sidecar) may take to start before its /healthz fails, so that an orchestrator restarts one
   * wedged for good (waiting on NATS or on a bucket its owner never makes); 0 for no limit.
   */
  startup_deadline: timerDuration.default(600),
  /** The user directory behind UserInfo: user id → OIDC claims. */
  users: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  telemetry: z
    .strictObject({
      /** Where spans go: none, console, or otlp. */
      exporter: z.enum(["none", "console", "otlp"]).default("none"),
      /** OTLP/HTTP endpoint for spans. */
      otlp_endpoint: z.url().optional(),
      /** Log level. */
      log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
      /** The gateway's handling of a caller's traceparent: `link` (a new trace, linked to it) or `continue` (join it). */
      incoming_trace: z.enum(["continue", "link"]).default("link"),
      /**
       * The gRPC services' handling of a caller's traceparent. `continue` (the default) keeps one trace across the
       * stack's internal calls; `link` is for gRPC ports that callers outside the mesh reach.
       */
      grpc_incoming_trace: z.enum(["continue", "link"]).default("continue"),
    })
    .prefault({}),
});

/** The validated configuration. */
export type StsConfig = z.output<typeof configSchema>;
/** One validated client. */
export type ClientConfig = z.output<typeof clientSchema>;
/** One validated hop. */
export type HopConfig = z.output<typeof hopSchema>;
/** The validated `nats` section. */
export type NatsConfig = z.output<typeof natsSchema>;
