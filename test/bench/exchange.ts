/**
 * Token exchange over gRPC through the full stack, against in-process ceilings made with the project's own JWT code
 * (libs/jwt: the issuer's synchronous node:crypto signer, the exchanger's verifier), each doing the work of the stack
 * rows it is compared with.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { Metadata, credentials, loadPackageDefinition } from "@grpc/grpc-js";
import type { ChannelCredentials, Client, ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";
import type { JWK } from "jose";
import { importSigningKey, signJwt, verifyAccessToken } from "@sts/jwt";
import type { RevocationState } from "@sts/jwt";
import { EVENTS_STREAM, EVENT_TYPES, connectNats, eventSubject } from "@sts/nats";
import { loadExchangeProto } from "@sts/proto";
import { basicAuth, postForm, startStack } from "../harness.js";
import { h2loadAvailable, runGrpcH2Load } from "./grpc-load.js";
import { peakRssMiB, printTable, rpsRatio, runLoad } from "./load.js";
import { adminPort, describeRuntime, scrapeRuntime } from "./runtime-figures.js";
import type { LoadResult } from "./load.js";

const SECRET = "bench-secret-000000000001";
const AT = "urn:ietf:params:oauth:token-type:access_token";
const CONCURRENCY = [1, 16, 64];
/** What every ceiling row is: one call at a time on this process's one event loop, no network, no other process. */
const IN_PROCESS = "in-process, 1 loop, 1 at a time";

/** Nothing revoked: the lookups the exchanger makes on each token, answered at once. */
const NOTHING_REVOKED: RevocationState = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };

/** The claims of the exchanged token the issuer mints from `subject` (new jti and times, the hop's audience and scope, act). */
function exchangedClaims(subject: Record<string, unknown>): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { ...subject, aud: "svc-b", scope: "b c", act: { sub: "svc-a" }, jti: randomUUID(), iat: now, exp: now + 3600 };
}

/**
 * The ceilings, with `subject`'s claims re-signed by a P-256 key of the bench's own (the stack's is not exported):
 * (a) sign only, with libs/jwt's signJwt, what a stack row presenting one subject token again does per call besides
 * its transport (the exchanger remembers a verified token); (b) verify + sign, with libs/jwt's verifyAccessToken (no
 * verified-token cache) and signJwt, what a row presenting a new subject token every call does; (c) the loop the issue
 * names, jose's WebCrypto jwtVerify + SignJWT, which the stack does not use to sign.
 */
async function ceilings(subjectToken: string, durationMs: number): Promise<{ signOnly: LoadResult; verifySign: LoadResult; jose: LoadResult }> {
  const claims = JSON.parse(Buffer.from(subjectToken.split(".")[1] as string, "base64url").toString()) as Record<string, unknown>;
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const key = importSigningKey(privateKey.export({ format: "jwk" }), "bench", "ES256");
  const token = signJwt(claims, key, "at+jwt");
  const jwks = createLocalJWKSet({ keys: [{ ...(publicKey.export({ format: "jwk" }) as JWK), kid: "bench", alg: "ES256", use: "sig" }] });
  const verify = () =>
    verifyAccessToken(token, {
      key: jwks,
      algorithms: ["ES256"],
      issuer: claims.iss as string,
      clockTolerance: 30,
      now: () => Math.floor(Date.now() / 1000),
      maxBytes: 16 * 1024,
      revocations: NOTHING_REVOKED,
    });
  // Checked once before it is timed: a ceiling whose verification failed would time the failure.
  await verify();
  const signOnly = await runLoad(`ceiling: libs/jwt sign only (${IN_PROCESS})`, 1, durationMs, async () => {
    signJwt(exchangedClaims(claims), key, "at+jwt");
  });
  const verifySign = await runLoad(`ceiling: libs/jwt verify + sign (${IN_PROCESS})`, 1, durationMs, async () => {
    const { payload } = await verify();
    signJwt(exchangedClaims(payload), key, "at+jwt");
  });
  const pair = await generateKeyPair("ES256", { extractable: true });
  const joseToken = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" }).sign(pair.privateKey);
  const pub = await importJWK(await exportJWK(pair.publicKey), "ES256");
  const jose = await runLoad(`jose WebCrypto verify + sign, as the issue names it (${IN_PROCESS})`, 1, durationMs, async () => {
    const { payload } = await jwtVerify(joseToken, pub, { algorithms: ["ES256"], typ: "at+jwt", clockTolerance: 30 });
    await new SignJWT(exchangedClaims(payload)).setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" }).sign(pair.privateKey);
  });
  return { signOnly, verifySign, jose };
}

/** Issues n client_credentials tokens through the gateway, 64 at a time. */
async function issueMany(gatewayUrl: string, authorization: string, n: number): Promise<string[]> {
  const out: string[] = [];
  const worker = async (): Promise<void> => {
    while (out.length < n) {
      const r = await postForm(`${gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope: "a b c" }, { authorization });
      out.push(r.body.access_token as string);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  return out;
}

type HealthClient = Client & { Check(r: object, cb: (e: ServiceError | null) => void): void };

/** A grpc.health.v1 client kept open, for the no-op floor. */
function healthClient(address: string): HealthClient {
  const def = loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: new (a: string, c: ChannelCredentials) => HealthClient } } } };
  return new pkg.grpc.health.v1.Health(address, credentials.createInsecure());
}

function healthCheck(client: HealthClient): Promise<void> {
  return new Promise((resolve, reject) => client.Check({ service: "" }, (err) => (err ? reject(err) : resolve())));
}

/** Runs the exchange benchmark and prints its table. */
export async function benchExchange(duration: number): Promise<void> {
  // The exchanger's metrics (on, as in production): its GC pauses and event-loop delay during the run at 64.
  const admin = await adminPort("exchanger");
  const stack = await startStack(
    {
      tokens: { access_token_ttl: "1h" },
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b", "c"] }] },
      clients: [
        { client_id: "app", client_secret: SECRET, scope: ["a", "b", "c"], audience: ["svc-a"] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"], audience: [] },
      ],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"], env: admin.env },
  );
  let runtimeAt64: string | undefined;
  try {
    const at1 = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a b c" },
      { authorization: basicAuth("app", SECRET) },
    );
    const subject = at1.body.access_token as string;
    const client = new (loadExchangeProto().sts.exchange.v1.ExchangeService)(stack.address.exchanger, credentials.createInsecure());
    const request = {
      client: { authorization: basicAuth("svc-a", SECRET) },
      subject_token: subject,
      subject_token_type: AT,
      audience: ["svc-b"],
      scope: "b c",
    };
    const exchangeOf = (subject_token: string) =>
      new Promise<void>((resolve, reject) => client.Exchange({ ...request, subject_token }, new Metadata(), (err) => (err ? reject(err) : resolve())));
    const rows: LoadResult[] = [];
    for (const c of CONCURRENCY) rows.push(await runLoad("mesh-sts Exchange (gRPC, full stack)", c, duration * 1000, () => exchangeOf(subject)));
    if (h2loadAvailable) {
      // The same call from h2load: what the stack does when the load generator is not the bottleneck.
      const nats = await connectNats({ servers: stack.nats.url, name: "bench" });
      // Each exchange that succeeded left exactly one durable token.exchanged event.
      const exchanged = async (): Promise<number> => {
        const subject = eventSubject(EVENT_TYPES.TOKEN_EXCHANGED);
        const info = await nats.jsm.streams.info(EVENTS_STREAM.name, { subjects_filter: subject });
        return info.state.subjects?.[subject] ?? 0;
      };
      const service = loadExchangeProto().sts.exchange.v1.ExchangeService.service.Exchange;
      for (const c of CONCURRENCY) {
        const before = c === 64 ? await scrapeRuntime(admin.url) : undefined;
        rows.push(
          await runGrpcH2Load({
            label: "  same, load from h2load",
            address: stack.address.exchanger,
            path: service.path,
            message: service.requestSerialize(request),
            concurrency: c,
            durationSec: duration,
            succeededSoFar: exchanged,
          }),
        );
        if (before) runtimeAt64 = describeRuntime(before, await scrapeRuntime(admin.url));
      }
      await nats.close();
    }
    // The row above presents one subject token again and again (its signature is verified once, then
    // remembered); a token seen for the first time costs a signature check: each of these is new.
    const fresh = await issueMany(stack.gatewayUrl, basicAuth("app", SECRET), Math.ceil(3000 * (duration + 1)));
    let next = 0;
    const freshRow = await runLoad("  same, every subject token new", 64, duration * 1000, () => exchangeOf(fresh[next++ % fresh.length] as string));
    rows.push(freshRow);
    // What any unary call to the exchanger costs here, with the same client and load: the floor under the rows above.
    const health = healthClient(stack.address.exchanger);
    rows.push(await runLoad("  no-op gRPC call (health Check), the floor", 64, duration * 1000, () => healthCheck(health)));
    if (h2loadAvailable) {
      // The same no-op call from h2load: how much of the floor above is the grpc-js client's. An empty
      // HealthCheckRequest is a zero-length message; one answer is checked with grpc-js above.
      rows.push(
        await runGrpcH2Load({
          label: "  same no-op call, load from h2load (answers; status unread)",
          address: stack.address.exchanger,
          path: "/grpc.health.v1.Health/Check",
          message: Buffer.alloc(0),
          concurrency: 64,
          durationSec: duration,
        }),
      );
    }
    health.close();
    client.close();
    const top = await ceilings(subject, duration * 1000);
    rows.push(top.signOnly, top.verifySign, top.jose);
    printTable("token exchange A→B (exchanger + policy + issuer Mint + JetStream event)", rows);
    // Each stack row against the ceiling doing its crypto: one subject token again (verified once, then remembered)
    // against sign only; a new subject token every call against verify + sign. The stack runs in three processes on
    // every core, the ceilings on one loop: a ratio over 1 is that difference, not a stack faster than its crypto.
    for (const r of rows.filter((row) => row.label.includes("full stack") || row.label === "  same, load from h2load")) {
      console.log(`  ${r.label.trim()} at ${r.concurrency} / sign-only ceiling: ${rpsRatio(r, top.signOnly)}`);
    }
    console.log(`  every subject token new at 64 / verify + sign ceiling: ${rpsRatio(freshRow, top.verifySign)}`);
    if (runtimeAt64) console.log(`  exchanger around the h2load run at 64 (its 1 s warm-up and start included), ${runtimeAt64}`);
    console.log(
      `  new subject tokens: ${fresh.length} issued before the run, ${next} presented (${Math.min(next, fresh.length)} new; a token presented again was verified before)`,
    );
    const rss = await Promise.all(
      (["exchanger", "policy", "issuer"] as const).map(async (n) => `${n} ${(await peakRssMiB(stack.processes[n]?.pid ?? 0)).toFixed(0)} MiB`),
    );
    console.log(`  peak RSS: ${rss.join(", ")}`);
  } finally {
    await stack.stop();
  }
}
