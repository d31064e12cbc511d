/** The A → B → C chain of the exchange issue, shared by the gRPC and HTTP tests. */
import { Metadata, credentials } from "@grpc/grpc-js";
import type { ChannelCredentials, ServiceError } from "@grpc/grpc-js";
import { loadAuditProto, loadExchangeProto, loadPolicyProto, loadTokenProto } from "@sts/proto";
import type {
  AuditServiceClient,
  Decision__Output,
  ExchangeRequest,
  ExchangeResponse__Output,
  ExchangeServiceClient,
  MintResponse__Output,
  PolicyServiceClient,
  TokenServiceClient,
} from "@sts/proto";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { basicAuth, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

export const TOKEN_TYPE_AT = "urn:ietf:params:oauth:token-type:access_token";
export const EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
export const SECRET = "chain-secret-0000000001";

/** Clients for workloads that call on through their sidecars (each sidecar exchanges as its workload), one per id. */
export function workloadClients(...ids: string[]): Array<Record<string, unknown>> {
  return ids.map((client_id) => ({ client_id, client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: [] }));
}

/** Config of the chain: an end client, services A, B, C (and D for depth), and the hops. */
export const chainConfig = {
  tokens: { clock_tolerance: 0 },
  exchange: { max_depth: 2 },
  policy: {
    hops: [
      { from: "svc-a", to: "svc-b", scopes: ["b", "c", "read:/data"], max_depth: 2 },
      { from: "svc-b", to: "svc-c", scopes: ["c"], max_depth: 2 },
      { from: "svc-c", to: "svc-d", scopes: ["c"], max_depth: 5 },
    ],
  },
  clients: [
    { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b", "c", "d", "read:/data"], audience: ["svc-a"] },
    { client_id: "short-lived", client_secret: SECRET, scope: ["a", "b", "c"], audience: ["svc-a"], access_token_ttl: 2 },
    ...["svc-a", "svc-b", "svc-c", "svc-d"].map((id) => ({
      client_id: id,
      client_secret: SECRET,
      grant_types: ["client_credentials", EXCHANGE_GRANT],
      scope: [],
      audience: [],
      // D resolves its tokens by introspection: what C gets for D is opaque.
      ...(id === "svc-c" && { access_token_format: { "svc-d": "opaque" } }),
    })),
  ],
};

/** A gRPC error as code + OAuth error. */
export interface CallFailure {
  grpcCode: number;
  error: string | undefined;
  description: string;
}

/** Call metadata with `authorization: Bearer <credential>`, or none without a credential. */
export function bearer(credential?: string): Metadata {
  const m = new Metadata();
  if (credential !== undefined) m.set("authorization", `Bearer ${credential}`);
  return m;
}

/** What {@link call} resolves to: the response, or the failure. */
export type CallResult<Res> = { ok: true; value: Res } | { ok: false; failure: CallFailure };

/** The value of a call that must succeed; its failure thrown, code and description. */
export function ok<T>(r: CallResult<T>): T {
  if (!r.ok) throw new Error(`${r.failure.error}: ${r.failure.description}`);
  return r.value;
}

/** A Decide question: svc-a asks to exchange a token of the end user's for svc-b (a hop chainConfig allows). */
export const A_TO_B_QUESTION = {
  client_id: "svc-a",
  audience: "svc-b",
  requested_scopes: ["b"],
  subject: { sub: "u", client_id: "end-user-app", iss: "x", scopes: ["b"], audience: ["svc-a"] },
  depth: 1,
  actors: [],
  caller_in_audience: true,
};

/** svc-a asking to exchange alice's token (issued to `app` for svc-a) for `audience` with `scopes`. */
export function svcAQuestion(audience: string, scopes: string[]): Record<string, unknown> {
  return {
    client_id: "svc-a",
    audience,
    requested_scopes: scopes,
    subject: { sub: "alice", client_id: "app", iss: "https://sts.example", scopes, audience: ["svc-a"] },
    depth: 1,
    actors: [],
    caller_in_audience: true,
  };
}

/** A policy replica's Decide on A_TO_B_QUESTION: "allow", "deny", or "refused: <the OAuth error>". */
export async function decisionOf(policy: object): Promise<string> {
  const r = await call<Decision__Output>(policy, "Decide", A_TO_B_QUESTION);
  return r.ok ? (r.value.allow ? "allow" : "deny") : `refused: ${r.failure.error}`;
}

/** Promisified unary call that returns either the response or the failure. */
export function call<Res>(client: object, method: string, request: object, metadata = new Metadata()): Promise<CallResult<Res>> {
  return new Promise((resolve) => {
    const fn = (client as Record<string, (r: object, m: Metadata, cb: (e: ServiceError | null, v?: Res) => void) => void>)[method] as (
      r: object,
      m: Metadata,
      cb: (e: ServiceError | null, v?: Res) => void,
    ) => void;
    fn.call(client, request, metadata, (err, value) => {
      if (err) {
        const error = err.metadata?.get("oauth-error")[0];
        resolve({ ok: false, failure: { grpcCode: err.code, error: typeof error === "string" ? error : undefined, description: err.details } });
      } else resolve({ ok: true, value: value as Res });
    });
  });
}

/** A plaintext TokenService client for one issuer (a stack's, or a replica's). */
export function tokenClient(address: string): TokenServiceClient {
  return new (loadTokenProto().sts.token.v1.TokenService)(address, credentials.createInsecure());
}

/** gRPC clients for a stack's services. */
export function clients(address: { issuer: string; exchanger: string; policy: string; audit: string }): {
  token: TokenServiceClient;
  exchange: ExchangeServiceClient;
  policy: PolicyServiceClient;
  audit: AuditServiceClient;
  close(): void;
} {
  const token = tokenClient(address.issuer);
  const exchange = new (loadExchangeProto().sts.exchange.v1.ExchangeService)(address.exchanger, credentials.createInsecure());
  const policy = new (loadPolicyProto().sts.policy.v1.PolicyService)(address.policy, credentials.createInsecure());
  const audit = new (loadAuditProto().sts.audit.v1.AuditService)(address.audit, credentials.createInsecure());
  return { token, exchange, policy, audit, close: () => [token, exchange, policy, audit].forEach((c) => c.close()) };
}

/** A test file's stack (started once) and its gRPC clients, filled in by beforeAll. */
export interface FileStack {
  stack: Stack;
  grpc: ReturnType<typeof clients>;
}

/**
 * Starts a stack on `config` for the test file (beforeAll), waits before each test until it has recovered from the
 * faults of the tests before (beforeEach), and stops it after; call at the file's top level.
 */
export function stackForFile(config: Record<string, unknown>): FileStack {
  const held = {} as FileStack;
  beforeAll(async () => {
    held.stack = await startStack(config);
    held.grpc = clients(held.stack.address);
  }, 90_000);
  beforeEach(() => held.stack.ready(), 30_000);
  afterAll(async () => {
    held.grpc?.close();
    await held.stack?.stop();
  });
  return held;
}

/** An Exchange request made by `caller` (client_secret_basic). */
export function exchangeRequest(caller: string, subjectToken: string, more: Partial<ExchangeRequest> = {}): ExchangeRequest {
  return { client: { authorization: basicAuth(caller, SECRET) }, subject_token: subjectToken, subject_token_type: TOKEN_TYPE_AT, ...more };
}

/** Runs Exchange over gRPC. */
export function exchange(c: ExchangeServiceClient, caller: string, subjectToken: string, more: Partial<ExchangeRequest> = {}) {
  return call<ExchangeResponse__Output>(c, "Exchange", exchangeRequest(caller, subjectToken, more));
}

/** AT1: a client_credentials token for scopes `a b c` and audience svc-a, the start of the chain. */
export async function chainStartToken(gatewayUrl: string): Promise<string> {
  const r = await postForm(
    `${gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope: "a b c" },
    { authorization: basicAuth("end-user-app", SECRET) },
  );
  if (r.status !== 200) throw new Error(`client_credentials failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token as string;
}

/**
 * Mint on `client` as the exchanger (its internal client secret): a token of `app` for svc-a with scope a and a minute to
 * live, `fields` changed.
 */
export function mintAsExchanger(
  client: TokenServiceClient,
  internalSecret: string,
  fields: Record<string, unknown> = {},
): Promise<CallResult<MintResponse__Output>> {
  const internal = new Metadata();
  internal.set("authorization", basicAuth("sts-exchanger", internalSecret));
  const request = {
    sub: "app",
    client_id: "app",
    audience: ["svc-a"],
    scope: "a",
    not_after: String(Math.floor(Date.now() / 1000) + 60),
    requested_token_type: TOKEN_TYPE_AT,
    ...fields,
  };
  return call<MintResponse__Output>(client, "Mint", request, internal);
}

/**
 * Mint for the app over `channel`, with the exchanger's internal client secret: what the issuer answers a peer that
 * holds the secret, which it should only when the peer presents the exchanger's certificate (grpc_tls.spiffe_ids).
 */
export async function mintOver(address: string, channel: ChannelCredentials, internalSecret: string): Promise<CallResult<MintResponse__Output>> {
  const client = new (loadTokenProto().sts.token.v1.TokenService)(address, channel);
  try {
    return await mintAsExchanger(client, internalSecret);
  } finally {
    client.close();
  }
}

/** Decide for svc-a → svc-b over `channel`: answered only to the exchanger's certificate with grpc_tls.spiffe_ids. */
export async function decideOver(address: string, channel: ChannelCredentials): Promise<CallResult<Decision__Output>> {
  const client = new (loadPolicyProto().sts.policy.v1.PolicyService)(address, channel);
  const request = {
    client_id: "svc-a",
    audience: "svc-b",
    requested_scopes: ["b"],
    subject: { sub: "app", client_id: "app", scopes: ["a", "b"], audience: ["svc-a"] },
    depth: 1,
  };
  try {
    return await call<Decision__Output>(client, "Decide", request);
  } finally {
    client.close();
  }
}
