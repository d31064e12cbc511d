import { beforeAll, describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import fc from "fast-check";
import { ScryptGate, authenticateClient, basicAuthorization, basicCredentials, hashSecret, verifySecret } from "./index.js";
import type { ClientRecord, PresentedCredentials } from "./index.js";
import { clientRecord } from "./record.fixture.js";

const SECRET = "s3cr3t-value-long-enough";
const clients = new Map<string, ClientRecord>();
const deps = { lookup: (id: string) => clients.get(id) };
const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

function record(client_id: string, secret_hash: string, method: ClientRecord["token_endpoint_auth_method"]): ClientRecord {
  return clientRecord(client_id, { secret_hash, token_endpoint_auth_method: method, grant_types: ["client_credentials"] });
}

async function failure(creds: PresentedCredentials): Promise<string> {
  try {
    await authenticateClient(creds, deps);
  } catch (err) {
    if (err instanceof OAuthError) return err.code;
    throw err;
  }
  return "authenticated";
}

beforeAll(async () => {
  const hash = await hashSecret(SECRET);
  clients.set("admin:test/vo_1", record("admin:test/vo_1", hash, "client_secret_basic"));
  clients.set("poster", record("poster", hash, "client_secret_post"));
});

describe("authenticateClient (RFC 6749 §2.3)", () => {
  it("accepts client_secret_basic with a form-encoded id containing ':' and '/'", async () => {
    const { client, method } = await authenticateClient({ authorization: basic("admin:test/vo_1", SECRET) }, deps);
    expect(client.client_id).toBe("admin:test/vo_1");
    expect(method).toBe("client_secret_basic");
  });

  it("reads the scheme case-insensitively and takes one or more spaces before the credentials (RFC 9110 §11.4)", async () => {
    const token68 = basic("admin:test/vo_1", SECRET).slice("Basic ".length);
    for (const authorization of [`basic ${token68}`, `BASIC   ${token68}`]) {
      expect((await authenticateClient({ authorization }, deps)).client.client_id).toBe("admin:test/vo_1");
    }
    expect(await failure({ authorization: `Basic${token68}` })).toBe("invalid_client");
  });

  it("accepts client_secret_post", async () => {
    expect((await authenticateClient({ client_id: "poster", client_secret: SECRET }, deps)).client.client_id).toBe("poster");
  });

  it("refuses two methods at once with invalid_request", async () => {
    expect(await failure({ authorization: basic("poster", SECRET), client_id: "poster", client_secret: SECRET })).toBe("invalid_request");
  });

  it("refuses unknown clients, wrong secrets and the unregistered method alike", async () => {
    expect(await failure({ authorization: basic("nobody", SECRET) })).toBe("invalid_client");
    expect(await failure({ authorization: basic("admin:test/vo_1", "wrong") })).toBe("invalid_client");
    expect(await failure({ authorization: basic("poster", SECRET) })).toBe("invalid_client");
    expect(await failure({})).toBe("invalid_client");
    expect(await failure({ authorization: "Bearer abc" })).toBe("invalid_client");
  });

  it("refuses assertions where no verifier is configured", async () => {
    expect(await failure({ client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: "a.b.c" })).toBe(
      "invalid_client",
    );
  });

  it("does not remember failed verifications", async () => {
    const hash = await hashSecret("right-secret-value!");
    expect(await verifySecret(hash, "wrong")).toBe(false);
    expect(await verifySecret(hash, "wrong")).toBe(false);
    expect(await verifySecret(hash, "right-secret-value!")).toBe(true);
    expect(await verifySecret(hash, "right-secret-value!")).toBe(true);
  });
});

describe("the scrypt gate", () => {
  it("runs at most its limit at once, queues a bounded number and refuses the rest as temporarily_unavailable", async () => {
    const hash = await hashSecret("right-secret-value!");
    const gate = new ScryptGate(2, 3);
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, gate.running)), 1);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        verifySecret(hash, `wrong-${i}`, gate).then(
          (ok) => (ok ? "accepted" : "wrong"),
          (e: unknown) => (e instanceof OAuthError ? e.code : "other"),
        ),
      ),
    );
    clearInterval(watch);
    expect(outcomes.filter((o) => o === "wrong")).toHaveLength(5);
    expect(outcomes.filter((o) => o === "temporarily_unavailable")).toHaveLength(3);
    expect(peak).toBeLessThanOrEqual(2);
    expect(gate.running).toBe(0);
  });

  it("lets a secret verified before through while the gate is full", async () => {
    const hash = await hashSecret("known-secret-value!");
    expect(await verifySecret(hash, "known-secret-value!")).toBe(true);
    const gate = new ScryptGate(1, 0);
    const busy = verifySecret(hash, "a-wrong-guess", gate);
    await expect(verifySecret(hash, "another-wrong-guess", gate)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    expect(await verifySecret(hash, "known-secret-value!", gate)).toBe(true);
    expect(await busy).toBe(false);
  });
});

describe("basicAuthorization", () => {
  it("encodes what basicCredentials decodes, for any id and secret", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (id, secret) => {
        expect(basicCredentials(basicAuthorization(id, secret))).toEqual({ id, secret });
      }),
    );
  });

  it("form-encodes before base64 (RFC 6749 §2.3.1), so a colon, plus or space in the id stays in the id", () => {
    const header = basicAuthorization("admin:test/vo 1+x", "p:w d");
    expect(Buffer.from(header.slice("Basic ".length), "base64").toString()).toBe("admin%3Atest%2Fvo+1%2Bx:p%3Aw+d");
  });
});
