#!/usr/bin/env node
/**
 * The demo client: gets a token for service A from the gateway, calls A
 * through A's sidecar, and prints, hop by hop, the token each service
 * received (scopes, audience, act chain), then the audit lineage of the last.
 *
 *   npm run demo        (with the local stack from `npm start` running)
 */
import { credentials, status } from "@grpc/grpc-js";
import { loadAuditProto } from "@sts/proto";
import type { LineageResponse__Output } from "@sts/proto";

const gateway = process.env.DEMO_GATEWAY ?? "http://127.0.0.1:8080";
const entry = process.env.DEMO_ENTRY ?? "http://127.0.0.1:8101";
const auditAddr = process.env.STS_AUDIT_ADDR ?? "127.0.0.1:50054";
const basic = `Basic ${Buffer.from("demo-client:demo-client-secret-0001").toString("base64")}`;

interface Hop {
  service: string;
  sub?: string;
  scope?: string;
  aud?: unknown;
  act?: unknown;
  jti?: string;
  refused?: number;
  error?: string;
  downstream?: Hop | null;
}

/** Why a request could not be made, in a few words: the system error's code (ECONNREFUSED) rather than fetch's "fetch failed". */
function unreachable(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === "string") return cause.code;
  if (typeof cause?.message === "string") return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** A request the demo cannot go on without: its answer, or the reason and what to check, and exit 1 (a stack trace would tell a new user neither). */
async function reach(url: string, init: RequestInit, what: string, hint: string): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    console.error(`could not reach ${what} at ${url}: ${unreachable(err)}\n${hint}`);
    process.exit(1);
  }
}

const actText = (act: unknown): string => {
  const subs: string[] = [];
  for (let a = act as { sub?: string; act?: unknown } | null; a && typeof a === "object"; a = a.act as typeof a) subs.push(String(a.sub));
  return subs.length ? `${subs.join(" ← ")}   (current actor first, RFC 8693 §4.1)` : "(none: the client calls for itself)";
};

/** A refusal's body on one line, cut short: a sidecar's JSON error or a proxy's page. */
const oneLine = (text: string): string => {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
};

const STACK_HINT = "Is the stack running (npm start)?";
const tokenRes = await reach(
  `${gateway}/oauth2/token`,
  {
    method: "POST",
    headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials&scope=a%20b%20c",
  },
  "the gateway",
  STACK_HINT,
);
if (!tokenRes.ok) {
  console.error(`could not get a token from ${gateway}: ${tokenRes.status} ${await tokenRes.text()}\n${STACK_HINT}`);
  process.exit(1);
}
const at1 = ((await tokenRes.json()) as { access_token: string }).access_token;
console.log(`client  got AT1 from the gateway and calls A (${entry})\n`);
const res = await reach(
  `${entry}/work`,
  { headers: { authorization: `Bearer ${at1}` } },
  "A's sidecar",
  "npm start runs the demo services and their sidecars (config `sidecars` in deploy/local/sts.yaml); DEMO_ENTRY names A's sidecar.",
);
if (!res.ok) {
  console.error(`A's sidecar answered ${res.status}: ${await res.text()}`);
  process.exit(1);
}
let hop: Hop | null | undefined = (await res.json()) as Hop;
let last: Hop | undefined;
for (let i = 1; hop; i++, hop = hop.downstream) {
  if (hop.refused) {
    console.log(`hop ${i}  ${hop.service}: refused (${hop.refused})${hop.error ? `: ${oneLine(hop.error)}` : ""}`);
    break;
  }
  console.log(`hop ${i}  ${hop.service} received a token with`);
  console.log(`          audience ${JSON.stringify(hop.aud)}   scope "${hop.scope}"   subject ${hop.sub}`);
  console.log(`          act: ${actText(hop.act)}`);
  last = hop;
}

if (last?.jti) {
  const audit = new (loadAuditProto().sts.audit.v1.AuditService)(auditAddr, credentials.createInsecure());
  // The audit projection follows the stream within milliseconds; retry briefly.
  let lineage: LineageResponse__Output | undefined;
  let failure = "";
  for (let i = 0; i < 20 && !lineage; i++) {
    lineage = await new Promise<LineageResponse__Output | undefined>((resolve) =>
      audit.Lineage({ jti: last?.jti }, (err, v) => {
        // Said as it is: unreachable, refused (the audit API wants a credential), or the record not there yet.
        if (err) failure = `${status[err.code] ?? err.code}: ${err.details}`;
        resolve(err ? undefined : v);
      }),
    );
    if (!lineage) await new Promise((r) => setTimeout(r, 100));
  }
  audit.close();
  if (lineage) {
    console.log(`\naudit lineage of ${last.service}'s token, from the original grant:`);
    for (const r of [...lineage.ancestors].reverse().concat(lineage.token ? [lineage.token] : [])) {
      console.log(
        `  ${r.type.padEnd(16)} jti=${r.jti}  client=${r.client_id}  aud=${r.aud.join(",")}  scope="${r.scope}"${r.parent_jti ? `  from=${r.parent_jti}` : ""}`,
      );
    }
  } else console.log(`\n(no lineage shown: the audit service at ${auditAddr} answered ${failure})`);
}
