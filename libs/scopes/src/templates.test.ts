import { describe, expect, it } from "vitest";
import { expandScopeTemplates } from "./index.js";

const templates = { "read:": ["read:/home/public/data/cern"], "write:": ["write:/home/{sub}/data"] };

describe("expandScopeTemplates", () => {
  it("expands template requests for the user and keeps other scopes", () => {
    expect(expandScopeTemplates(["read:", "write:", "openid"], templates, "jeff")).toEqual(["read:/home/public/data/cern", "write:/home/jeff/data", "openid"]);
  });

  it("drops unknown templates and expansions a user id would bend", () => {
    expect(expandScopeTemplates(["delete:"], templates, "jeff")).toEqual([]);
    expect(expandScopeTemplates(["write:"], templates, "../root")).toEqual([]);
    expect(expandScopeTemplates(["write:"], templates, "a/b")).toEqual([]);
    expect(expandScopeTemplates(["write:", "read:"], templates, "..")).toEqual(["read:/home/public/data/cern"]);
  });
});
