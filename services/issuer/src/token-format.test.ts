import { describe, expect, it } from "vitest";
import { tokenFormatFor } from "./token-format.js";

describe("tokenFormatFor", () => {
  const formats = { "api-opaque": "opaque", "api-jwt": "jwt" } as const;

  it("defaults to jwt for audiences not configured", () => {
    expect(tokenFormatFor(formats, ["api-1", "api-2"])).toBe("jwt");
    expect(tokenFormatFor({}, ["api-1"])).toBe("jwt");
  });

  it("takes the format the audiences share", () => {
    expect(tokenFormatFor(formats, ["api-opaque"])).toBe("opaque");
    expect(tokenFormatFor({ a: "opaque", b: "opaque" }, ["a", "b"])).toBe("opaque");
    expect(tokenFormatFor(formats, ["api-jwt", "api-1"])).toBe("jwt");
  });

  it("refuses audiences that disagree, whichever comes first", () => {
    for (const audience of [
      ["api-opaque", "api-1"],
      ["api-1", "api-opaque"],
      ["api-jwt", "api-opaque"],
    ])
      expect(() => tokenFormatFor(formats, audience)).toThrow(expect.objectContaining({ code: "invalid_target" }));
  });

  it("does not read inherited properties as formats", () => {
    expect(tokenFormatFor({}, ["constructor", "toString"])).toBe("jwt");
  });
});
