import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { describe, expect, it } from "vitest";
import { isCleanName } from "@sts/scopes";
import { ACTIONS, CEDAR_SCHEMA, ENTITY_TYPES, MAX_NAME_LENGTH, hasLoneSurrogate } from "./schema.js";

describe("Cedar schema", () => {
  it("parses, with exactly the two actions on Client → Audience and the documented context", () => {
    expect(cedar.checkParseSchema(CEDAR_SCHEMA)).toEqual({ type: "success" });
    const json = cedar.schemaToJson(CEDAR_SCHEMA);
    if (json.type !== "success") throw new Error("schema does not convert");
    const ns = json.json[""]!;
    expect(Object.keys(ns.entityTypes).sort()).toEqual([ENTITY_TYPES.AUDIENCE, ENTITY_TYPES.CLIENT].sort());
    expect(Object.keys(ns.actions).sort()).toEqual([ACTIONS.EXCHANGE, ACTIONS.REQUEST_SCOPE].sort());
    const contextOf = (action: string): string[] => {
      const ctx = ns.actions[action]?.appliesTo?.context as { attributes?: Record<string, unknown> } | undefined;
      return Object.keys(ctx?.attributes ?? {}).sort();
    };
    const common = ["actors", "caller_in_audience", "depth", "requested_scopes", "subject"];
    expect(contextOf(ACTIONS.EXCHANGE)).toEqual(common);
    expect(contextOf(ACTIONS.REQUEST_SCOPE)).toEqual([...common, "scope"].sort());
    const subject = ns.commonTypes?.Subject as { attributes: Record<string, unknown> } | undefined;
    expect(Object.keys(subject?.attributes ?? {}).sort()).toEqual(["audience", "client_id", "iss", "scopes", "sub"]);
  });
});

describe("isCleanName", () => {
  it("accepts ordinary and structured client ids and URLs, refuses controls, broken UTF-16 and absurd sizes", () => {
    for (const ok of ["svc-a", "admin:test/vo_1", "https://api.example/x", "é-ü", "😀"]) expect(isCleanName(ok)).toBe(true);
    for (const bad of ["a\nb", "a\u0000", "a\u007f", "a\u0085", "\ud800", "x\udc00y", "x".repeat(MAX_NAME_LENGTH + 1)]) expect(isCleanName(bad)).toBe(false);
    expect(hasLoneSurrogate("😀")).toBe(false);
    expect(hasLoneSurrogate("\ud83d")).toBe(true);
  });
});
