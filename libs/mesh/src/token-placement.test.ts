import { describe, expect, it } from "vitest";
import { MisplacedToken, refuseQueryToken, refuseTokenOutsideAuthorization } from "./token-placement.js";

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

describe("refuseQueryToken (RFC 6750 §2.3 next to §2.1)", () => {
  it.each(["/x?access_token=t", "/x?a=1&access_token=", "/x?access%5Ftoken=t", "/x?a=1&access_token"])("refuses %s as invalid_request", (target) => {
    expect(() => refuseQueryToken(target)).toThrow(MisplacedToken);
  });

  // What WHATWG's URLSearchParams reads as another name, a framework behind the sidecar reads as the token parameter.
  it.each([
    ["ASP.NET Core (names without regard to case)", "/x?ACCESS_TOKEN=t"],
    ["ASP.NET Core, percent-encoded", "/x?Access%5FToken=t"],
    ["Rack before 3, Python before 3.9.2 (`;` separates parameters)", "/x?a=1;access_token=t"],
    ["Rack (a space after the separator is dropped)", "/x?a=1;%20access_token=t"],
    ["PHP (`.` becomes `_`)", "/x?access.token=t"],
    ["PHP (a space becomes `_`)", "/x?access+token=t"],
    ["PHP (an unclosed `[` becomes `_`)", "/x?access[token=t"],
    ["PHP and Rack (an array of that name)", "/x?access_token[]=t"],
    ["PHP and Rack (a hash of that name)", "/x?access_token%5Ba%5D=t"],
  ])("refuses the token parameter as %s reads it: %s", (_parser, target) => {
    expect(() => refuseQueryToken(target)).toThrow(MisplacedToken);
  });

  it.each(["/x", "/x?", "/access_token", "/x?access_tokens=t", "/x?my_access_token=t", "/x#access_token=t", "/x?q=access_token", "/x?access-token=t"])(
    "lets %s through",
    (target) => {
      expect(() => refuseQueryToken(target)).not.toThrow();
    },
  );
});

describe("refuseTokenOutsideAuthorization", () => {
  it("refuses the token in the target, plain or percent-encoded, and in any header value but Authorization's", () => {
    const pct = [...TOKEN].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("");
    for (const target of [`/svc-b/x?t=${TOKEN}`, `/svc-b/${TOKEN}`, `/svc-b/x?t=${pct}`]) {
      expect(() => refuseTokenOutsideAuthorization(TOKEN, target, {})).toThrow(MisplacedToken);
    }
    for (const headers of [{ cookie: `a=1; s=${TOKEN}` }, { "x-token": ["other", TOKEN] }, { "proxy-authorization": `Bearer ${TOKEN}` }]) {
      expect(() => refuseTokenOutsideAuthorization(TOKEN, "/svc-b/x", headers)).toThrow(MisplacedToken);
    }
  });

  it("finds a percent-encoded token even when another part of the target is not well-formed percent-encoding", () => {
    // The destination decodes each parameter on its own: `t` still reads as the token there.
    const oneEncoded = TOKEN.replace(".", "%2E");
    for (const target of [`/svc-b/x?discount=10%&t=${oneEncoded}`, `/svc-b/x?q=%E0&t=${oneEncoded}`, `/svc-b/%zz/${oneEncoded}`]) {
      expect(() => refuseTokenOutsideAuthorization(TOKEN, target, {})).toThrow(MisplacedToken);
    }
  });

  it("refuses the token as the bytes of binary metadata: a grpc-js Buffer, or a -bin header's base64 on the wire", () => {
    const bytes = Buffer.from(`prefix:${TOKEN}`);
    for (const headers of [
      { "x-ctx-bin": bytes },
      { "x-ctx-bin": [Buffer.from("other"), bytes] },
      { "x-ctx-bin": bytes.toString("base64") },
      { "X-Ctx-Bin": `${Buffer.from("other").toString("base64")}, ${bytes.toString("base64").replace(/=+$/, "")}` },
    ]) {
      expect(() => refuseTokenOutsideAuthorization(TOKEN, "/svc-b/x", headers)).toThrow(MisplacedToken);
    }
  });

  it("lets a call through with the token in Authorization only, and targets and metadata that do not hold it", () => {
    expect(() =>
      refuseTokenOutsideAuthorization(TOKEN, "/svc-b/x?q=%E0&r=10%&s=%41%zz", {
        Authorization: `Bearer ${TOKEN}`,
        cookie: "a=1",
        "x-ctx-bin": Buffer.from("other").toString("base64"),
        // Not binary metadata: its text is not read as base64.
        "x-note": Buffer.from(TOKEN).toString("base64"),
      }),
    ).not.toThrow();
  });
});
