import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./index.js";

/** A logger writing into an array of parsed lines. */
function capture(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      raw.push(String(chunk));
      cb();
    },
  });
  return {
    log: createLogger("t", { destination }),
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(""),
  };
}

const JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

describe("createLogger", () => {
  it("never writes secrets or tokens, at any of the first levels", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger("t", { destination });
    log.info(
      {
        authorization: "Basic c2VjcmV0",
        client_secret: "s3cr3t",
        req: { headers: { authorization: "Bearer abc.def.ghi" } },
        body: { subject_token: "eyJhbGciOi.x.y", nested: { access_token: "tok-123" } },
        assertion: "a.b.c",
        keep: "visible",
      },
      "hello",
    );
    const out = lines.join("");
    for (const secret of ["c2VjcmV0", "s3cr3t", "abc.def.ghi", "eyJhbGciOi.x.y", "tok-123", "a.b.c"]) expect(out).not.toContain(secret);
    expect(out).toContain("visible");
    expect(out).toContain("[redacted]");
  });

  it("redacts every *_token field, secrets and Authorization fields at any depth and in any case or spelling (CONVENTIONS 10)", () => {
    const c = capture();
    c.log.info(
      {
        logout_token: "secret-1",
        headers: { Authorization: "Bearer secret-2", "Proxy-Authorization": "Basic secret-3", Cookie: "sid=secret-4" },
        a: { b: { c: { d: { client_secret: "secret-5", clientSecret: "secret-6", privateKey: "secret-7" } } } },
        items: [{ refresh_token: "secret-8" }],
        token_type: "Bearer",
        issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
        max_token_bytes: 8192,
      },
      "hello",
    );
    for (let i = 1; i <= 8; i++) expect(c.text()).not.toContain(`secret-${i}`);
    expect(c.lines[0]).toMatchObject({ token_type: "Bearer", issued_token_type: "urn:ietf:params:oauth:token-type:access_token", max_token_bytes: 8192 });
  });

  it("searches an error's own fields too, and cuts a JWT out of its message and stack, keeping its type and stack", () => {
    const c = capture();
    const err = Object.assign(new TypeError(`Headers.set: "Bearer ${JWT}" is an invalid header value`), {
      request: { headers: { authorization: "Bearer secret-1" } },
    });
    c.log.error({ err }, "failed");
    c.log.error(new Error("plain", { cause: new Error(`inner ${JWT}`) }));
    expect(c.text()).not.toContain("secret-1");
    expect(c.text()).not.toContain(JWT);
    expect(c.lines[0]?.err).toMatchObject({ type: "TypeError", request: { headers: { authorization: "[redacted]" } } });
    expect((c.lines[0]?.err as { stack: string }).stack).toMatch(/^TypeError: Headers\.set/);
    expect(c.lines[1]).toMatchObject({ msg: "plain", err: { type: "Error", message: "plain: inner [redacted]" } });
  });

  it("redacts the fields of a value written through toJSON (grpc-js Metadata), and survives cycles", () => {
    const c = capture();
    const metadata = { toJSON: () => ({ authorization: ["Bearer secret-1"], "x-request-id": ["r1"] }) };
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    c.log.warn({ metadata, cyclic, when: new Date(0) }, "call");
    expect(c.text()).not.toContain("secret-1");
    expect(c.lines[0]).toMatchObject({ metadata: { "x-request-id": ["r1"] }, cyclic: { name: "loop", self: "[Circular]" }, when: "1970-01-01T00:00:00.000Z" });
  });
});

describe("createLogger: the message", () => {
  it("redacts a token in the message pino copies from an error when the call gives none (log.error(err), log.error({ err }))", () => {
    const c = capture();
    c.log.error(new Error(`subject_token ${JWT} refused`));
    c.log.error({ err: new Error(`assertion ${JWT} refused`) });
    expect(c.text()).not.toContain(JWT);
    expect(c.lines[0]).toMatchObject({ msg: "subject_token [redacted] refused", err: { type: "Error", message: "subject_token [redacted] refused" } });
    expect(c.lines[1]).toMatchObject({ msg: "assertion [redacted] refused" });
  });

  it("redacts the message and the values interpolated into it", () => {
    const c = capture();
    c.log.warn(`refused Bearer ${JWT}`);
    c.log.info({ client_id: "svc-a" }, "body was %s", "grant_type=client_credentials&client_secret=s3cr3t-1");
    c.log.info("key %j", { kty: "EC", crv: "P-256", x: "x", y: "y", d: "private-d-1" });
    for (const secret of [JWT, "s3cr3t-1", "private-d-1"]) expect(c.text()).not.toContain(secret);
    expect(c.lines.map((l) => l.msg)).toEqual([
      "refused Bearer [redacted]",
      "body was grant_type=client_credentials&client_secret=[redacted]",
      'key {"kty":"EC","crv":"P-256","x":"x","y":"y","d":"[redacted]"}',
    ]);
  });

  it("cuts credentials out of string fields and a JWK's private members out of any field", () => {
    const c = capture();
    c.log.info(
      {
        body: "grant_type=refresh_token&refresh_token=str_N3vEr-lOgGeD_9aZ8yX7wV6uT5sR4qP3oN2mL1kJ0i",
        rawHeaders: ["Authorization", "Basic YWxpY2U6czNjcjN0"],
        file: "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----",
        signing: { kid: "k1", kty: "OKP", crv: "Ed25519", x: "pub", d: "private-d-2" },
      },
      "request",
    );
    for (const secret of ["str_N3vEr", "YWxpY2U6czNjcjN0", "MIGHAgEAMBMGByqGSM49", "private-d-2"]) expect(c.text()).not.toContain(secret);
    expect(c.lines[0]).toMatchObject({ rawHeaders: ["Authorization", "Basic [redacted]"], signing: { kid: "k1", x: "pub", d: "[redacted]" } });
  });
});

describe("createLogger: child loggers", () => {
  it("redacts the bindings of a child, a grandchild and setBindings, as it does a log object", () => {
    const c = capture();
    const child = c.log.child({ headers: { Authorization: "Bearer secret-1" }, upstream: "nats://svc:secret-2@nats:4222", clientSecret: "secret-3" });
    child.info("one");
    const grandchild = child.child({ note: `subject ${JWT}`, rpc: "Exchange" });
    grandchild.setBindings({ jwk: { kty: "EC", crv: "P-256", x: "x", y: "y", d: "secret-4" } });
    grandchild.warn("two");
    for (const secret of ["secret-1", "secret-2", "secret-3", "secret-4", JWT]) expect(c.text()).not.toContain(secret);
    expect(c.lines[0]).toMatchObject({
      headers: { Authorization: "[redacted]" },
      upstream: "nats://[redacted]@nats:4222",
      clientSecret: "[redacted]",
      msg: "one",
    });
    expect(c.lines[1]).toMatchObject({ note: "subject [redacted]", rpc: "Exchange", jwk: { kty: "EC", x: "x", d: "[redacted]" }, msg: "two" });
  });
});
