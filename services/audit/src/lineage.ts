/** Lineage: a token's ancestors up to the original grant, and the tree made from it. */
import type { AuditRecord, AuditStore } from "./audit-store.js";

/** A token and the tokens exchanged from it. */
export interface LineageTree {
  record: AuditRecord;
  children: LineageTree[];
}

/** Bound on walks, against cycles in tampered data and absurd chains. */
const MAX_NODES = 10_000;

/** Ancestors nearest first, and the descendant trees. */
export function lineage(store: AuditStore, jti: string): { token: AuditRecord; ancestors: AuditRecord[]; descendants: LineageTree[] } | undefined {
  const token = store.tokenRecord(jti);
  if (!token) return undefined;
  const ancestors: AuditRecord[] = [];
  const seen = new Set([jti]);
  for (let parent = token.parent_jti; parent && !seen.has(parent) && ancestors.length < MAX_NODES;) {
    seen.add(parent);
    const r = store.tokenRecord(parent);
    if (!r) break;
    ancestors.push(r);
    parent = r.parent_jti;
  }
  let budget = MAX_NODES;
  const grow = (of: string): LineageTree[] =>
    store
      .children(of)
      .filter((c) => !seen.has(c.jti) && budget-- > 0)
      .map((c) => {
        seen.add(c.jti);
        return { record: c, children: grow(c.jti) };
      });
  return { token, ancestors, descendants: grow(jti) };
}
