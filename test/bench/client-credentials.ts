/** client_credentials: our gateway (HTTP) and issuer (gRPC), and oidc-provider side by side. */
import { fileURLToPath } from "node:url";
import { Metadata, credentials } from "@grpc/grpc-js";
import { loadTokenProto } from "@sts/proto";
import { freePort, httpReady, startProcess } from "@sts/testkit";
import { basicAuth, startStack } from "../harness.js";
import { runHttpLoad } from "./http-load.js";
import { peakRssMiB, printTable, rpsRatio, runLoad } from "./load.js";
import type { LoadResult } from "./load.js";

const SECRET = "bench-secret-000000000001";
const CONCURRENCY = [1, 16, 64];

/** Runs the client_credentials benchmark and prints its tables. */
export async function benchClientCredentials(duration: number): Promise<void> {
  const stack = await startStack(
    { clients: [{ client_id: "bench", client_secret: SECRET, scope: ["read", "write"], audience: ["api-1"] }] },
    { services: ["issuer", "gateway"] },
  );
  const oidcPort = await freePort();
  const oidc = await startProcess({
    name: "oidc-provider",
    command: process.execPath,
    args: [fileURLToPath(new URL("./oidc-provider-server.js", import.meta.url)), String(oidcPort), SECRET],
    ready: () => httpReady(`http://127.0.0.1:${oidcPort}/.well-known/openid-configuration`),
  });
  const rows: LoadResult[] = [];
  try {
    const headers = { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth("bench", SECRET) };
    const body = "grant_type=client_credentials&scope=read%20write";
    for (const c of CONCURRENCY) {
      rows.push(
        await runHttpLoad({
          label: "mesh-sts gateway HTTP /oauth2/token",
          url: `${stack.gatewayUrl}/oauth2/token`,
          connections: c,
          durationSec: duration,
          headers,
          body,
        }),
      );
      rows.push(
        await runHttpLoad({
          label: "oidc-provider HTTP /token",
          url: `http://127.0.0.1:${oidcPort}/token`,
          connections: c,
          durationSec: duration,
          headers,
          body: `${body}&resource=${encodeURIComponent("https://api-1.example")}`,
        }),
      );
    }
    const client = new (loadTokenProto().sts.token.v1.TokenService)(stack.address.issuer, credentials.createInsecure());
    const request = { grant_type: "client_credentials", scope: "read write", client: { authorization: basicAuth("bench", SECRET) } };
    const once = () => new Promise<void>((resolve, reject) => client.Token(request, new Metadata(), (err) => (err ? reject(err) : resolve())));
    for (const c of CONCURRENCY) rows.push(await runLoad("mesh-sts issuer gRPC Token", c, duration * 1000, once));
    client.close();
    printTable("client_credentials (ES256 JWT access tokens; ours also durably records token.issued in JetStream)", rows);
    for (const c of CONCURRENCY) {
      const ours = rows.find((r) => r.label.startsWith("mesh-sts gateway") && r.concurrency === c);
      const theirs = rows.find((r) => r.label.startsWith("oidc-provider") && r.concurrency === c);
      if (ours && theirs) console.log(`  ratio mesh-sts HTTP / oidc-provider at ${c} concurrent, successful requests/s: ${rpsRatio(ours, theirs)}`);
    }
    console.log(
      `  peak RSS: gateway ${(await peakRssMiB(stack.processes.gateway?.pid ?? 0)).toFixed(0)} MiB, issuer ${(await peakRssMiB(stack.processes.issuer?.pid ?? 0)).toFixed(0)} MiB, oidc-provider ${(await peakRssMiB(oidc.pid)).toFixed(0)} MiB`,
    );
  } finally {
    await oidc.stop();
    await stack.stop();
  }
}
