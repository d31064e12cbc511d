import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError, bearerCredential, bearerMetadata } from "./cli-credential.js";

const SOURCES = { accessToken: "STS_AUDIT_ACCESS_TOKEN", breakGlass: "STS_AUDIT_TOKEN" };
const SECRET = "break-glass-0123456789abcdef0123";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhdWRpdG9yIn0.c2lnbmF0dXJl";
const dir = mkdtempSync(join(tmpdir(), "sts-cli-credential-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error `fn` throws, for a look at its message. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("nothing was thrown");
}

describe("bearerCredential", () => {
  it("takes the access token variable first (trimmed), then the file, then the break-glass secret", () => {
    expect(bearerCredential(undefined, { STS_AUDIT_ACCESS_TOKEN: ` ${TOKEN}\n`, STS_AUDIT_TOKEN: SECRET }, SOURCES)).toBe(TOKEN);
    expect(bearerCredential(undefined, { STS_AUDIT_TOKEN: SECRET }, SOURCES)).toBe(SECRET);
    expect(bearerCredential(undefined, {}, SOURCES)).toBeUndefined();
    const file = join(dir, "token");
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    expect(bearerCredential(file, { STS_AUDIT_TOKEN: SECRET }, SOURCES)).toBe(TOKEN);
  });

  it.each([
    ["a break-glass secret with a line break (a Secret written with echo)", {}, { STS_AUDIT_TOKEN: `${SECRET}\n` }, SECRET, "STS_AUDIT_TOKEN"],
    ["an access token with a non-ASCII character pasted in", {}, { STS_AUDIT_ACCESS_TOKEN: `${TOKEN}\u2026x` }, TOKEN, "STS_AUDIT_ACCESS_TOKEN"],
    ["a token file of two lines", { file: `${TOKEN}\nexpires_in=300\n` }, {}, TOKEN, "the access token file"],
    // The audit and policy services refuse such a break-glass secret at start: no caller can send it as it is.
    ["a break-glass secret with a space at its end", {}, { STS_AUDIT_TOKEN: `${SECRET} ` }, SECRET, "STS_AUDIT_TOKEN"],
  ])("refuses %s as a usage error that names where it came from, never what it holds", (_what, given, env, secret, source) => {
    let file: string | undefined;
    if ("file" in given) writeFileSync((file = join(dir, "two-lines")), given.file, { mode: 0o600 });
    const err = thrown(() => bearerCredential(file, env, SOURCES));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain(source);
    expect(err.message).not.toContain(secret.slice(0, 12));
  });
});

describe("bearerMetadata", () => {
  it("carries the credential as a bearer", () => {
    expect(bearerMetadata(TOKEN).get("authorization")).toEqual([`Bearer ${TOKEN}`]);
    expect(bearerMetadata(undefined).get("authorization")).toEqual([]);
  });

  it("never quotes a credential a header cannot carry in its error", () => {
    const err = thrown(() => bearerMetadata(`${SECRET}\r\n`));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).not.toContain(SECRET.slice(0, 12));
  });
});
