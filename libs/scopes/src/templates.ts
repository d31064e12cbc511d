/**
 * Scope templates (the OA4MP model): a client asks for `read:` and gets the
 * concrete scopes its configuration names, with `{sub}` replaced by the user
 * (`write:/home/{sub}/data` → `write:/home/jeff/data`). A user id that would
 * change the path's shape (`/`, `..`, `%`, …) expands to nothing.
 */
import { isValidScope, parseScope } from "./scope-syntax.js";

const SAFE_SEGMENT = /^[A-Za-z0-9._@+-]{1,128}$/;

/** Expands template requests; other scopes pass unchanged; unknown templates and unsafe expansions are dropped. */
export function expandScopeTemplates(requested: readonly string[], templates: Readonly<Record<string, readonly string[]>>, sub: string): string[] {
  const subOk = SAFE_SEGMENT.test(sub) && sub !== "." && sub !== "..";
  const out: string[] = [];
  for (const scope of requested) {
    const parsed = parseScope(scope);
    if (parsed.kind !== "template") {
      out.push(scope);
      continue;
    }
    for (const pattern of templates[scope] ?? []) {
      if (pattern.includes("{sub}") && !subOk) continue;
      const concrete = pattern.replaceAll("{sub}", sub);
      if (isValidScope(concrete) && !out.includes(concrete)) out.push(concrete);
    }
  }
  return out;
}
