/** Policy service entry point: config → telemetry, signals and admin server → NATS → seed hops, retire dropped ones → live engine, records replayed → revocations, JWKS → gRPC. */
import { connectStack, runService } from "@sts/runtime";
import type { StartedService } from "@sts/runtime";
import { BUCKETS, DEFAULT_PROBE_INTERVAL_MS, EventPublisher, KvCache, encodeKey, openBucket } from "@sts/nats";
import { StalenessGuard } from "@sts/revocation";
import { openGrpcCredentials, receiveBytesFor, startGrpcServer } from "@sts/grpc";
import { openStackTokens } from "@sts/mesh";
import { loadPolicyProto, PROTO_FILES } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import { readSettings } from "./config.js";
import type { PolicySettings } from "./config.js";
import { compileConfigHops } from "./policy-text.js";
import { LivePolicySet } from "./live-policies.js";
import { bucketGeneration, readBucketGeneration } from "./policy-updated.js";
import { announceHistory } from "./missed-records.js";
import { operatorAccess } from "./operator-access.js";
import { MAX_POLICY_BYTES, MAX_STORED_POLICY_BYTES, PolicyStore, parseWatchedPolicy, unreadablePolicy } from "./policy-store.js";
import { policyService } from "./service.js";

/** How often readiness is looked at again: a copy goes stale with time, not with an event. */
const READINESS_CHECK_MS = 1_000;

/** Waits for what the policy service needs (NATS, its bucket, the issuer's revocations, its gRPC identity), then serves. */
async function serve({ config, breakGlassToken, now }: PolicySettings, logger: Logger): Promise<StartedService> {
  // Before any wait: a config file whose hops cannot be policies is refused at once.
  const hopPolicies = compileConfigHops(config.policy.hops, config.policy.max_policies);
  if (!breakGlassToken) logger.warn("STS_POLICY_ADMIN_TOKEN is not set: operator calls need an operator's access token, there is no break-glass credential");

  const nats = await connectStack("policy", config, logger);
  // The policy service owns this bucket: a changed replica count reaches an existing one.
  const kv = await openBucket(nats, BUCKETS.policies, {
    owner: true,
    history: 10,
    replicas: config.nats.replicas,
    maxValueSize: MAX_STORED_POLICY_BYTES,
    logger,
  });
  const cache = new KvCache(kv, {
    // A record that is no policy is held as a marker, which keeps the set in force (see parseWatchedPolicy).
    parse: parseWatchedPolicy,
    // Not even JSON (half written, another encoding): a marker too, rather than a record left out.
    unreadable: unreadablePolicy,
    // Forgetting could lift a forbid; the version this replica last read stays enforced (and the write is logged).
    invalid: "keep-previous",
    logger,
    probeIntervalMs: DEFAULT_PROBE_INTERVAL_MS,
  });
  await cache.ready();
  const store = new PolicyStore(kv, now, config.config_revision);
  const seeded = await store.seed(hopPolicies, (id) => cache.entry(encodeKey(id)));
  logger.info({ seeded: seeded.written, hops: config.policy.hops.length }, "hop policies seeded");
  if (seeded.keptDeleted.length > 0) {
    logger.warn(
      { policy_ids: seeded.keptDeleted },
      "hop policies of the config file that are deleted (by an operator through the API, or retired when a config file left them out) stay deleted: hand them back to the config file with `stsctl policy reset <id>`, or take the hops out of the config file",
    );
  }
  // The file is the source of truth for the hops it manages: a permit it no longer declares must not go on allowing.
  const { retired, keptNewer } = await store.retireUndeclared(
    new Set(hopPolicies.map((p) => p.id)),
    cache.entries().map(([key, e]) => [key, { value: e.value, revision: e.revision }]),
  );
  if (retired.length > 0) logger.warn({ policy_ids: retired }, "hop policies the config file no longer declares are retired (deleted)");
  const newer = [...seeded.keptNewer, ...keptNewer];
  if (newer.length > 0) {
    logger.warn(
      { policy_ids: newer, config_revision: config.config_revision },
      "hop policies written from a config file of a higher config_revision are left as that file wrote them (this file is the older one, or was not given a higher revision when it changed)",
    );
  }

  const events = new EventPublisher(nats, { source: "sts/policy", logger });
  const generation = await bucketGeneration(kv);
  const live = new LivePolicySet(cache, events, logger, {
    generation,
    // As the revocation readers: decisions from a copy that may miss an operator's newer forbid fail closed past the bound.
    staleness: new StalenessGuard(nats, config.policy.max_staleness * 1000),
    probeIntervalMs: DEFAULT_PROBE_INTERVAL_MS,
    readGeneration: () => readBucketGeneration(kv),
  });
  let stopping = false;
  // In the background: the replica serves while records it cannot store yet are retried.
  void announceHistory(kv, events, logger, { generation, stopped: () => stopping }).then((records) =>
    logger.info({ records }, "operators' changes the policies bucket's history holds announced again"),
  );
  // Operators' tokens are checked against the issuer's revocations: until the issuer has made the bucket, this waits (unready).
  const tokens = await openStackTokens(nats, { issuer: config.issuer, audience: config.policy.api_audience, tokens: config.tokens, now, logger });
  const operators = operatorAccess({ breakGlassToken, tokens: tokens.inbound, readScope: config.policy.read_scope, writeScope: config.policy.write_scope });
  const proto = loadPolicyProto();
  const tls = await openGrpcCredentials(config.grpc_tls, logger);
  const server = await startGrpcServer({
    host: config.services.policy.bind,
    port: config.services.policy.port,
    credentials: tls.server,
    // A Put or a what-if carries a policy text of up to MAX_POLICY_BYTES beside its id and description: the default
    // (64 KiB for the whole message) refused, RESOURCE_EXHAUSTED, texts that validation accepts and hops are seeded with.
    maxReceiveMessageLength: receiveBytesFor(MAX_POLICY_BYTES),
    services: [
      {
        definition: proto.sts.policy.v1.PolicyService.service,
        implementation: policyService({
          live,
          store,
          operators,
          logger,
          configPolicies: new Map(hopPolicies.map((p) => [p.id, p])),
          maxPolicies: config.policy.max_policies,
          ...(config.grpc_tls?.spiffe_ids?.exchanger && { deciderSpiffeId: config.grpc_tls.spiffe_ids.exchanger }),
        }),
      },
    ],
    reflection: { protoFiles: PROTO_FILES },
    logger,
  });
  // Ready only while it would decide: a replica refusing Decide takes no new callers.
  const serving = (): boolean => nats.isConnected() && live.fresh();
  server.setServing(serving());
  nats.onStatusChange(() => server.setServing(serving()));
  const readiness = setInterval(() => server.setServing(serving()), READINESS_CHECK_MS).unref();
  logger.info({ port: server.port, policies: live.list().length, audience: config.policy.api_audience }, "policy service listening");
  return {
    // Its gRPC identity lost for good (its agent refusing the stream): only a restart helps.
    checks: { live: () => !tls.lost(), ready: () => server.isServing() },
    stop: async () => {
      stopping = true;
      clearInterval(readiness);
      await server.shutdown(5_000);
      tls.close();
      live.stop();
      cache.stop();
      tokens.stop();
      await nats.close();
    },
  };
}

runService("policy", readSettings, serve);
