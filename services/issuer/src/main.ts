/** Issuer entry point: config → telemetry, signals and admin server → NATS state → gRPC server. */
import { connectStack, runService } from "@sts/runtime";
import type { StartedService } from "@sts/runtime";
import { ASSERTION_ALGORITHMS, DEFAULT_MAX_MANAGED_CLIENTS, maxBodyBytesFor } from "@sts/config";
import {
  ClientKeySets,
  KeyServerAddresses,
  assertionAudiences,
  isClientMarker,
  jwksUriProblem,
  parseClientRecord,
  verifyClientSignedAssertion,
} from "@sts/client-auth";
import type { AssertionDeps, AuthenticateDeps } from "@sts/client-auth";
import { invalidClient } from "@sts/errors";
import { JWT_BEARER, VerifiedTokens, issuerEndpoint } from "@sts/jwt";
import { callerAuthenticator } from "@sts/mesh";
import { kvJtiRecorder } from "./assertion-replay.js";
import type { JtiNamespace } from "./assertion-replay.js";
import { RefreshTokens } from "./refresh-tokens.js";
import { recordSubjectRevocation } from "./subject-revocation.js";
import {
  JWKS_EDGE_CACHE_SECONDS,
  JWKS_EDGE_STALE_SECONDS,
  JWKS_VERIFIER_CACHE_SECONDS,
  PublicKeyRing,
  SigningKeyRing,
  parseStoredKey,
  prepublishLeadSeconds,
} from "@sts/keys";
import { BUCKETS, EventPublisher, KvCache, dropHistory, openBucket } from "@sts/nats";
import { RevocationCache, RevocationList, StalenessGuard } from "@sts/revocation";
import { openGrpcCredentials, receiveBytesFor, startGrpcServer } from "@sts/grpc";
import { loadClientsProto, loadKeysProto, loadTokenProto, PROTO_FILES } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import { readSettings } from "./config.js";
import type { IssuerSettings } from "./config.js";
import { kvKeyStore } from "./key-store.js";
import { keyMaintenance, keyService, withdrawalCompleter } from "./key-management.js";
import type { KeyManagementDeps } from "./key-management.js";
import { TokenMinter } from "./mint.js";
import { OpaqueTokens } from "./opaque-tokens.js";
import { CONFIG_FILE, ClientRegistry } from "./registry.js";
import type { NewerEntry } from "./registry.js";
import { clientService, tokenService } from "./service.js";
import type { TokenServiceDeps } from "./service.js";
import type { ManagementDeps } from "./client-management.js";
import { inspectToken } from "./inspect.js";

const ROTATION_CHECK_MS = 60_000;

/** Waits for what the issuer needs (NATS, its buckets and keys, its gRPC identity), then serves. */
async function serve(settings: IssuerSettings, logger: Logger): Promise<StartedService> {
  const { config, now } = settings;
  const nats = await connectStack("issuer", config, logger);
  // Registered clients are held to these too (client management), so every bucket and the key tail sized from them hold.
  const maxLifetime = Math.max(config.tokens.access_token_ttl, ...config.clients.map((c) => c.access_token_ttl ?? 0));
  const maxRefreshLifetime = Math.max(86_400, ...config.clients.map((c) => c.refresh_token_ttl));
  const assertionWindow = config.tokens.assertion_max_lifetime + config.tokens.clock_tolerance;
  // A subject revocation covers every token of the subject issued before it, refresh tokens included, so it is kept
  // until the longest of them has expired; the bucket holds it a minute past what verifiers hold it for.
  const subjectRevocationCovers = Math.max(maxLifetime, maxRefreshLifetime) + config.tokens.clock_tolerance;
  const revocationsTtl = Math.max(86_400, maxLifetime * 2, subjectRevocationCovers + config.tokens.clock_tolerance + 60);
  // The issuer owns these buckets: created with, and kept to, the configured lifetimes and replicas (a changed
  // config reaches an existing bucket; the exchanger and sidecars only read clients, keys and revocations).
  const owned = { owner: true, replicas: config.nats.replicas, logger };
  const [clientsKv, keysKv, revocationsKv, opaqueKv, jtiKv, refreshKv] = await Promise.all([
    openBucket(nats, BUCKETS.clients, { ...owned, history: 5 }),
    openBucket(nats, BUCKETS.keys, { ...owned, history: 1 }),
    openBucket(nats, BUCKETS.revocations, { ...owned, history: 1, ttlMs: revocationsTtl * 1000 }),
    openBucket(nats, BUCKETS.opaque, { ...owned, history: 1, ttlMs: Math.max(86_400, maxLifetime * 2) * 1000 }),
    openBucket(nats, BUCKETS.jti, { ...owned, history: 1, ttlMs: (assertionWindow + 60) * 1000 }),
    openBucket(nats, BUCKETS.refresh, { ...owned, history: 1, ttlMs: maxRefreshLifetime * 2 * 1000 }),
  ]);
  const clientsCache = new KvCache(clientsKv, { parse: parseClientRecord, absent: isClientMarker, invalid: "forget", logger });
  const keysCache = new KvCache(keysKv, { parse: parseStoredKey, invalid: "forget", logger, key: "key.>" });
  // Read anew hourly and pruned past each record's use, so memory follows the live tokens, not the process's age.
  const revocationsCache = new RevocationCache(revocationsKv, { logger, now, clockToleranceSeconds: config.tokens.clock_tolerance });
  await Promise.all([clientsCache.ready(), keysCache.ready(), revocationsCache.ready()]);

  const registry = new ClientRegistry(clientsKv, clientsCache, now, (key) => dropHistory(nats, BUCKETS.clients, key), config.config_revision);
  const seeded = await registry.seed(config.clients);
  logger.info({ seeded: seeded.written, clients: config.clients.length, config_revision: config.config_revision }, "client registry seeded");
  if (seeded.keptRetired.length > 0) {
    logger.warn(
      { clients: seeded.keptRetired },
      "clients the config file declares were retired from this very entry (a newer config file left them out, or this file is an older one): they stay retired; to bring one back, change its entry (a new secret or new keys)",
    );
  }
  if (seeded.keptNewer.length > 0) {
    logger.warn(
      { clients: seeded.keptNewer, config_revision: config.config_revision },
      "clients whose entries differ in this config file were written from a file of a higher config_revision: left as that file wrote them (this file is the older one, or was not given a higher revision when it changed)",
    );
  }

  const lifecycle = { rotateAfter: config.keys.rotate_after, maxTokenLifetime: maxLifetime, clockTolerance: config.tokens.clock_tolerance };
  const keyStore = kvKeyStore(keysKv, keysCache);
  const ring = new SigningKeyRing({
    store: keyStore,
    algorithm: config.keys.algorithm,
    policy: lifecycle,
    ...(settings.masterKey && { masterKey: settings.masterKey }),
    ...(settings.previousMasterKeys.length > 0 && { previousMasterKeys: settings.previousMasterKeys }),
    ...(config.keys.jwk_file && { jwkFile: config.keys.jwk_file }),
    // Long enough for every verifier caching the JWKS (gateway max-age and its own cache, clock skew) to have the key.
    prepublishSeconds: prepublishLeadSeconds(config.tokens.clock_tolerance),
    // A key whose withdrawal an operator began is not brought forward in place of another: the minter refuses it.
    revokedKid: (kid) => revocationsCache.isKeyWithdrawn(config.issuer, kid),
    now,
  });
  await ring.init();
  const publicKeys = new PublicKeyRing(() => keyStore.list(), lifecycle, now);
  const events = new EventPublisher(nats, { source: "sts/issuer", logger });
  // Scheduled rotations are recorded as key.rotated by "schedule"; one whose event could not be stored is logged and
  // published again at the next check (the rotation itself stands: there is no caller to fail closed to).
  const maintainKeys = keyMaintenance(ring, events, logger);
  // Introspection answers from the cache only while it can be trusted to hold every revocation.
  const revocations = new RevocationList(revocationsKv, revocationsCache, new StalenessGuard(nats, config.tokens.revocation_max_staleness * 1000));
  // A Withdraw cut off after its revocation (the issuer died, NATS failed) is completed here rather than left to the
  // operator's retry: until then the minter refuses to sign with the revoked key.
  const completeWithdrawals = withdrawalCompleter({ issuer: config.issuer, ring, revocations, events, logger, now });
  void completeWithdrawals();
  const rotation = setInterval(() => {
    void completeWithdrawals().then(() => maintainKeys().catch((err: unknown) => logger.error({ err }, "key maintenance failed")));
  }, ROTATION_CHECK_MS);
  rotation.unref();

  const opaque = new OpaqueTokens(opaqueKv);
  const minter = new TokenMinter({
    issuer: config.issuer,
    ring,
    opaque,
    events,
    now,
    signingKeyWithdrawn: (kid) => revocations.isKeyWithdrawn(config.issuer, kid),
    onSigningKeyWithdrawn: () => void completeWithdrawals(),
    maxTokenBytes: config.tokens.max_token_bytes,
  });
  const lookup = (id: string): ReturnType<typeof registry.lookup> => registry.lookup(id);
  // Config-file clients too: a record's jwks_uri can be changed by its admin or itself (RFC 7592) after seeding.
  const allowPrivateNetworks = config.client_jwks_uri.allow_private_networks;
  const keySets = new ClientKeySets({ allowPrivateNetworks, logger });
  const keyServers = new KeyServerAddresses(allowPrivateNetworks);
  for (const c of config.clients.filter((c) => c.jwks_uri && jwksUriProblem(c.jwks_uri, keyServers))) {
    logger.warn(
      { client_id: c.client_id },
      "this client's jwks_uri names an address the issuer does not fetch from: list its network in client_jwks_uri.allow_private_networks",
    );
  }
  const assertionDeps = (namespace: JtiNamespace): AssertionDeps => ({
    lookup,
    recordJti: kvJtiRecorder(jtiKv, namespace),
    // The sole aud of an assertion: the issuer identifier (draft-ietf-oauth-rfc7523bis), and the token endpoint URL
    // that RFC 7523 §3 allowed only where tokens.assertion_audience lets clients configured before the draft send it.
    audiences: assertionAudiences(config.issuer, {
      ...(config.tokens.assertion_audience === "issuer_or_token_endpoint" && { tokenEndpoint: issuerEndpoint(config.issuer, "/oauth2/token") }),
    }),
    // A refused client assertion's detail (never the assertion): its answer says only that authentication failed.
    logger,
    now,
    maxLifetime: config.tokens.assertion_max_lifetime,
    clockTolerance: config.tokens.clock_tolerance,
    maxBytes: config.tokens.max_token_bytes,
    keySets,
  });
  const clientAssertions = assertionDeps("client_assertion");
  const auth: AuthenticateDeps = {
    lookup,
    verifyAssertion: async (assertion, type, claimedClientId) => {
      if (type !== JWT_BEARER.CLIENT_ASSERTION_TYPE) throw invalidClient("unsupported client_assertion_type");
      const verified = await verifyClientSignedAssertion(assertion, clientAssertions, invalidClient, {
        requireSubIsIssuer: true,
        ...(claimedClientId && { expectedClientId: claimedClientId }),
      });
      return verified.clientId;
    },
  };

  // Clients and users share the `sub` namespace: no client may take, or get tokens under, a user's id.
  const isUser = (sub: string): boolean => Object.hasOwn(config.users, sub);
  // One an earlier release let an admin name like a user, or whose id a user was given since, gets no token of its own
  // (unauthorized_client): said at start, so its operator hears of it before its callers do.
  const userNamed = [...clientsCache.values()].map((c) => c.client_id).filter(isUser);
  if (userNamed.length > 0) {
    logger.warn(
      { clients: userNamed },
      "clients whose id is a user's in users get no token of their own: delete them (their admin can register them again under another name), or take the user out of users",
    );
  }
  const subjectIssuers = [config.issuer, ...config.exchange.trusted_issuers.map((t) => t.issuer)];
  // The bucket itself, not this replica's copy: a refresh or an assertion a moment after a sign-out must not slip through.
  const subjectRevokedAt = (sub: string): Promise<number | undefined> => revocations.storedSubjectRevokedAt(config.issuer, sub);
  const algorithms = [...new Set([config.keys.algorithm, ...ASSERTION_ALGORITHMS])];
  // Operators' tokens are ours: verified against this replica's own key ring and revocations, as every verifier does.
  const authenticateOperator = callerAuthenticator({
    breakGlassToken: undefined,
    anonymousWithoutBreakGlass: false,
    tokens: {
      issuer: config.issuer,
      audience: config.issuer_admin.api_audience,
      // Resolved at each call, not once at start: a key made since (a rotation, a withdrawal's successor) must verify,
      // and a withdrawn one must not.
      keys: (header, token) => publicKeys.keyResolver()(header, token),
      algorithms,
      revocations,
      clockTolerance: config.tokens.clock_tolerance,
      maxBytes: config.tokens.max_token_bytes,
      now,
      verified: new VerifiedTokens(),
    },
    holder: "an operator's",
  });
  const tokenDeps: TokenServiceDeps = {
    issuer: config.issuer,
    keys: publicKeys,
    publicKeys,
    algorithms,
    revocations,
    opaque,
    now,
    clockTolerance: config.tokens.clock_tolerance,
    maxBytes: config.tokens.max_token_bytes,
    auth,
    users: config.users,
    ring,
    minter,
    events,
    subjectIssuers,
    maxActDepth: config.exchange.max_depth,
    ...(config.grpc_tls?.spiffe_ids?.exchanger && { minterSpiffeId: config.grpc_tls.spiffe_ids.exchanger }),
    subjects: {
      relayIssuers: config.exchange.trusted_issuers.filter((t) => t.backchannel_logout).map((t) => t.issuer),
      subjectIssuers,
      revocations,
      events,
      now,
      clockTolerance: config.tokens.clock_tolerance,
      coversSeconds: subjectRevocationCovers,
      authenticate: (metadata) => authenticateOperator(metadata, [config.issuer_admin.revoke_subjects_scope]),
    },
    grantDeps: {
      minter,
      defaultTtl: config.tokens.access_token_ttl,
      now,
      assertions: assertionDeps("assertion"),
      lookup,
      recordDtiJti: kvJtiRecorder(jtiKv, "dti"),
      subjectRevokedAt,
      refresh: new RefreshTokens(refreshKv, now, { subjectRevokedAt, familyLifetime: config.tokens.refresh_family_lifetime }),
      isUser,
    },
    logger,
  };
  const management: ManagementDeps = {
    kv: clientsKv,
    lookup,
    inspect: (token) => inspectToken(token, tokenDeps),
    events,
    registrationEndpoint: issuerEndpoint(config.issuer, "/oauth2/register"),
    now,
    maxTtl: { access: maxLifetime, refresh: maxRefreshLifetime },
    isUser,
    revokeClient: async (clientId, admin) => {
      await recordSubjectRevocation({ iss: config.issuer, sub: clientId, reason: "client deleted" }, admin, tokenDeps.subjects);
    },
    // Admins are declared only in the config file (registration cannot make one).
    maxClients: (adminId) => config.clients.find((c) => c.client_id === adminId)?.manages?.max_clients ?? DEFAULT_MAX_MANAGED_CLIENTS,
    registeredBy: (adminId) => registry.registeredBy(adminId),
  };

  // A client the config file no longer declares stops working before this replica serves anything.
  const keptNewer: NewerEntry[] = [];
  const retired = await registry.retire(config.clients, {
    revokeSubject: async (clientId) => {
      await recordSubjectRevocation(
        { iss: config.issuer, sub: clientId, reason: "client removed from the config file" },
        { client_id: CONFIG_FILE, jti: "" },
        tokenDeps.subjects,
      );
    },
    events,
    onNewer: (left) => void keptNewer.push(left),
  });
  if (retired.length > 0)
    logger.warn(
      { clients: retired },
      "clients no longer in the config file retired: their tokens are revoked and their records replaced by retirement markers",
    );
  if (keptNewer.length > 0)
    logger.warn(
      { clients: keptNewer, config_revision: config.config_revision },
      "clients not in this config file were added by a file of a higher config_revision: not retired (this file is the older one, or was not given a higher revision when it changed)",
    );

  const keyManagement: KeyManagementDeps = {
    issuer: config.issuer,
    ring,
    revocations,
    events,
    // A token the key signed (or a lagging replica signed with it a moment after) is presented at most this long after,
    // and no verifier holds the key in a cached JWKS longer than the gateway's reuse (and its stale copy while the
    // issuer does not answer) plus its own cache time: past both, the kid record is needed no more.
    coversSeconds:
      Math.max(lifecycle.maxTokenLifetime, JWKS_EDGE_CACHE_SECONDS + JWKS_EDGE_STALE_SECONDS + JWKS_VERIFIER_CACHE_SECONDS) + lifecycle.clockTolerance,
    now,
    scopes: { read: config.issuer_admin.read_keys_scope, manage: config.issuer_admin.manage_keys_scope },
    authenticate: authenticateOperator,
  };

  const proto = loadTokenProto();
  const tls = await openGrpcCredentials(config.grpc_tls, logger);
  const server = await startGrpcServer({
    host: config.services.issuer.bind,
    port: config.services.issuer.port,
    credentials: tls.server,
    maxReceiveMessageLength: receiveBytesFor(maxBodyBytesFor(config.tokens.max_token_bytes)),
    services: [
      { definition: proto.sts.token.v1.TokenService.service, implementation: tokenService(tokenDeps) },
      { definition: loadClientsProto().sts.token.v1.ClientService.service, implementation: clientService(management, logger) },
      { definition: loadKeysProto().sts.token.v1.KeyService.service, implementation: keyService(keyManagement, logger) },
    ],
    reflection: { protoFiles: PROTO_FILES },
    logger,
  });
  // Readiness follows NATS: without it nothing can be issued (fail closed).
  server.setServing(nats.isConnected());
  nats.onStatusChange((connected) => server.setServing(connected));
  logger.info({ port: server.port, issuer: config.issuer }, "issuer listening");
  return {
    // Its gRPC identity lost for good (its agent refusing the stream): only a restart helps.
    checks: { live: () => !tls.lost(), ready: () => server.isServing() },
    stop: async () => {
      clearInterval(rotation);
      await server.shutdown(5_000);
      tls.close();
      for (const cache of [clientsCache, keysCache, revocationsCache]) cache.stop();
      await nats.close();
    },
  };
}

runService("issuer", readSettings, serve);
