import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseConfig } from "@sts/config";
import { MAX_DECISION_CHARS, MAX_DECISION_REQUESTED_SCOPES, MAX_DECISION_SUBJECT_CHARS, MAX_SUBJECT_TOKEN_BYTES, decisionChars } from "./decision-limits.js";
import { intersectScopes } from "./scope-algebra.js";
import { MAX_SCOPES, MAX_SCOPE_STRING_LENGTH, parseScopes } from "./scope-syntax.js";

describe("decision limits: what an exchanger can legitimately send", () => {
  it("the subject token's ceiling is tokens.max_token_bytes's: a larger token is refused by the config, so none reaches a question", () => {
    expect(parseConfig({ tokens: { max_token_bytes: MAX_SUBJECT_TOKEN_BYTES } }).tokens.max_token_bytes).toBe(MAX_SUBJECT_TOKEN_BYTES);
    expect(() => parseConfig({ tokens: { max_token_bytes: MAX_SUBJECT_TOKEN_BYTES + 1 } })).toThrow(/max_token_bytes/);
  });

  it("the subject's part is what the payload of such a token can hold; the whole adds the request's scopes, client id and audience", () => {
    const payloadChars = Buffer.from("x".repeat(MAX_SUBJECT_TOKEN_BYTES), "base64url").length;
    expect(MAX_DECISION_SUBJECT_CHARS).toBe(payloadChars);
    expect(MAX_DECISION_SUBJECT_CHARS).toBe(49_152);
    expect(MAX_DECISION_CHARS).toBe(67_072);
  });

  it("the requested scopes, the meet of the request's and the subject's, may hold more than MAX_SCOPES entries, never more than twice as many", () => {
    // Subject: x:/ and 63 y: paths; request: y:/ (met by the 63 paths) and 63 x: paths (each within x:/).
    const subject = ["x:/", ...Array.from({ length: MAX_SCOPES - 1 }, (_, i) => `y:/p${i}`)];
    const requested = ["y:/", ...Array.from({ length: MAX_SCOPES - 1 }, (_, i) => `x:/q${i}`)];
    const asked = intersectScopes(parseScopes(requested.join(" ")), parseScopes(subject.join(" ")));
    expect(asked.length).toBe(2 * (MAX_SCOPES - 1));
    expect(asked.length).toBeLessThanOrEqual(MAX_DECISION_REQUESTED_SCOPES);
  });

  it("every meet of two scope parameters within the limits fits the requested-scope bounds (count and characters)", () => {
    const segment = fc.constantFrom("a", "b", "c", "long-segment-name");
    const scope = fc.oneof(
      fc.constantFrom("openid", "email", "x:/", "y:/"),
      fc.tuple(fc.constantFrom("x", "y"), fc.array(segment, { minLength: 1, maxLength: 4 })).map(([n, p]) => `${n}:/${p.join("/")}`),
    );
    const parameter = fc
      .array(scope, { maxLength: 80 })
      .map((l) => l.join(" "))
      .filter((s) => s.length <= MAX_SCOPE_STRING_LENGTH);
    fc.assert(
      fc.property(parameter, parameter, (requested, subject) => {
        let r: string[], s: string[];
        try {
          r = parseScopes(requested);
          s = parseScopes(subject);
        } catch {
          return; // more than MAX_SCOPES: refused before any question
        }
        const asked = intersectScopes(r, s);
        expect(asked.length).toBeLessThanOrEqual(MAX_DECISION_REQUESTED_SCOPES);
        expect(decisionChars([asked])).toBeLessThanOrEqual(2 * MAX_SCOPE_STRING_LENGTH);
      }),
      { numRuns: 300 },
    );
  });

  it("decisionChars sums names and every entry of lists", () => {
    expect(decisionChars(["ab", ["c", "de"], [], ""])).toBe(5);
  });
});
