import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { verifySecret } from "@sts/client-auth";
import { parseConfig } from "@sts/config";
import { UsageError } from "./cli-credential.js";
import { secretFromInput } from "./cli-hash-secret.js";

const STSCTL = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "stsctl.js");
const SECRET = "a-client-secret-0123456789";

/** Runs the built stsctl with `input` on its standard input. */
function stsctl(input: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [STSCTL, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe("stsctl hash-secret", () => {
  it("prints a hash of the secret on standard input that verifies it, and that the config file takes", async () => {
    const r = await stsctl(`${SECRET}\n`, "hash-secret");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const hash = r.stdout.trim();
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(hash).not.toContain(SECRET);
    expect([await verifySecret(hash, SECRET), await verifySecret(hash, `${SECRET}x`)]).toEqual([true, false]);
    expect(parseConfig({ clients: [{ client_id: "api", client_secret_hash: hash }] }).clients[0]?.client_secret_hash).toBe(hash);
  });

  it("refuses a short secret with exit code 2, never printing it", async () => {
    const r = await stsctl("short-secret\n", "hash-secret");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/at least 16 characters/);
    expect(r.stdout + r.stderr).not.toContain("short-secret");
  });

  it.each([
    ["two lines", `${SECRET}\nsecond\n`],
    ["a trailing space", `${SECRET} \n`],
    ["nothing", ""],
  ])("refuses %s", (_what, input) => {
    expect(() => secretFromInput(input)).toThrow(UsageError);
  });

  it("takes the secret with or without its line break", () => {
    expect([secretFromInput(SECRET), secretFromInput(`${SECRET}\n`), secretFromInput(`${SECRET}\r\n`)]).toEqual([SECRET, SECRET, SECRET]);
  });
});
