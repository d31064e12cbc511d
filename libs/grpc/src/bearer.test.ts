import { describe, expect, it } from "vitest";
import { bearerToken } from "./bearer.js";

describe("bearerToken", () => {
  it("reads the b64token of the Bearer scheme, whatever the scheme's case and however many spaces follow it", () => {
    for (const header of ["Bearer abc.DEF-_~+/=", "bearer abc.DEF-_~+/=", "BEARER   abc.DEF-_~+/="]) {
      expect(bearerToken(header), header).toBe("abc.DEF-_~+/=");
    }
  });

  it("refuses anything else: no header, another scheme, no space, no token, two tokens, characters outside b64token", () => {
    for (const header of [undefined, "", "Basic abc", "Bearerabc", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer a\nb", " Bearer abc", "Bearer abc "]) {
      expect(bearerToken(header), String(header)).toBeUndefined();
    }
  });
});
