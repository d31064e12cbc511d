import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { isOriginForm, urlOnOrigin } from "./upstream-url.js";

const BASE = "http://127.0.0.1:8081/ignored/base/path";

describe("urlOnOrigin", () => {
  it("puts a path and query on the configured origin", () => {
    const u = urlOnOrigin(BASE, "/work/items?id=7&x=%2F");
    expect(u.href).toBe("http://127.0.0.1:8081/work/items?id=7&x=%2F");
  });

  it.each(["//evil.example/x", "/\\evil.example/x", "/\\\\evil.example", "//169.254.169.254/latest/meta-data", "/@evil.example/", "/..//evil.example"])(
    "keeps %s on the configured host",
    (path) => {
      const u = urlOnOrigin(BASE, path);
      expect(u.origin).toBe("http://127.0.0.1:8081");
      expect(u.hostname).toBe("127.0.0.1");
    },
  );

  it.each(["http://169.254.169.254/latest/meta-data", "evil.example:80", "*", "", "https://127.0.0.1:8081/x"])("refuses %j, which is not a path", (target) => {
    expect(isOriginForm(target)).toBe(false);
    let caught: unknown;
    try {
      urlOnOrigin(BASE, target);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OAuthError);
    expect((caught as OAuthError).code).toBe("invalid_request");
  });
});
