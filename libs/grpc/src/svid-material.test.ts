import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCa, svidResponse } from "@sts/testkit";
import type { SvidFiles, TestCa } from "@sts/testkit";
import type { X509SVID__Output } from "@sts/proto";
import { derCertificatesToPem, splitDerCertificates, svidMaterial } from "./svid-material.js";

const ID = "spiffe://mesh.test/ns/shop/sa/svc-a";
const SECTION = "sidecars.svc-a.tls.workload_api";

const DAY = 86_400_000;

let dir: string;
let ca: TestCa;
let svid: SvidFiles;
let other: SvidFiles;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-svid-material-"));
  ca = makeTestCa(dir, "mesh-ca");
  svid = { ...ca.issue("svc-a", ID), ca_file: ca.ca_file, spiffeId: ID };
  other = { ...ca.issue("svc-a-other", ID), ca_file: ca.ca_file, spiffeId: ID };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const der = (file: string): Buffer => new X509Certificate(readFileSync(file)).raw;
/** The one SVID of the response the stand-in agent would send for these files. */
const wire = (files: SvidFiles): X509SVID__Output => svidResponse(files).svids?.[0] as X509SVID__Output;

describe("splitDerCertificates and derCertificatesToPem", () => {
  it("splits a concatenated chain back into its certificates, and PEM-encodes each (round trip)", () => {
    const [leaf, ca] = [der(svid.cert_file), der(svid.ca_file)];
    const parts = splitDerCertificates(Buffer.concat([leaf, ca]));
    expect(parts.map((p) => p.toString("hex"))).toEqual([leaf.toString("hex"), ca.toString("hex")]);
    const pem = derCertificatesToPem(Buffer.concat([leaf, ca])).toString();
    expect(pem.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    // PEM back to DER gives the same bytes: the first certificate is the leaf, the CA follows.
    expect(new X509Certificate(pem).raw.equals(leaf)).toBe(true);
    expect(pem).toBe(readFileSync(svid.cert_file, "utf8") + readFileSync(svid.ca_file, "utf8"));
  });

  it("reads short and long length forms, and finds nothing in nothing", () => {
    // SEQUENCE { INTEGER 5 } with its length in short form, then the same in long form (0x81: one length byte).
    const parts = splitDerCertificates(Buffer.from("3003020105" + "308103020105", "hex"));
    expect(parts.map((p) => p.toString("hex"))).toEqual(["3003020105", "308103020105"]);
    expect(splitDerCertificates(Buffer.alloc(0))).toEqual([]);
  });

  it("refuses a stray byte, an indefinite length and a truncated certificate", () => {
    const leaf = der(svid.cert_file);
    expect(() => splitDerCertificates(Buffer.concat([leaf, Buffer.from([0x00])]))).toThrow(`expected a SEQUENCE at byte ${leaf.length}`);
    expect(() => splitDerCertificates(Buffer.from("308002010500", "hex"))).toThrow("unsupported length encoding at byte 1");
    expect(() => splitDerCertificates(leaf.subarray(0, leaf.length - 1))).toThrow("truncated certificate at byte 0");
    expect(() => splitDerCertificates(Buffer.from("3082", "hex"))).toThrow("truncated length at byte 1");
  });
});

describe("svidMaterial", () => {
  it("turns the agent's DER into the PEM files' material, with the SPIFFE ID and expiry of the certificate", () => {
    const got = svidMaterial(wire(svid), SECTION);
    expect(got.spiffeId).toBe(ID);
    expect(got.material.cert.toString()).toBe(readFileSync(svid.cert_file, "utf8"));
    expect(got.material.ca.toString()).toBe(readFileSync(svid.ca_file, "utf8"));
    expect(got.material.key.toString()).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(createPrivateKey(got.material.key).export({ format: "jwk" })).toEqual(createPrivateKey(readFileSync(svid.key_file)).export({ format: "jwk" }));
    expect(got.notAfter.getTime()).toBe(new Date(new X509Certificate(readFileSync(svid.cert_file)).validTo).getTime());
  });

  it("refuses a key that is not the certificate's with the message PEM files get", () => {
    const mismatched = { ...wire(svid), x509_svid_key: wire(other).x509_svid_key };
    expect(() => svidMaterial(mismatched, SECTION)).toThrow(
      /^sidecars\.svc-a\.tls\.workload_api: the certificate, key or CA bundle is not usable \(.*key values mismatch\)$/,
    );
  });

  it("refuses an empty bundle, an undecodable key and a certificate that names another SPIFFE ID than the response", () => {
    expect(() => svidMaterial({ ...wire(svid), bundle: Buffer.alloc(0) }, SECTION)).toThrow(
      /^sidecars\.svc-a\.tls\.workload_api: the certificate, key or CA bundle is not usable/,
    );
    expect(() => svidMaterial({ ...wire(svid), x509_svid_key: Buffer.from("not a key") }, SECTION)).toThrow(
      /^sidecars\.svc-a\.tls\.workload_api: x509_svid_key is not usable/,
    );
    expect(() => svidMaterial({ ...wire(svid), spiffe_id: "spiffe://mesh.test/ns/shop/sa/svc-b" }, SECTION)).toThrow(
      `${SECTION}: x509_svid names ${ID}, but the response says spiffe://mesh.test/ns/shop/sa/svc-b`,
    );
  });
});

describe("svidMaterial: the X.509-SVID checks (X509-SVID §4.1, §5)", () => {
  /** The wire SVID of `leaf`, its chain carrying `intermediates` after it, with the mesh CA as the bundle. */
  const chained = (leaf: { cert_file: string; key_file: string }, ...intermediates: TestCa[]): X509SVID__Output => ({
    ...wire({ ...leaf, ca_file: ca.ca_file, spiffeId: ID }),
    x509_svid: Buffer.concat([der(leaf.cert_file), ...intermediates.map((i) => der(i.ca_file))]),
  });
  const refusal = (problem: string): string => `${SECTION}: x509_svid is not usable (${problem})`;

  it("refuses a leaf that has expired", () => {
    const expired = ca.issue("expired", ID, { validity: { notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2020-02-01T00:00:00Z") } });
    expect(() => svidMaterial(chained(expired), SECTION)).toThrow(refusal("the leaf expired at 2020-02-01T00:00:00.000Z"));
  });

  it("refuses a leaf not valid yet, beyond a minute of clock skew", () => {
    const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 + DAY);
    const early = ca.issue("early", ID, { validity: { notBefore, notAfter: new Date(notBefore.getTime() + DAY) } });
    expect(() => svidMaterial(chained(early), SECTION)).toThrow(refusal(`the leaf is not valid before ${notBefore.toISOString()}`));
    // The same certificate, to a clock half a minute behind its start, or once it has started.
    expect(svidMaterial(chained(early), SECTION, notBefore.getTime() - 30_000).spiffeId).toBe(ID);
    expect(svidMaterial(chained(early), SECTION, notBefore.getTime() + 1).spiffeId).toBe(ID);
  });

  it("refuses a leaf signed by a CA that is not in the bundle", () => {
    const foreign = makeTestCa(dir, "foreign-ca").issue("foreign", ID);
    expect(() => svidMaterial(chained(foreign), SECTION)).toThrow(refusal("the leaf is not signed by any valid certificate of the bundle"));
  });

  it("refuses a leaf that is a CA certificate", () => {
    const caLeaf = ca.issue("ca-leaf", ID, { ca: true });
    expect(new X509Certificate(readFileSync(caLeaf.cert_file)).ca).toBe(true);
    expect(() => svidMaterial(chained(caLeaf), SECTION)).toThrow(refusal("the leaf is a CA certificate, which an X.509-SVID must not be (X509-SVID §4.1)"));
  });

  it("takes a chain through an intermediate to the bundle, and serves it whole", () => {
    const intermediate = ca.intermediate("int-ca");
    const leaf = intermediate.issue("via-int", ID);
    const got = svidMaterial(chained(leaf, intermediate), SECTION);
    expect(got.material.cert.toString()).toBe(readFileSync(leaf.cert_file, "utf8") + readFileSync(intermediate.ca_file, "utf8"));
    // Without its intermediate, the leaf reaches no certificate of the bundle.
    expect(() => svidMaterial(chained(leaf), SECTION)).toThrow(refusal("the leaf is not signed by any valid certificate of the bundle"));
    // Nor with another CA's intermediate in its place.
    const stranger = makeTestCa(dir, "stranger-ca").intermediate("int-ca-stranger");
    expect(() => svidMaterial(chained(leaf, stranger), SECTION)).toThrow(refusal("the leaf is not signed by intermediate 1"));
  });

  it("expires with the first certificate of its chain: an intermediate that ends before the leaf", () => {
    // Whole seconds: certificates carry no finer dates.
    const now = Math.floor(Date.now() / 1000) * 1000;
    const intermediateEnds = new Date(now + DAY / 2);
    const shortLived = ca.intermediate("int-short", { validity: { notBefore: new Date(now - DAY), notAfter: intermediateEnds } });
    const leaf = shortLived.issue("via-short", ID);
    const leafEnds = new Date(new X509Certificate(readFileSync(leaf.cert_file)).validTo);
    expect(leafEnds.getTime()).toBeGreaterThan(intermediateEnds.getTime());
    expect(svidMaterial(chained(leaf, shortLived), SECTION).notAfter).toEqual(intermediateEnds);
  });

  it("refuses an intermediate that is not a CA, or has expired", () => {
    const notCa = ca.intermediate("int-not-ca", { ca: false });
    expect(() => svidMaterial(chained(notCa.issue("via-not-ca", ID), notCa), SECTION)).toThrow(
      refusal("intermediate 1 is not a CA certificate (X509-SVID §4.1)"),
    );
    const old = ca.intermediate("int-old", { validity: { notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2020-02-01T00:00:00Z") } });
    expect(() => svidMaterial(chained(old.issue("via-old", ID), old), SECTION)).toThrow(refusal("intermediate 1 expired at 2020-02-01T00:00:00.000Z"));
  });
});
