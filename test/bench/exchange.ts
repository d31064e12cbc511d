/** Token exchange over gRPC through the full stack, against the in-process ceiling of jose verify + sign. */
import { Metadata, credentials } from "@grpc/grpc-js";
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";
import { loadExchangeProto } from "@sts/proto";
import { basicAuth, postForm, startStack } from "../harness.js";
import { peakRssMiB, printTable, runLoad } from "./load.js";
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

/** Runs the exchange benchmark and prints its table. */
export async function benchExchange(duration: number): Promise<void> {
  const stack = await startStack(
    {
      tokens: { access_token_ttl: "1h" },
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b", "c"] }] },
      clients: [
        { client_id: "app", client_secret: SECRET, scope: ["a", "b", "c"], audience: ["svc-a"] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"], audience: [] },
      ],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
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
    const once = () => new Promise<void>((resolve, reject) => client.Exchange(request, new Metadata(), (err) => (err ? reject(err) : resolve())));
    const rows: LoadResult[] = [];
    for (const c of CONCURRENCY) rows.push(await runLoad("mesh-sts Exchange (gRPC, full stack)", c, duration * 1000, once));
    client.close();
    const top = await ceiling(subject, duration * 1000);
    rows.push(top);
    printTable("token exchange A→B (exchanger + policy + issuer Mint + JetStream event)", rows);
    for (const r of rows.slice(0, -1)) console.log(`  full stack / ceiling at ${r.concurrency} concurrent: ${(r.rps / top.rps).toFixed(2)}`);
    const rss = await Promise.all(
      (["exchanger", "policy", "issuer"] as const).map(async (n) => `${n} ${(await peakRssMiB(stack.processes[n]?.pid ?? 0)).toFixed(0)} MiB`),
    );
    console.log(`  peak RSS: ${rss.join(", ")}`);
  } finally {
    await stack.stop();
  }
}
