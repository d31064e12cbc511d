/** A throwaway PKI for TLS tests, made with the openssl CLI: a CA and certificates it signs, all P-256. */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** PEM files of one certificate. */
export interface CertFiles {
  cert_file: string;
  key_file: string;
}

/** What {@link TestCa.issue} makes instead of a leaf valid from now for two days. */
export interface IssueOptions {
  /** Another validity window: a certificate that has expired, or is not valid yet. */
  validity?: { notBefore: Date; notAfter: Date };
  /** A CA certificate (basicConstraints CA:TRUE), as an X.509-SVID leaf must never be. */
  ca?: boolean;
}

/** A CA able to sign leaf certificates. */
export interface TestCa {
  ca_file: string;
  /** Signs a certificate usable as server and client: for 127.0.0.1 and localhost, or, given a SPIFFE ID, an X.509-SVID naming only it. */
  issue(name: string, spiffeId?: string, options?: IssueOptions): CertFiles;
  /**
   * A CA this one signs, which signs in turn; its `ca_file` is its own certificate, the one a chain carries after the
   * leaf. `options` make a broken one: out of date, or (`ca: false`) not a CA at all.
   */
  intermediate(name: string, options?: IssueOptions): TestCa;
}

const openssl = (args: string[]): void => {
  execFileSync("openssl", args, { stdio: "pipe" });
};

/** `20200101000000Z`, the date form `openssl ca` takes. */
const opensslDate = (date: Date): string => `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;

/**
 * `openssl ca` in place of `openssl x509 -req`, which (OpenSSL 3.0) cannot set a start date: it wants a config, a
 * database and a serial file, kept per CA beside its certificate.
 */
function caDatabase(dir: string, name: string): string {
  const db = join(dir, `${name}.db`);
  const config = join(db, "ca.cnf");
  if (existsSync(config)) return config;
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, "index.txt"), "");
  writeFileSync(join(db, "serial"), "01\n");
  writeFileSync(
    config,
    [
      "[ca]",
      "default_ca = test",
      "[test]",
      `database = ${join(db, "index.txt")}`,
      `serial = ${join(db, "serial")}`,
      `new_certs_dir = ${db}`,
      "default_md = sha256",
      "unique_subject = no",
      "policy = any",
      "[any]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
  return config;
}

/** The CA whose certificate and key are `ca`, named `name` in `dir`. */
function signer(dir: string, name: string, ca: { cert: string; key: string }): TestCa {
  const sign = (leaf: string, extensions: string[], options: IssueOptions): CertFiles => {
    const files = { cert_file: join(dir, `${leaf}.crt`), key_file: join(dir, `${leaf}.key`) };
    const csr = join(dir, `${leaf}.csr`);
    const ext = join(dir, `${leaf}.ext`);
    writeFileSync(ext, [...extensions, `basicConstraints=${options.ca ? "critical,CA:TRUE" : "CA:FALSE"}`, ""].join("\n"));
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", files.key_file, "-out", csr, "-subj", `/CN=${leaf}`]);
    const { validity } = options;
    if (validity) {
      const dates = ["-startdate", opensslDate(validity.notBefore), "-enddate", opensslDate(validity.notAfter)];
      const config = caDatabase(dir, name);
      openssl([
        "ca",
        "-batch",
        "-notext",
        "-config",
        config,
        "-cert",
        ca.cert,
        "-keyfile",
        ca.key,
        "-in",
        csr,
        "-out",
        files.cert_file,
        ...dates,
        "-extfile",
        ext,
      ]);
    } else {
      openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", files.cert_file, "-days", "2", "-extfile", ext]);
    }
    return files;
  };
  return {
    ca_file: ca.cert,
    issue(leaf, spiffeId, options = {}) {
      const san = spiffeId ? `URI:${spiffeId}` : "IP:127.0.0.1,DNS:localhost";
      return sign(leaf, [`subjectAltName=${san}`, "extendedKeyUsage=serverAuth,clientAuth"], options);
    },
    intermediate(sub, options = {}) {
      const files = sign(sub, ["keyUsage=critical,keyCertSign,cRLSign"], { ca: true, ...options });
      return signer(dir, sub, { cert: files.cert_file, key: files.key_file });
    },
  };
}

/** Makes a CA named `name` in `dir`. */
export function makeTestCa(dir: string, name: string): TestCa {
  const ca = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    ca.key,
    "-out",
    ca.cert,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
  ]);
  return signer(dir, name, ca);
}
