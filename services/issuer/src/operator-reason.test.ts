import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { parseReason } from "./operator-reason.js";

/** The OAuth code and description parseReason refuses `value` with, or "ok". */
function refusal(value: string): string | [string, string] {
  try {
    parseReason(value, false);
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
  return "ok";
}

describe("parseReason", () => {
  it("takes one line of text as written", () => {
    expect(parseReason("key leaked in CI logs (ticket 4711)", false)).toBe("key leaked in CI logs (ticket 4711)");
    expect(parseReason("clé compromise — ticket ٤٧١١", false)).toBe("clé compromise — ticket ٤٧١١");
  });

  it("refuses line breaks of every kind and every bidi control, never echoing the reason (Trojan Source)", () => {
    const oneLine = ["invalid_request", "reason must be one line of text, without control characters"];
    // LF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR; ARABIC LETTER MARK, RLM, RLO, RLI.
    for (const c of ["\n", "\u0085", "\u2028", "\u2029", "\u061c", "\u200f", "\u202e", "\u2067"]) {
      expect([c.codePointAt(0)?.toString(16), refusal(`revoked by ops${c}approved by security`)]).toEqual([c.codePointAt(0)?.toString(16), oneLine]);
    }
  });
});
