import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isCleanName } from "@sts/scopes";
import { compileHops } from "./hops.js";
import { checkDescription } from "./service.js";

/** Whether Put takes `description` (its own check): what `stsctl policy list` prints as is. */
const putTakes = (description: string): boolean => {
  try {
    checkDescription(description);
    return true;
  } catch {
    return false;
  }
};

/** The client id and audience a hop's exchange-policy description names, read back as JSON strings. */
function named(description: string): [string, string] {
  const m = /^Config hop: client ("(?:[^"\\]|\\.)*") may exchange tokens for audience ("(?:[^"\\]|\\.)*") \(/.exec(description);
  if (!m) throw new Error(`unexpected description: ${description}`);
  return [JSON.parse(m[1] as string) as string, JSON.parse(m[2] as string) as string];
}

describe("config hop descriptions (Trojan Source, CVE-2021-42574)", () => {
  it("hold no bidi control or line separator from a client id or audience, and still name both exactly", () => {
    // A right-to-left override and a line separator: a client id and an audience may hold them (C0/C1 controls only are refused).
    const from = "svc\u202egnp.\u2066x";
    const to = "https://api.example/\u2028v1";
    const policies = compileHops([{ from, to, scopes: ["read"] }]);
    expect(policies.map((p) => p.id).length).toBe(2);
    for (const p of policies) expect(putTakes(p.description), p.description).toBe(true);
    expect(named((policies[0] as { description: string }).description)).toEqual([from, to]);
  });

  it("are a description Put takes for any hop compileHops takes, naming its client and audience", () => {
    // Ordinary characters, the quoting ones, and the characters that are not shown as written.
    const unit = fc.oneof(
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
      fc.constantFrom('"', "\\", "\u061c", "\u200f", "\u2028", "\u2029", "\u202e", "\u2069"),
    );
    const name = fc.string({ unit, minLength: 1, maxLength: 20 }).filter(isCleanName);
    fc.assert(
      fc.property(name, name, (from, to) => {
        const policies = compileHops([{ from, to, scopes: ["read"] }]);
        expect(policies.every((p) => putTakes(p.description))).toBe(true);
        expect(named((policies[0] as { description: string }).description)).toEqual([from, to]);
      }),
      { numRuns: 200 },
    );
  });
});
