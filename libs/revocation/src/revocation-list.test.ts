import { describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { OAuthError } from "@sts/errors";
import { IllFormedStringError } from "@sts/nats";
import { RevocationList, keyWithdrawalKey, subjectKey } from "./revocation-list.js";

/** A bucket the test must never reach: a name that cannot have a key is refused before any read or write. */
const untouchable = new Proxy({} as KV, {
  get: () => () => {
    throw new Error("the bucket was used");
  },
});
const copy = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };

/** The OAuth code `call` fails with. */
async function code(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "no error";
  } catch (err) {
    return err instanceof OAuthError ? err.code : String(err);
  }
}

describe("RevocationList with names that are not well-formed Unicode", () => {
  // JSON's "\ud800" in a token's claims makes a lone surrogate; UTF-8 turns every one into U+FFFD.
  const lone = JSON.parse('"alice\\ud800"') as string;

  it("gives no two subjects one key: a lone surrogate is refused, not digested as U+FFFD", () => {
    expect(() => subjectKey("https://idp", lone)).toThrow(IllFormedStringError);
    expect(() => subjectKey(lone, "alice")).toThrow(IllFormedStringError);
    expect(() => keyWithdrawalKey("https://sts", "\uDC00")).toThrow(IllFormedStringError);
    expect(subjectKey("https://idp", "alice\uFFFD")).toMatch(/^sub\./);
  });

  it("answers a client error, never temporarily_unavailable or a 500, before reading or writing the bucket", async () => {
    const list = new RevocationList(untouchable, copy);
    const now = 1_700_000_000;
    // A grant minting for a subject no revocation could ever name (RFC 6749 §5.2).
    expect(await code(() => list.storedSubjectRevokedAt("https://idp", lone))).toBe("invalid_grant");
    expect(await code(() => list.storedSubjectRevocation("https://idp", lone))).toBe("invalid_request");
    expect(await code(() => list.revokeSubject({ iss: "https://idp", sub: lone, revoked_at: now, exp: now + 60, by: "op" }, undefined))).toBe(
      "invalid_request",
    );
    expect(await code(() => list.revoke({ jti: lone, exp: now + 60, revoked_at: now, by: "app" }))).toBe("invalid_request");
    expect(await code(() => list.withdrawKey({ iss: "https://sts", kid: lone, revoked_at: now, exp: now + 60, by: "op" }))).toBe("invalid_request");
    expect(await code(() => list.storedKeyWithdrawal("https://sts", lone))).toBe("invalid_request");
  });
});
