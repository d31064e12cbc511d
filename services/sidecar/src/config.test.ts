import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { readSettings } from "./config.js";

let dir: string;
const SOCKET = "unix:///run/spire/agent.sock";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-sidecar-config-"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The environment of a sidecar svc-a whose `tls` is `tls`, with `more` besides. */
function envWith(tls: Record<string, unknown>, more: Record<string, string> = {}): NodeJS.ProcessEnv {
  const file = join(dir, `sts-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify({ sidecars: { "svc-a": { inbound: { port: 7001 }, outbound: { port: 7002 }, upstream: "http://127.0.0.1:8001", tls } } }));
  return { STS_CONFIG: file, STS_SIDECAR: "svc-a", STS_SIDECAR_CLIENT_SECRET: "s3cret", ...more };
}

describe("readSettings: the Workload API's socket", () => {
  it("takes SPIFFE_ENDPOINT_SOCKET when the config names no socket (SPIFFE Workload Endpoint §4)", () => {
    expect(readSettings(envWith({ workload_api: {} }, { SPIFFE_ENDPOINT_SOCKET: SOCKET })).sidecar.tls).toEqual({
      workload_api: { socket: SOCKET, startup_timeout: 30 },
    });
  });

  it("prefers the configured socket to SPIFFE_ENDPOINT_SOCKET", () => {
    const configured = "unix:///var/run/agent.sock";
    expect(readSettings(envWith({ workload_api: { socket: configured } }, { SPIFFE_ENDPOINT_SOCKET: SOCKET })).sidecar.tls).toEqual({
      workload_api: { socket: configured, startup_timeout: 30 },
    });
  });

  it("refuses to start with neither, or with a SPIFFE_ENDPOINT_SOCKET that is not a unix socket URI", () => {
    expect(() => readSettings(envWith({ workload_api: {} }))).toThrow(
      "sidecars.svc-a.tls.workload_api.socket: not configured and SPIFFE_ENDPOINT_SOCKET is not set: give the SPIRE agent's socket (unix:///path)",
    );
    expect(() => readSettings(envWith({ workload_api: {} }, { SPIFFE_ENDPOINT_SOCKET: "tcp://127.0.0.1:8081" }))).toThrow(
      "SPIFFE_ENDPOINT_SOCKET: expected unix:///path/to/agent.sock (only unix domain sockets are supported)",
    );
  });

  it("leaves a sidecar with files alone, whatever SPIFFE_ENDPOINT_SOCKET says", () => {
    const files = { cert_file: "/svid/tls.crt", key_file: "/svid/tls.key", ca_file: "/svid/ca.crt" };
    expect(readSettings(envWith(files, { SPIFFE_ENDPOINT_SOCKET: SOCKET })).sidecar.tls).toEqual({ ...files, reload_interval: 60 });
  });
});
