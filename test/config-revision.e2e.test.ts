/**
 * A rolling deploy that adds a client: an issuer restarted on the older config file (a crash, an eviction, one pod
 * rolled back) while a newer file's issuer already seeded the client must not retire it. Files carry
 * `config_revision`; real nats-server, issuer and gateway, the issuer restarted on the older file.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { EVENT_TYPES } from "@sts/nats";
import { basicAuth, clientCredentialsToken, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";

const SECRET = "config-revision-secret-01";
const api = { client_id: "api", client_secret: SECRET, scope: ["read"], audience: ["elsewhere"] };
const added = { client_id: "added", client_secret: SECRET, scope: ["read"], audience: ["api"] };

let stack: Stack;

beforeAll(async () => {
  // The newer file, revision 2, adds the client.
  stack = await startStack({ config_revision: 2, clients: [api, added] }, { services: ["issuer", "gateway"] });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** Restarts the issuer on a file of revision `revision` declaring `clients`; resolves to its output. */
async function restartIssuerOn(revision: number, clients: readonly object[]): Promise<string> {
  await stack.processes.issuer?.stop();
  const config = parse(readFileSync(stack.configFile, "utf8")) as Record<string, unknown>;
  writeFileSync(stack.configFile, stringify({ ...config, config_revision: revision, clients }));
  return (await stack.start("issuer")).output();
}

const introspectedByApi = async (token: string) =>
  (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("api", SECRET) })).body;

describe("an issuer restarted on an older config file during a rolling deploy", () => {
  it("leaves the client a newer file added: its tokens stay active, it still gets tokens, nothing is revoked or deleted", async () => {
    const earlier = await clientCredentialsToken(stack, "added", SECRET, { scope: "read" });

    const output = await restartIssuerOn(1, [api]);
    expect(await introspectedByApi(earlier)).toMatchObject({ active: true, sub: "added" });
    expect(await clientCredentialsToken(stack, "added", SECRET, { scope: "read" })).toBeTruthy();
    const events = (await storedEvents(stack.nats.url)).filter((e) => e.data.client_id === "added" || e.data.sub === "added");
    expect(events.filter((e) => e.type === EVENT_TYPES.SUBJECT_REVOKED || e.type === EVENT_TYPES.CLIENT_DELETED)).toEqual([]);
    // The operator is told which client was left, and both revisions.
    const warning = output.split("\n").find((line) => line.includes("higher config_revision"));
    expect(JSON.parse(warning ?? "{}")).toMatchObject({ level: 40, clients: [{ client_id: "added", seed_revision: 2 }], config_revision: 1 });

    // The rollout completes: the newer file's issuer starts again and finds the client as it left it.
    await restartIssuerOn(2, [api, added]);
    expect(await clientCredentialsToken(stack, "added", SECRET, { scope: "read" })).toBeTruthy();
  });
});
