import { describe, expect, it } from "vitest";
import type { AuditRecord__Output, LineageResponse__Output } from "@sts/proto";
import { lineageLines, parseCounts, recordLine } from "./cli-audit.js";
import { UsageError } from "./cli-credential.js";

const record = (data: Record<string, unknown>): AuditRecord__Output =>
  ({
    sequence: "7",
    time: "2026-11-24T10:00:00.000Z",
    type: "token.issued",
    sub: "alice",
    client_id: "vo-1",
    aud: ["svc-a"],
    scope: "a",
    actors: [],
    jti: "j1",
    parent_jti: "",
    data_json: JSON.stringify(data),
  }) as unknown as AuditRecord__Output;

describe("recordLine", () => {
  it("names the admin client that asked for a dedicated-issuer token, so it is not read as the client's own", () => {
    expect(recordLine(record({ jti: "j1", admin_client_id: "admin:test/vo_1" }))).toBe(
      `#7 2026-11-24T10:00:00.000Z token.issued     sub=alice client=vo-1 aud=svc-a scope="a" admin=admin:test/vo_1 jti=j1`,
    );
  });

  it("names no admin when the client asked for itself, or the data cannot be read", () => {
    expect(recordLine(record({ jti: "j1" }))).not.toContain("admin=");
    expect(recordLine({ ...record({}), data_json: "{" })).not.toContain("admin=");
  });
});

describe("recordLine with text other parties chose", () => {
  it("shows control, line-breaking and bidi characters as escapes: a record cannot act on the auditor's terminal or forge a line", () => {
    const hostile = {
      ...record({ admin_client_id: "adm\u202etxt.exe" }),
      sub: "\u001b]0;owned\u0007\u001b[2J",
      client_id: "svc-a\n#8 2026-11-24T10:00:01.000Z token.revoked     sub=alice",
      aud: ["svc-b\u009b31m"],
      actors: ["svc-c\u2028x"],
      jti: "j1\r",
    };
    const line = recordLine(hostile);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(line).toBe(
      `#7 2026-11-24T10:00:00.000Z token.issued     sub=\\u{1b}]0;owned\\u{7}\\u{1b}[2J ` +
        `client=svc-a\\u{a}#8 2026-11-24T10:00:01.000Z token.revoked     sub=alice aud=svc-b\\u{9b}31m scope="a" ` +
        `admin=adm\\u{202e}txt.exe act=svc-c\\u{2028}x jti=j1\\u{d}`,
    );
  });

  it("keeps a backslash apart from an escape", () => {
    expect(recordLine({ ...record({}), sub: "DOMAIN\\u{1b}" })).toContain("sub=DOMAIN\\\\u{1b} ");
  });
});

describe("stsctl's --limit and --from-seq", () => {
  it("takes plain decimal numbers, a sequence up to uint64's largest kept exact", () => {
    expect(parseCounts("25", "18446744073709551615")).toEqual({ limit: 25, fromSeq: "18446744073709551615" });
    expect(parseCounts(undefined, "007")).toEqual({ fromSeq: "7" });
    expect(parseCounts(undefined, undefined)).toEqual({});
  });

  it.each([
    ["-5", undefined],
    ["abc", undefined],
    ["0", undefined],
    ["1e3", undefined],
    [undefined, "-1"],
    [undefined, "18446744073709551616"],
    [undefined, " 3"],
  ])("refuses --limit %s --from-seq %s as a usage error", (limit, fromSeq) => {
    expect(() => parseCounts(limit, fromSeq)).toThrow(UsageError);
  });
});

describe("lineageLines", () => {
  const rec = (jti: string, parent_jti = ""): AuditRecord__Output => ({ ...record({}), jti, parent_jti });
  const answer = (truncated: boolean): LineageResponse__Output => ({
    token: rec("t", "p1"),
    ancestors: [rec("p1", "p2"), rec("p2", "p3")],
    descendants: [{ record: rec("d1", "t"), children: [], more: truncated }],
    truncated,
  });

  it("points at the Lineage that goes on where the answer left ancestors or descendants out", () => {
    const lines = lineageLines(answer(true));
    expect(lines[1]).toBe("   … older ancestors left out: stsctl audit lineage p2");
    expect(lines.at(-1)).toBe("      … more: stsctl audit lineage d1");
  });

  it("says nothing is left out of a whole answer", () => {
    expect(lineageLines(answer(false)).join("\n")).not.toContain("…");
  });
});
