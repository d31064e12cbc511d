import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rotatingFile, secretReader } from "./secret-source.js";

const dir = mkdtempSync(join(tmpdir(), "sts-secret-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("secretReader", () => {
  it("gives a value as is", () => {
    expect(secretReader({ value: "from-env" }, "x")()).toBe("from-env");
  });

  it("reads a file again at each call, without its trailing newline, so a rotation takes effect", () => {
    const file = join(dir, "rotating");
    writeFileSync(file, "first\n");
    const read = secretReader({ file }, "x");
    expect(read()).toBe("first");
    writeFileSync(file, "second\n");
    expect(read()).toBe("second");
  });

  it("keeps the copy read before while the file is briefly missing or empty (a Secret volume mid-update), and says so", () => {
    const file = join(dir, "flapping");
    writeFileSync(file, "kept");
    const stale: string[] = [];
    const read = secretReader({ file }, "x", (f, reason) => stale.push(`${f} ${reason}`));
    rmSync(file);
    expect(read()).toBe("kept");
    writeFileSync(file, "");
    expect(read()).toBe("kept");
    expect(stale).toEqual([`${file} ENOENT`, `${file} empty`]);
  });

  it("stops the start naming the secret and the file, never its content", () => {
    expect(() => secretReader({ file: join(dir, "absent") }, "exchange.trusted_issuers[0].introspection.client_secret")).toThrow(
      `cannot read the exchange.trusted_issuers[0].introspection.client_secret file ${join(dir, "absent")}: ENOENT`,
    );
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    expect(() => secretReader({ file: empty }, "s")).toThrow(`the s file ${empty} is empty`);
    expect(() => secretReader({ value: "" }, "s")).toThrow("the s is empty");
  });
});

describe("rotatingFile", () => {
  it("gives the raw bytes at each call, and the last copy while the file is gone", () => {
    const file = join(dir, "creds");
    writeFileSync(file, "one\n");
    const read = rotatingFile(file, "NATS credentials file");
    expect(read().toString()).toBe("one\n");
    writeFileSync(file, "two\n");
    expect(read().toString()).toBe("two\n");
    rmSync(file);
    expect(read().toString()).toBe("two\n");
    expect(() => rotatingFile(join(dir, "none"), "NATS credentials file")).toThrow(`cannot read the NATS credentials file ${join(dir, "none")}: ENOENT`);
  });
});
