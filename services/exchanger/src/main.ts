/** Exchanger entry point: config → telemetry, signals and admin server → NATS caches → gRPC clients and server. */
import { Metadata } from "@grpc/grpc-js";
import { connectStack, runService } from "@sts/runtime";
import type { StartedService } from "@sts/runtime";
import { ASSERTION_ALGORITHMS, maxBodyBytesFor } from "@sts/config";
import { isClientMarker, parseClientRecord } from "@sts/client-auth";
import { PublicKeyRing, parseStoredKey } from "@sts/keys";
import { VerifiedTokens } from "@sts/jwt";
import { BUCKETS, EVENT_TYPES, encodeKey, EventPublisher, KvCache, eventSubject, openBucket } from "@sts/nats";
import { RevocationCache, RevocationList, StalenessGuard } from "@sts/revocation";
import { callUnary, coalescedCalls, createClient, openGrpcCredentials, receiveBytesFor, startGrpcServer } from "@sts/grpc";
import { loadExchangeProto, loadPolicyProto, loadTokenProto, PROTO_FILES } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import type {
  AuthenticateClientRequest,
  AuthenticateClientResponse__Output,
  DecideRequest,
  Decision__Output,
  MintRequest,
  MintResponse__Output,
  RevokeSubjectRequest,
  RevokeSubjectResponse__Output,
} from "@sts/proto";
import { readSettings } from "./config.js";
import type { ExchangerSettings } from "./config.js";
import { DecisionCache, announcedVersion } from "./decision-cache.js";
import type { PolicyVersion } from "./decision-cache.js";
import { exchangeService } from "./service.js";
import { TrustedIssuers } from "./trusted-issuers.js";

/** Waits for what the exchanger needs (NATS, the issuer's buckets, its gRPC identity), then serves. */
async function serve({ config, internalAuthorization, now, nowMs, trustedIssuers }: ExchangerSettings, logger: Logger): Promise<StartedService> {
  // Before anything connects: an introspection secret that cannot be read stops the start, naming its setting.
  const trusted = new TrustedIssuers(trustedIssuers, {
    nowMs,
    onBreaker: (issuer, state) =>
      state === "open"
        ? logger.warn(
            { issuer },
            "trusted issuer's introspection endpoint keeps failing: breaker open, its tokens are refused (temporarily_unavailable) without a call",
          )
        : logger.info(
            { issuer, state },
            `trusted issuer's introspection breaker ${state === "closed" ? "closed: calls resumed" : "half open: one call probes the endpoint"}`,
          ),
  });

  const nats = await connectStack("exchanger", config, logger);
  // The issuer owns these buckets: the exchanger only reads them, so it binds, waiting (unready) until they exist.
  const reader = { bind: true, waitForOwner: true, logger };
  const [clientsKv, keysKv, revocationsKv] = await Promise.all([
    openBucket(nats, BUCKETS.clients, reader),
    openBucket(nats, BUCKETS.keys, reader),
    openBucket(nats, BUCKETS.revocations, reader),
  ]);
  const clients = new KvCache(clientsKv, { parse: parseClientRecord, absent: isClientMarker, invalid: "forget", logger });
  const keysCache = new KvCache(keysKv, { parse: parseStoredKey, invalid: "forget", logger, key: "key.>" });
  // Read anew hourly and pruned past each record's use, so memory follows the live tokens, not the process's age.
  const revocationsCache = new RevocationCache(revocationsKv, { logger, now, clockToleranceSeconds: config.tokens.clock_tolerance });
  await Promise.all([clients.ready(), keysCache.ready(), revocationsCache.ready()]);

  const maxLifetime = Math.max(config.tokens.access_token_ttl, ...config.clients.map((c) => c.access_token_ttl ?? 0));
  const keys = new PublicKeyRing(
    () => [...keysCache.values()],
    { rotateAfter: config.keys.rotate_after, maxTokenLifetime: maxLifetime, clockTolerance: config.tokens.clock_tolerance },
    now,
  );

  const issuerAddress = `${config.services.issuer.host}:${config.services.issuer.port}`;
  const policyAddress = `${config.services.policy.host}:${config.services.policy.port}`;
  const tls = await openGrpcCredentials(config.grpc_tls, logger);
  const issuerClient = createClient(loadTokenProto().sts.token.v1.TokenService, issuerAddress, tls.channelTo("issuer"));
  const policyClient = createClient(loadPolicyProto().sts.policy.v1.PolicyService, policyAddress, tls.channelTo("policy"));
  const timeout = config.exchange.call_timeout_ms;
  // Calls made for an Exchange end by its caller's deadline when that comes before `timeout`, and are cancelled when the
  // caller goes: the policy service and the issuer do not work on for a caller that has left (one object for every call).
  const forTheCaller = { deadlineMs: timeout, parent: "incoming" } as const;
  /** Metadata of calls made as the exchanger's internal client (Mint, RevokeSubject). */
  function internalMetadata(): Metadata {
    const metadata = new Metadata();
    metadata.set("authorization", internalAuthorization);
    return metadata;
  }
  // Concurrent exchanges mint in one MintBatch call, authenticated as the exchanger's internal client.
  const mintCalls = coalescedCalls<MintRequest, MintResponse__Output>({
    client: issuerClient,
    method: "MintBatch",
    deadlineMs: timeout,
    metadata: internalMetadata,
  });
  const decisions = new DecisionCache(
    (request) => callUnary<DecideRequest, Decision__Output>(policyClient, "Decide", request, forTheCaller),
    config.exchange.decision_cache_ttl * 1000,
  );
  // Every policy replica announces changes; any change drops every cached decision.
  const policySub = nats.nc.subscribe(eventSubject(EVENT_TYPES.POLICY_UPDATED), {
    callback: (err, msg) => {
      let announced: PolicyVersion | undefined;
      try {
        // Its id names the bucket's generation: one made anew is newer whatever its revision.
        announced = announcedVersion(msg.json<{ id?: unknown; data?: { revision?: unknown } }>());
      } catch {
        // An unreadable event still drops the cache.
      }
      decisions.invalidate(announced);
      logger.info({ revision: announced?.revision.toString(), generation: announced?.generation, err }, "policy updated: decision cache dropped");
    },
  });

  const proto = loadExchangeProto();
  const server = await startGrpcServer({
    host: config.services.exchanger.bind,
    port: config.services.exchanger.port,
    credentials: tls.server,
    maxReceiveMessageLength: receiveBytesFor(maxBodyBytesFor(config.tokens.max_token_bytes)),
    services: [
      {
        definition: proto.sts.exchange.v1.ExchangeService.service,
        implementation: exchangeService({
          issuer: config.issuer,
          auth: {
            lookup: (id) => clients.get(encodeKey(id)),
            // private_key_jwt: the issuer checks the assertion, so its single use is recorded in one place for every endpoint.
            verifyAssertion: async (assertion, type, claimedClientId, endpoint) => {
              const r = await callUnary<AuthenticateClientRequest, AuthenticateClientResponse__Output>(
                issuerClient,
                "AuthenticateClient",
                { client: { client_assertion: assertion, client_assertion_type: type, client_id: claimedClientId ?? "", endpoint: endpoint ?? "" } },
                forTheCaller,
              );
              return r.client_id;
            },
          },
          keys,
          algorithms: [...new Set([config.keys.algorithm, ...ASSERTION_ALGORITHMS])],
          // Exchanging writes state (a new token): past the bounded staleness it fails closed, like the issuer and the sidecars.
          revocations: new RevocationList(revocationsKv, revocationsCache, new StalenessGuard(nats, config.tokens.revocation_max_staleness * 1000)),
          verified: new VerifiedTokens(),
          trusted,
          decisions,
          // A batch is held no longer than its latest member's caller and is not cut short by an earlier one's.
          mint: (request) => mintCalls.call(request, forTheCaller),
          // Not bounded by the logout's caller: a revocation under way is finished even if the provider stops waiting.
          revokeSubject: (request) =>
            callUnary<RevokeSubjectRequest, RevokeSubjectResponse__Output>(issuerClient, "RevokeSubject", request, {
              deadlineMs: timeout,
              metadata: internalMetadata(),
            }),
          events: new EventPublisher(nats, { source: "sts/exchanger", logger }),
          now,
          clockTolerance: config.tokens.clock_tolerance,
          maxTokenBytes: config.tokens.max_token_bytes,
          maxDepth: config.exchange.max_depth,
          logger,
        }),
      },
    ],
    reflection: { protoFiles: PROTO_FILES },
    logger,
  });
  server.setServing(nats.isConnected());
  nats.onStatusChange((connected) => {
    server.setServing(connected);
    // Changes may have been missed while disconnected.
    if (connected) decisions.invalidate();
  });
  logger.info({ port: server.port }, "exchanger listening");
  return {
    // Its gRPC identity lost for good (its agent refusing the stream): only a restart helps.
    checks: { live: () => !tls.lost(), ready: () => server.isServing() },
    stop: async () => {
      await server.shutdown(5_000);
      policySub.unsubscribe();
      issuerClient.close();
      policyClient.close();
      tls.close();
      for (const cache of [clients, keysCache, revocationsCache]) cache.stop();
      await nats.close();
    },
  };
}

runService("exchanger", readSettings, serve);
