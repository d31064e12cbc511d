import { describe, expect, it } from "vitest";
import type { AuditRecord__Output, LineageResponse__Output } from "@sts/proto";
import { lineageLines, recordLine } from "./cli-audit.js";

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
