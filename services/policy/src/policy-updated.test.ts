import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CallerIdentity } from "@sts/mesh";
import { configVersion } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";
import { operatorChanges, policyUpdatedData } from "./policy-updated.js";

const dana: CallerIdentity = { credential: "access_token", sub: "dana", client_id: "ops-dana", jti: "j-dana" };
const declared = {
  id: "hop/a/b/exchange",
  text: 'permit (principal == Client::"a", action == Action::"exchange", resource == Audience::"b");',
  description: "",
};
const reset: StoredPolicy = { ...configVersion(declared, 1), author: dana, change: "reset" };
/** SHA-256 of the text, base64url, as an auditor computes it from a text kept elsewhere. */
const textDigest = createHash("sha256").update(declared.text, "utf8").digest("base64url");

describe("policy.updated data", () => {
  it("says a version handed back to the config file was a reset: a put, by its operator, with change reset", () => {
    expect(policyUpdatedData(7n, ["z", declared.id], reset)).toEqual({
      revision: "7",
      policy_ids: [declared.id, "z"],
      policy_id: declared.id,
      operation: "put",
      change: "reset",
      text_sha256: textDigest,
      ...dana,
    });
  });

  it("marks nothing else a reset: a Put, and a seed from the config file, which names nobody", () => {
    expect(policyUpdatedData(8n, [], { ...declared, source: "api", updated_at: 1, author: dana })).not.toHaveProperty("change");
    expect(policyUpdatedData(9n, [], configVersion(declared, 1))).toEqual({
      revision: "9",
      policy_ids: [],
      policy_id: declared.id,
      operation: "put",
      text_sha256: textDigest,
    });
  });

  it("names the text a put wrote by its SHA-256, and a delete by none", () => {
    const other = { ...declared, text: declared.text.replace('"b"', '"c"'), source: "api" as const, updated_at: 2, author: dana };
    expect(policyUpdatedData(10n, [declared.id], other).text_sha256).toBe(createHash("sha256").update(other.text).digest("base64url"));
    expect(policyUpdatedData(10n, [declared.id], other).text_sha256).not.toBe(textDigest);
    const deleted: StoredPolicy = { ...declared, text: "", source: "api", updated_at: 3, author: dana, deleted: true };
    expect(policyUpdatedData(11n, [], deleted)).not.toHaveProperty("text_sha256");
  });

  it("replays a reset from the bucket's history as the live path announces it", () => {
    const created = new Date(0);
    const seeded = { key: "k", value: configVersion(declared, 1), revision: 1n, created };
    const records = [...operatorChanges(new Map(), [seeded, { key: "k", value: reset, revision: 2n, created }])];
    expect(records).toEqual([{ data: policyUpdatedData(2n, [declared.id], reset), made: created }]);
  });
});
