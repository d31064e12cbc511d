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
