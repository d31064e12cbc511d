/** The form body's media type, charset and encoding, as the token endpoint and its siblings read them. */
import { Readable } from "node:stream";
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { checkFormType, parseForm, readBody } from "./form.js";

/** [code, description] of what `run` threw, or "accepted". */
async function outcome(run: () => unknown): Promise<string | [string, string]> {
  try {
    await run();
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
  return "accepted";
}

/** A request whose body is `bytes`, with no declared length. */
const requestOf = (bytes: Buffer): IncomingMessage => Object.assign(Readable.from([bytes]), { headers: {} }) as unknown as IncomingMessage;

describe("checkFormType", () => {
  it.each([
    "application/x-www-form-urlencoded",
    "Application/X-WWW-Form-Urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    'application/x-www-form-urlencoded;charset="UTF-8"',
  ])("takes %s", async (type) => {
    expect(await outcome(() => checkFormType(type))).toBe("accepted");
  });

  it.each([
    "application/x-www-form-urlencoded; charset=iso-8859-1",
    "application/x-www-form-urlencoded; charset=",
    "application/x-www-form-urlencoded; charset=utf-16",
  ])("refuses %s: the form is UTF-8 (invalid_request)", async (type) => {
    expect(await outcome(() => checkFormType(type))).toEqual(["invalid_request", "a form body must be UTF-8 (RFC 6749 appendix B)"]);
  });

  it.each([undefined, "", "application/json", "multipart/form-data; boundary=x", "text/plain; x=application/x-www-form-urlencoded"])(
    "refuses the media type %s (invalid_request)",
    async (type) => {
      expect(await outcome(() => checkFormType(type))).toEqual(["invalid_request", "body must be application/x-www-form-urlencoded"]);
    },
  );
});

describe("readBody and parseForm", () => {
  it("reads UTF-8, escaped or not, as the characters it names", async () => {
    const body = await readBody(requestOf(Buffer.from("client_id=Zo%C3%AB&scope=read+write&sub=Zoë")), 1000);
    const form = parseForm(body);
    expect([form.get("client_id"), form.get("scope"), form.get("sub")]).toEqual(["Zoë", "read write", "Zoë"]);
  });

  it("refuses a body with bytes that are not UTF-8 rather than reading U+FFFD in their place (invalid_request)", async () => {
    const latin1 = Buffer.concat([Buffer.from("client_id=Zo"), Buffer.from([0xeb])]);
    expect(await outcome(() => readBody(requestOf(latin1), 1000))).toEqual(["invalid_request", "request body is not UTF-8"]);
  });

  it.each(["client_id=Zo%EB", "client_id=%", "client_id=%4", "client_id=%zz", "a=%C3"])(
    "refuses %s: a bad escape or escaped bytes that are not UTF-8 (invalid_request)",
    (body) => {
      expect(() => parseForm(body)).toThrow("malformed percent-encoding (or escaped bytes that are not UTF-8)");
    },
  );
});

describe("parameters without a value (RFC 6749 §3.1: treated as omitted)", () => {
  it.each([
    ["grant_type=client_credentials&grant_type=", "client_credentials"],
    ["grant_type=&grant_type=client_credentials", "client_credentials"],
    ["grant_type=&grant_type=", undefined],
  ])("reads %s as one grant_type, not a repeated one", (body, grantType) => {
    expect(parseForm(body).get("grant_type")).toBe(grantType);
  });

  it("still refuses a parameter given two values (RFC 6749 §3.2)", () => {
    expect(() => parseForm("scope=a&scope=&scope=b")).toThrow("parameter scope is repeated");
  });

  it("leaves empty values out of the repeatable lists", () => {
    expect(parseForm("audience=&audience=api-1&resource=").all("audience")).toEqual(["api-1"]);
    expect(parseForm("audience=&resource=").all("resource")).toEqual([]);
  });
});
