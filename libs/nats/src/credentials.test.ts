import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nkeys } from "@nats-io/transport-node";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { connectNats, natsAuthenticator } from "./index.js";
import type { NatsHandle } from "./index.js";

let dir: string;
const open: NatsHandle[] = [];
const servers: NatsServerHandle[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-nats-auth-"));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function server(options: Parameters<typeof startNats>[0]): Promise<NatsServerHandle> {
  const s = await startNats(options);
  servers.push(s);
  return s;
}

async function connected(options: Parameters<typeof connectNats>[0]): Promise<NatsHandle> {
  const h = await connectNats(options);
  open.push(h);
  return h;
}

/** The rejection message of a first connection that must fail. */
async function refusal(options: Parameters<typeof connectNats>[0]): Promise<string> {
  return connectNats(options).then(
    async (h) => {
      await h.close();
      return "connected";
    },
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );
}

describe("connectNats with credentials", () => {
  it("logs in with a password file, and after a rotation reads it again, retrying refused logins until it holds the new one", async () => {
    const file = join(dir, "password");
    writeFileSync(file, "first-password\n");
    const before = await server({ users: [{ user: "svc", password: "first-password" }] });
    const nats = await connected({ servers: before.url, name: "rotating", auth: { kind: "user", user: "svc", password: { file } }, pingIntervalMs: 200 });

    // The server comes back with the new password before the pod's file has it (a Secret volume lags).
    await before.stop();
    servers.splice(servers.indexOf(before), 1);
    await server({ port: before.port, users: [{ user: "svc", password: "second-password" }] });
    await waitFor(async () => !nats.isConnected(), { timeoutMs: 5_000, message: "still connected to a stopped server" });
    await new Promise((r) => setTimeout(r, 1_500));
    // nats.js would have given up after two refusals; the connection must still be trying.
    expect(nats.nc.isClosed()).toBe(false);
    expect(nats.isConnected()).toBe(false);

    writeFileSync(file, "second-password\n");
    await waitFor(async () => nats.isConnected(), { timeoutMs: 10_000, message: "did not reconnect with the rotated password" });
  });

  it("fails the first connection at once when the password is refused, naming the user but not the password", async () => {
    const s = await server({ users: [{ user: "svc", password: "right-password" }] });
    const message = await refusal({ servers: s.url, name: "wrong", auth: { kind: "user", user: "svc", password: { value: "wrong-password" } } });
    expect(message).toBe(
      'cannot connect to NATS as wrong with user "svc" (password from the environment): the server refused the credentials (Authorization Violation)',
    );
    expect(await refusal({ servers: s.url, name: "none" })).toMatch(/^cannot connect to NATS as none with no credentials: the server requires credentials/);
  });

  it("logs in with an nkey seed file and with a token file", async () => {
    const user = nkeys.createUser();
    const seedFile = join(dir, "user.nk");
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    const byNkey = await server({ users: [{ nkey: user.getPublicKey() }] });
    expect((await connected({ servers: byNkey.url, name: "nkey", auth: { kind: "nkey", seedFile } })).isConnected()).toBe(true);

    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "a-token-0001\n");
    const byToken = await server({ token: "a-token-0001" });
    expect((await connected({ servers: byToken.url, name: "token", auth: { kind: "token", token: { file: tokenFile } } })).isConnected()).toBe(true);
  });

  it("never talks plaintext on a tls:// URL: a server without TLS is refused", async () => {
    const s = await server({});
    expect(await refusal({ servers: s.url.replace(/^nats:/, "tls:"), name: "tls-only" })).toBe(
      "cannot connect to NATS as tls-only with no credentials: server does not support 'tls'",
    );
  });

  it("stops at a missing file, naming it", async () => {
    const s = await server({});
    expect(await refusal({ servers: s.url, name: "x", auth: { kind: "creds", file: join(dir, "absent.creds") } })).toBe(
      `cannot read the NATS credentials file ${join(dir, "absent.creds")}: ENOENT`,
    );
    expect(await refusal({ servers: s.url, name: "x", tls: { caFile: join(dir, "absent.pem") } })).toBe(
      `cannot read the NATS TLS CA file ${join(dir, "absent.pem")}: ENOENT`,
    );
  });
});

describe("natsAuthenticator", () => {
  /** A .creds file as nsc writes it (the JWT is not checked here, only carried). */
  const creds = (jwt: string, seed: Uint8Array): string =>
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(seed)}\n------END USER NKEY SEED------\n`;

  it("reads a .creds file at each handshake, so a rotated file is used at the next reconnect, and signs the nonce with its seed", () => {
    const file = join(dir, "svc.creds");
    const first = nkeys.createUser();
    writeFileSync(file, creds("jwt.one", first.getSeed()));
    const authenticate = natsAuthenticator({ kind: "creds", file });
    const a = authenticate("nonce-1") as { jwt: string; nkey: string; sig: string };
    expect([a.jwt, a.nkey]).toEqual(["jwt.one", first.getPublicKey()]);
    expect(first.verify(new TextEncoder().encode("nonce-1"), nkeys.decode(a.sig))).toBe(true);

    const second = nkeys.createUser();
    writeFileSync(file, creds("jwt.two", second.getSeed()));
    const b = authenticate("nonce-2") as { jwt: string; nkey: string };
    expect([b.jwt, b.nkey]).toEqual(["jwt.two", second.getPublicKey()]);
  });

  it("keeps the last good copy while a file it read once is unreadable (a Secret volume between versions)", () => {
    const file = join(dir, "moving.password");
    writeFileSync(file, "kept-password");
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_o: object, msg?: string) => void warnings.push(msg ?? "") };
    const authenticate = natsAuthenticator({ kind: "user", user: "svc", password: { file } }, logger);
    rmSync(file);
    expect(authenticate("n")).toEqual({ user: "svc", pass: "kept-password" });
    expect(warnings).toEqual(["NATS password file unreadable; using the copy read before"]);
  });

  it("refuses a malformed seed at once, without repeating its content", () => {
    const seedFile = join(dir, "bad.nk");
    writeFileSync(seedFile, "SUNOTASEEDATALL");
    expect(() => natsAuthenticator({ kind: "nkey", seedFile })).toThrow(`the nkey seed file ${seedFile} is not usable: expected an nkey seed (SU...)`);
  });
});
