import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { secretReader } from "./client-secret.js";

const dir = mkdtempSync(join(tmpdir(), "sts-client-secret-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("secretReader", () => {
  it("gives a value as is", async () => {
    expect(await secretReader({ value: "from-env" }, "x")()).toBe("from-env");
  });

  it("reads a file again at each call, without its trailing newline, so a rotation takes effect", async () => {
    const file = join(dir, "rotating");
    writeFileSync(file, "first\n");
    const read = secretReader({ file }, "x");
    expect(await read()).toBe("first");
    writeFileSync(file, "second\n");
    expect(await read()).toBe("second");
  });

  it("keeps the copy read before while the file is briefly missing or empty (a Secret volume mid-update)", async () => {
    const file = join(dir, "flapping");
    writeFileSync(file, "kept");
    const read = secretReader({ file }, "x");
    rmSync(file);
    expect(await read()).toBe("kept");
    writeFileSync(file, "");
    expect(await read()).toBe("kept");
  });

  it("stops the start naming the setting and the file, never a secret", () => {
    expect(() => secretReader({ file: join(dir, "absent") }, "exchange.trusted_issuers[0].introspection.client_secret_file")).toThrow(
      `exchange.trusted_issuers[0].introspection.client_secret_file: cannot read ${join(dir, "absent")}: ENOENT`,
    );
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    expect(() => secretReader({ file: empty }, "s")).toThrow(`s: ${empty} is empty`);
    expect(() => secretReader({ value: "" }, "s")).toThrow("s: empty");
  });
});
