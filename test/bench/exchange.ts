/** Token exchange over gRPC through the full stack, against the in-process ceiling of jose verify + sign. */
import { Metadata, credentials, loadPackageDefinition } from "@grpc/grpc-js";
import type { ChannelCredentials, Client, ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";
import { EVENTS_STREAM, EVENT_TYPES, connectNats, eventSubject } from "@sts/nats";
import { loadExchangeProto } from "@sts/proto";
import { basicAuth, postForm, startStack } from "../harness.js";
import { h2loadAvailable, runGrpcH2Load } from "./grpc-load.js";
import { peakRssMiB, printTable, runLoad } from "./load.js";
import { adminPort, describeRuntime, scrapeRuntime } from "./runtime-figures.js";
import type { LoadResult } from "./load.js";

const SECRET = "bench-secret-000000000001";
const AT = "urn:ietf:params:oauth:token-type:access_token";
const CONCURRENCY = [1, 16, 64];

/** The ceiling: one loop of jose verify + sign with the same key type and claims. */
async function ceiling(subject: string, durationMs: number): Promise<LoadResult> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const claims = JSON.parse(Buffer.from(subject.split(".")[1] as string, "base64url").toString()) as Record<string, unknown>;
  const token = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" }).sign(privateKey);
  const pub = await importJWK(await exportJWK(publicKey), "ES256");
  return runLoad("in-process jose verify + sign (ceiling)", 1, durationMs, async () => {
    const { payload } = await jwtVerify(token, pub, { algorithms: ["ES256"], typ: "at+jwt", clockTolerance: 30 });
    await new SignJWT({ ...payload, aud: "svc-b", scope: "b c", act: { sub: "svc-a" } })
      .setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" })
      .sign(privateKey);
  });
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
    rows.push(await runLoad("  same, every subject token new", 64, duration * 1000, () => exchangeOf(fresh[next++ % fresh.length] as string)));
    // What any unary call to the exchanger costs here, with the same client and load: the floor under the rows above.
    const health = healthClient(stack.address.exchanger);
    rows.push(await runLoad("  no-op gRPC call (health Check), the floor", 64, duration * 1000, () => healthCheck(health)));
    if (h2loadAvailable) {
      // The same no-op call from h2load: how much of the floor above is the grpc-js client's. An empty
      // HealthCheckRequest is a zero-length message; one answer is checked with grpc-js above.
      rows.push(
        await runGrpcH2Load({
          label: "  same no-op call, load from h2load",
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
    const top = await ceiling(subject, duration * 1000);
    rows.push(top);
    printTable("token exchange A→B (exchanger + policy + issuer Mint + JetStream event)", rows);
    for (const r of rows.slice(0, 3)) console.log(`  full stack / ceiling at ${r.concurrency} concurrent: ${(r.rps / top.rps).toFixed(2)}`);
    if (runtimeAt64) console.log(`  exchanger around the h2load run at 64 (its 1 s warm-up and start included), ${runtimeAt64}`);
    console.log(`  new subject tokens: ${fresh.length} issued before the run, ${next} presented (a token presented again was verified before)`);
    const rss = await Promise.all(
      (["exchanger", "policy", "issuer"] as const).map(async (n) => `${n} ${(await peakRssMiB(stack.processes[n]?.pid ?? 0)).toFixed(0)} MiB`),
    );
    console.log(`  peak RSS: ${rss.join(", ")}`);
  } finally {
    await stack.stop();
  }
}
