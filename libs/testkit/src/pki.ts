/** A throwaway PKI for TLS tests, made with the openssl CLI: a CA and certificates it signs, all P-256. */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** PEM files of one certificate. */
export interface CertFiles {
  cert_file: string;
  key_file: string;
}

/** A CA able to sign leaf certificates. */
export interface TestCa {
  ca_file: string;
  /** Signs a certificate usable as server and client: for 127.0.0.1 and localhost, or, given a SPIFFE ID, an X.509-SVID naming only it. */
  issue(name: string, spiffeId?: string): CertFiles;
}

const openssl = (args: string[]): void => {
  execFileSync("openssl", args, { stdio: "pipe" });
};

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
  return {
    ca_file: ca.cert,
    issue(leaf, spiffeId) {
      const files = { cert_file: join(dir, `${leaf}.crt`), key_file: join(dir, `${leaf}.key`) };
      const csr = join(dir, `${leaf}.csr`);
      const ext = join(dir, `${leaf}.ext`);
      const san = spiffeId ? `URI:${spiffeId}` : "IP:127.0.0.1,DNS:localhost";
      writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", files.key_file, "-out", csr, "-subj", `/CN=${leaf}`]);
      openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", files.cert_file, "-days", "2", "-extfile", ext]);
      return files;
    },
  };
}
