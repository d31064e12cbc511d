/** The issuer's settings from its environment: the master key file is held to the key file's rule. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSettings } from "./config.js";

let dir: string;
let file: string;
const master = randomBytes(32).toString("base64url");

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-issuer-config-"));
  file = join(dir, "master.key");
  writeFileSync(file, master, { mode: 0o600 });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("STS_MASTER_KEY_FILE", () => {
  it("is read when only its owner may write it (others may read it, as Kubernetes mounts secrets)", () => {
    chmodSync(file, 0o644);
    expect(readSettings({ STS_MASTER_KEY_FILE: file }).masterKey).toBeInstanceOf(Buffer);
  });

  it.each(["664", "646"])("is refused when mode %s lets others write it, never quoting it", (mode) => {
    chmodSync(file, parseInt(mode, 8));
    let thrown: unknown;
    try {
      readSettings({ STS_MASTER_KEY_FILE: file });
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toContain(`${file} may be written by users other than its owner`);
    expect(String(thrown)).not.toContain(master);
  });
});

describe("STS_MASTER_KEY_PREVIOUS", () => {
  const other = randomBytes(32).toString("base64url");

  it("is read beside the master key, from the variable or from its file, and held to the same file rule", () => {
    chmodSync(file, 0o600);
    expect(readSettings({ STS_MASTER_KEY: other, STS_MASTER_KEY_PREVIOUS: master }).previousMasterKeys).toHaveLength(1);
    expect(readSettings({ STS_MASTER_KEY: other, STS_MASTER_KEY_PREVIOUS_FILE: file }).previousMasterKeys).toHaveLength(1);
    expect(readSettings({ STS_MASTER_KEY: other }).previousMasterKeys).toEqual([]);
    chmodSync(file, 0o666);
    expect(() => readSettings({ STS_MASTER_KEY: other, STS_MASTER_KEY_PREVIOUS_FILE: file })).toThrow(`${file} may be written by users other than its owner`);
  });

  it("is refused without a master key to replace it with (an issuer signing with a key file has none)", () => {
    const config = join(dir, "jwk-file.yaml");
    writeFileSync(config, `keys:\n  jwk_file: ${join(dir, "signing.jwk")}\n`);
    expect(() => readSettings({ STS_CONFIG: config })).not.toThrow();
    expect(() => readSettings({ STS_CONFIG: config, STS_MASTER_KEY_PREVIOUS: master })).toThrow(
      "STS_MASTER_KEY_PREVIOUS replaces a master key: it needs the new one",
    );
  });

  it("names the variable or file of a key that does not parse, never quoting the key", () => {
    chmodSync(file, 0o600);
    const short = randomBytes(8).toString("hex");
    let thrown: unknown;
    try {
      readSettings({ STS_MASTER_KEY: short });
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toContain("STS_MASTER_KEY: master key must hold at least 32 random bytes");
    expect(String(thrown)).not.toContain(short);
  });
});
