/**
 * A client taken out of the config file is retired at the issuer's next start: it gets no token, the tokens it
 * already had end, and both steps are recorded. Real nats-server, issuer and gateway; the issuer restarted with the
 * edited file.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { EVENT_TYPES } from "@sts/nats";
import { basicAuth, clientCredentialsToken, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";

const SECRET = "config-client-secret-0001";
const clients = [
  // The resource server the leaving client's tokens are for: it introspects them.
  { client_id: "api", client_secret: SECRET, scope: ["read"], audience: ["elsewhere"] },
  { client_id: "leaving", client_secret: SECRET, scope: ["read"], audience: ["api"] },
];

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ clients }, { services: ["issuer", "gateway"] });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** Restarts the issuer with the config file's clients set to `ids` (of {@link clients}). */
async function restartIssuerWith(ids: readonly string[]): Promise<string> {
  await stack.processes.issuer?.stop();
  const config = parse(readFileSync(stack.configFile, "utf8")) as Record<string, unknown>;
  config.clients = clients.filter((c) => ids.includes(c.client_id));
  writeFileSync(stack.configFile, stringify(config));
  return (await stack.start("issuer")).output();
}

const introspectedByApi = async (token: string) =>
  (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("api", SECRET) })).body;

const eventsFor = async (type: string, clientId: string) =>
  (await storedEvents(stack.nats.url)).filter((e) => e.type === type && (e.data.client_id === clientId || e.data.sub === clientId)).map((e) => e.data);

describe("a client removed from the config file", () => {
  it("gets no token after the issuer's next start, its earlier tokens are inactive, and both are recorded once", async () => {
    const earlier = await clientCredentialsToken(stack, "leaving", SECRET, { scope: "read" });
    expect(await introspectedByApi(earlier)).toMatchObject({ active: true, sub: "leaving" });

    const output = await restartIssuerWith(["api"]);
    const warning = output.split("\n").find((line) => line.includes("no longer in the config file"));
    expect(JSON.parse(warning ?? "{}")).toMatchObject({ level: 40, clients: ["leaving"] });

    const refused = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "read" },
      { authorization: basicAuth("leaving", SECRET) },
    );
    expect([refused.status, refused.body.error]).toEqual([401, "invalid_client"]);
    expect(await introspectedByApi(earlier)).toEqual({ active: false });
    expect(await eventsFor(EVENT_TYPES.SUBJECT_REVOKED, "leaving")).toEqual([
      expect.objectContaining({ sub: "leaving", by: "config", reason: "client removed from the config file" }),
    ]);
    expect(await eventsFor(EVENT_TYPES.CLIENT_DELETED, "leaving")).toEqual([{ client_id: "leaving", by: "config" }]);

    // The next start finds nothing left to retire; the client the file keeps was never touched.
    await restartIssuerWith(["api"]);
    expect(await eventsFor(EVENT_TYPES.CLIENT_DELETED, "leaving")).toHaveLength(1);
    expect(await clientCredentialsToken(stack, "api", SECRET, { scope: "read" })).toBeTruthy();
  });
});
