import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { isBareOrigin, isOriginForm, urlOnOrigin } from "./upstream-url.js";

const BASE = "http://127.0.0.1:8081";

describe("urlOnOrigin", () => {
  it("puts a path and query on the configured origin", () => {
    const u = urlOnOrigin(BASE, "/work/items?id=7&x=%2F");
    expect(u.href).toBe("http://127.0.0.1:8081/work/items?id=7&x=%2F");
    expect(urlOnOrigin(`${BASE}/`, "/x").href).toBe("http://127.0.0.1:8081/x");
    expect(urlOnOrigin(new URL("https://svc-b:7001"), "/x").href).toBe("https://svc-b:7001/x");
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

  // A path would be dropped: with svc-d at http://ingress/only-under-this-prefix, /svc-d/y reached http://ingress/y
  // with svc-d's token, another service's path behind a path-routed ingress.
  const NOT_ORIGINS = [
    "http://ingress/only-under-this-prefix",
    "http://ingress/?tenant=d",
    "http://ingress/#frag",
    "http://ingress/?",
    "http://user:secret@ingress",
    "ftp://ingress",
    "not a url",
  ];

  it.each(NOT_ORIGINS)("refuses to put a call on %j, which is not a bare http(s) origin, rather than drop what follows the origin", (base) => {
    expect(() => urlOnOrigin(base, "/y")).toThrow(TypeError);
  });

  it.each(NOT_ORIGINS)("does not count %j as a bare origin", (base) => {
    expect(isBareOrigin(base)).toBe(false);
  });

  it.each(["http://ingress", "http://ingress/", "https://ingress:8443", "http://[::1]:8080", "HTTP://Ingress"])("takes the origin %j", (base) => {
    expect(isBareOrigin(base)).toBe(true);
    expect(urlOnOrigin(base, "/y").pathname).toBe("/y");
  });
});
