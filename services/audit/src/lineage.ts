/** Lineage: a token's ancestors up to the original grant, and the tree made from it. */
import type { AuditRecord, AuditStore } from "./audit-store.js";

/** A token and the tokens made from it, each record as the caller shapes it. */
export interface LineageTree<R = AuditRecord> {
  record: R;
  children: Array<LineageTree<R>>;
  /** Tokens made from this one are left out of `children` (depth or size bound): its own Lineage goes on. */
  more: boolean;
}

/** A token's lineage, each record as the caller shapes it. */
export interface Lineage<R = AuditRecord> {
  /** The token asked for (for an ID token's jti, the access token handed out with it). */
  token: R;
  /** Nearest first. */
  ancestors: R[];
  descendants: Array<LineageTree<R>>;
  /** Some tokens are left out: ancestors past MAX_NODES, or descendants past a bound (the nodes cut say `more`). */
  truncated: boolean;
}

/** Bound on walks, against cycles in tampered data and absurd chains. */
const MAX_NODES = 10_000;
/**
 * How many levels of descendants an answer nests. Protobuf decoders refuse messages nested more than 100 deep
 * (protoc's default, and protobufjs's, which grpc-js encodes with: deeper, the answer cannot even be sent), and a
 * refresh family nests one level per rotation. Below this, Lineage of the deepest token shown goes on.
 */
export const MAX_DESCENDANT_DEPTH = 64;

/**
 * Ancestors nearest first, and the descendant trees down to MAX_DESCENDANT_DEPTH levels, each record passed through
 * `shape`. Both walks are loops, not recursion: a refresh family is one chain (each rotation's parent is the
 * previous access token) as long as the family is old, and thousands of nested calls overflow the stack.
 */
export function lineage<R>(store: AuditStore, jti: string, shape: (r: AuditRecord) => R): Lineage<R> | undefined {
  const token = store.tokenRecord(jti);
  if (!token) return undefined;
  // An ID token's jti finds the access token it came with: from here on the walks are that token's, so that both
  // jtis answer alike.
  const seen = new Set([token.jti]);
  const ancestors: R[] = [];
  let truncated = false;
  for (let parent = token.parent_jti; parent && !seen.has(parent);) {
    const r = store.tokenRecord(parent);
    if (!r) break;
    if (ancestors.length >= MAX_NODES) {
      truncated = true;
      break;
    }
    seen.add(parent);
    ancestors.push(shape(r));
    parent = r.parent_jti;
  }
  const descendants: Array<LineageTree<R>> = [];
  let budget = MAX_NODES;
  // Depth first, children in the order they were recorded: which tokens the budget keeps is as a recursive walk's.
  // `node` is the tree node of `of` (none for the token itself, whose children are the answer's descendants).
  type Visit = { of: string; depth: number; into: Array<LineageTree<R>>; node?: LineageTree<R> };
  const pending: Visit[] = [{ of: token.jti, depth: 1, into: descendants }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const made: Visit[] = [];
    for (const c of store.children(next.of)) {
      if (seen.has(c.jti)) continue;
      if (budget <= 0) {
        if (next.node) next.node.more = true;
        truncated = true;
        break;
      }
      budget--;
      seen.add(c.jti);
      const node: LineageTree<R> = { record: shape(c), children: [], more: false };
      next.into.push(node);
      if (next.depth < MAX_DESCENDANT_DEPTH) made.push({ of: c.jti, depth: next.depth + 1, into: node.children, node });
      else if (store.children(c.jti).some((g) => !seen.has(g.jti))) {
        node.more = true;
        truncated = true;
      }
    }
    pending.push(...made.reverse());
  }
  return { token: shape(token), ancestors, descendants, truncated };
}
