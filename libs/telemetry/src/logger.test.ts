import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./index.js";

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
});
