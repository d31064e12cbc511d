import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig, parseConfig } from "./index.js";

/** Matches the ConfigError that lists exactly these problems (an asymmetric matcher, which toThrow takes where it types an Error). */
const refusedWith = (...problems: string[]): Error => expect.objectContaining({ name: "ConfigError", problems }) as Error;

const TLS = { cert_file: "/svid/tls.crt", key_file: "/svid/tls.key", ca_file: "/svid/ca.crt" };

/** A config with one sidecar, svc-a, with these fields and one route, svc-d, with these. */
const withSidecar = (fields: Record<string, unknown>, route: Record<string, unknown> = {}) => ({
  sidecars: {
    "svc-a": {
      inbound: { port: 7001 },
      outbound: { port: 7002 },
      upstream: "http://127.0.0.1:8001",
      ...fields,
      routes: { "svc-d": { url: "http://ingress:8080", audience: "svc-d", scopes: "d", ...route } },
    },
  },
});

const NO_PATH = "no path: each call keeps its own (/x goes to scheme://host:port/x), so a path here would confine nothing; give scheme://host:port only";
const NO_QUERY = "no query: each call keeps its own; give scheme://host:port only";
const NO_FRAGMENT = "no fragment: it is never sent; give scheme://host:port only";
const NO_USERINFO = "no user or password in the URL: the sidecar never sends them, and the config file is no place for a secret";
const ROUTE_SCHEMES = "expected http://host:port or https://host:port (https:// with the sidecar's tls)";
const UPSTREAM_SCHEME = "expected http://host:port (the workload next to the sidecar is called in cleartext)";

describe("sidecars.* destinations are origins", () => {
  it("takes origins, with or without the trailing slash, an IPv6 host, and https routes with tls", () => {
    const sidecar = parseConfig(
      withSidecar(
        { upstream: "http://127.0.0.1:8001/", grpc_upstream: "http://[::1]:8002", tls: TLS },
        { url: "https://ingress", grpc_url: "https://ingress:8443/" },
      ),
    ).sidecars["svc-a"];
    expect(sidecar).toMatchObject({ upstream: "http://127.0.0.1:8001/", grpc_upstream: "http://[::1]:8002", routes: { "svc-d": { url: "https://ingress" } } });
  });

  // With svc-d at http://ingress/only-under-this-prefix, a call to /svc-d/y reached http://ingress/y with svc-d's
  // token: behind a path-routed ingress, another service.
  it.each([
    ["url", "a path", { url: "http://ingress/only-under-this-prefix" }, NO_PATH],
    ["grpc_url", "a path", { grpc_url: "http://ingress:8080/grpc" }, NO_PATH],
    ["url", "a query", { url: "http://ingress/?tenant=d" }, NO_QUERY],
    ["url", "an empty query", { url: "http://ingress/?" }, NO_QUERY],
    ["url", "a fragment", { url: "http://ingress#d" }, NO_FRAGMENT],
    ["url", "userinfo", { url: "http://svc-a:secret@ingress" }, NO_USERINFO],
    ["url", "another scheme", { url: "ftp://ingress" }, ROUTE_SCHEMES],
    ["grpc_url", "another scheme", { grpc_url: "unix:///run/grpc.sock" }, ROUTE_SCHEMES],
  ])("refuses a route's %s with %s, naming the field", (field, _what, route, problem) => {
    expect(() => parseConfig(withSidecar({}, route))).toThrow(refusedWith(`sidecars.svc-a.routes.svc-d.${field}: ${problem}`));
  });

  it.each([
    ["upstream", "a path", { upstream: "http://127.0.0.1:8001/api" }, NO_PATH],
    ["grpc_upstream", "a query", { grpc_upstream: "http://127.0.0.1:8002?x=1" }, NO_QUERY],
    // forward() has no TLS identity for the workload: every call failed with 500.
    ["upstream", "https://", { upstream: "https://127.0.0.1:8001" }, UPSTREAM_SCHEME],
    // The HTTP/2 proxy dialled it with no client certificate, against the system's CAs.
    ["grpc_upstream", "https://", { grpc_upstream: "https://127.0.0.1:8002", tls: TLS }, UPSTREAM_SCHEME],
    ["upstream", "another scheme", { upstream: "file:///srv/app" }, UPSTREAM_SCHEME],
  ])("refuses an %s with %s, naming the field", (field, _what, fields, problem) => {
    expect(() => parseConfig(withSidecar(fields))).toThrow(refusedWith(`sidecars.svc-a.${field}: ${problem}`));
  });

  it("never repeats a URL's password in the message", () => {
    expect(() => parseConfig(withSidecar({ upstream: "http://u:hunter2@127.0.0.1:8001" }))).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining("hunter2") as string }) as Error,
    );
  });

  it("reports a route url that is not a URL at all as such, instead of throwing out of the validation", () => {
    expect(() => parseConfig(withSidecar({ tls: TLS }, { url: "not a url", spiffe_id: "spiffe://mesh.example/ns/d/sa/svc-d" }))).toThrow(
      refusedWith("sidecars.svc-a.routes.svc-d.url: Invalid URL"),
    );
  });

  it("stops the start of a config file with such a route, naming the field", () => {
    const dir = mkdtempSync(join(tmpdir(), "sts-sidecar-routes-"));
    try {
      const file = join(dir, "sts.yaml");
      writeFileSync(
        file,
        [
          "sidecars:",
          "  svc-a:",
          "    inbound: { port: 7001 }",
          "    outbound: { port: 7002 }",
          "    upstream: http://127.0.0.1:8001",
          "    routes:",
          "      svc-d: { url: http://ingress/only-under-this-prefix, audience: svc-d, scopes: [d] }",
          "",
        ].join("\n"),
      );
      expect(() => loadConfig(file)).toThrow(refusedWith(`sidecars.svc-a.routes.svc-d.url: ${NO_PATH}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("still takes the local deployment's sidecars", () => {
    const local = parse(readFileSync(new URL("../../../deploy/local/sts.yaml", import.meta.url), "utf8")) as unknown;
    expect(Object.keys(parseConfig(local).sidecars).length).toBeGreaterThan(0);
  });
});
