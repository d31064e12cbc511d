import { describe, expect, it } from "vitest";
import { parseConfig } from "@sts/config";
import { natsOptionsOf } from "./nats-options.js";

describe("natsOptionsOf", () => {
  it("gives each service its own inbox prefix, the servers of a comma-separated URL, and no credentials by default", () => {
    expect(natsOptionsOf("sidecar", parseConfig({}, { NATS_URL: "tls://a:4222, tls://b:4222" }).nats)).toEqual({
      servers: ["tls://a:4222", "tls://b:4222"],
      name: "sts-sidecar",
      inboxPrefix: "_INBOX.sidecar",
    });
  });

  it("passes the configured credentials (a password as its file, read again at each connect) and TLS files", () => {
    const nats = parseConfig(
      { nats: { url: "tls://nats:4222", password_file: "/n/password", tls: { ca_file: "/n/ca.crt", cert_file: "/n/tls.crt", key_file: "/n/tls.key" } } },
      { STS_NATS_USER: "sts-issuer" },
    ).nats;
    expect(natsOptionsOf("issuer", nats)).toMatchObject({
      auth: { kind: "user", user: "sts-issuer", password: { file: "/n/password" } },
      tls: { caFile: "/n/ca.crt", certFile: "/n/tls.crt", keyFile: "/n/tls.key" },
    });
    expect(natsOptionsOf("audit", parseConfig({}, { STS_NATS_TOKEN: "t0ken" }).nats).auth).toEqual({ kind: "token", token: { value: "t0ken" } });
    expect(natsOptionsOf("policy", parseConfig({ nats: { creds_file: "/n/policy.creds" } }).nats).auth).toEqual({ kind: "creds", file: "/n/policy.creds" });
  });
});
