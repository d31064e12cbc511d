/**
 * The repeatable parameters (`audience`, `resource`) are read before any credential is checked, so what one request
 * may ask of them is bounded: each list was copied whole for every value it gained, quadratic in the body's size (a
 * 200 KB body of `audience=a&…`, which tokens.max_token_bytes at its 64 KiB maximum lets in, held the event loop 1.6 s).
 */
import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { MAX_REPEATED_VALUES, parseForm } from "./form.js";

/** `count` values of `name`, each `value` followed by its index. */
const repeated = (name: string, count: number, value = "api-"): string => Array.from({ length: count }, (_, i) => `${name}=${value}${i}`).join("&");

/** [code, description] of what parsing `body` threw, or the audience and resource lists it read. */
function outcome(body: string): [string, string] | { audience: number; resource: number } {
  try {
    const form = parseForm(body);
    return { audience: form.all("audience").length, resource: form.all("resource").length };
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
}

describe("values of a repeatable parameter", () => {
  it("are taken up to MAX_REPEATED_VALUES of each, well past the 16 distinct audiences the issuer and exchanger take", () => {
    expect(MAX_REPEATED_VALUES).toBeGreaterThanOrEqual(16);
    const body = `${repeated("audience", MAX_REPEATED_VALUES)}&${repeated("resource", MAX_REPEATED_VALUES, "https://r.example/")}`;
    expect(outcome(body)).toEqual({ audience: MAX_REPEATED_VALUES, resource: MAX_REPEATED_VALUES });
  });

  it.each(["audience", "resource"])("past that, are refused as invalid_request, naming the parameter (%s)", (name) => {
    expect(outcome(repeated(name, MAX_REPEATED_VALUES + 1))).toEqual(["invalid_request", `parameter ${name} has too many values`]);
  });

  it("are refused however large the body, the same value repeated included", () => {
    expect(outcome("audience=a&".repeat(18_000))).toEqual(["invalid_request", "parameter audience has too many values"]);
  });

  it("do not count when sent without a value (RFC 6749 §3.1: omitted)", () => {
    expect(outcome(`${"audience=&".repeat(MAX_REPEATED_VALUES * 2)}audience=api-1`)).toEqual({ audience: 1, resource: 0 });
  });
});
