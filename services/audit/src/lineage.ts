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
/** Children read from the store at a time: a token exchanged a million times is walked, never loaded whole. */
const CHILDREN_PAGE = 500;
/** A tree node's own bytes besides its record: its tag and length in its parent, and `more`. */
const NODE_BYTES = 8;

/** The bytes an answer may hold, and how many a shaped record takes (see answer-size.ts). */
export interface AnswerBytes<R> {
  max: number;
  sizeOf: (r: R) => number;
}

/** The issuance records of tokens made from `jti`, oldest first, read a page at a time as the walk goes on. */
function* childrenOf(store: AuditStore, jti: string): Generator<AuditRecord> {
  for (let after = 0; ;) {
    const page = store.children(jti, after, CHILDREN_PAGE);
    yield* page;
    if (page.length < CHILDREN_PAGE) return;
    after = page[page.length - 1]?.sequence ?? after;
  }
}

/** Whether a token has a child not in the answer yet (the first page usually says). */
function hasUnseenChild(store: AuditStore, jti: string, seen: ReadonlySet<string>): boolean {
  for (const c of childrenOf(store, jti)) if (!seen.has(c.jti)) return true;
  return false;
}

/**
 * Ancestors nearest first, and the descendant trees down to MAX_DESCENDANT_DEPTH levels, each record passed through
 * `shape`. Both walks are loops, not recursion: a refresh family is one chain (each rotation's parent is the
 * previous access token) as long as the family is old, and thousands of nested calls overflow the stack. The answer
 * holds at most `bytes.max` bytes of records: ancestors and descendants take up to half of it each, and what the other
 * side leaves.
 */
export function lineage<R>(store: AuditStore, jti: string, shape: (r: AuditRecord) => R, bytes: AnswerBytes<R>): Lineage<R> | undefined {
  const token = store.tokenRecord(jti);
  if (!token) return undefined;
  const shapedToken = shape(token);
  const forRecords = bytes.max - bytes.sizeOf(shapedToken);
  // An ID token's jti finds the access token it came with: from here on the walks are that token's, so that both
  // jtis answer alike.
  const seen = new Set([token.jti]);
  const ancestors: R[] = [];
  const ancestorSizes: number[] = [];
  let ancestorBytes = 0;
  let truncated = false;
  for (let parent = token.parent_jti; parent && !seen.has(parent);) {
    const r = store.tokenRecord(parent);
    if (!r) break;
    const shaped = shape(r);
    const size = bytes.sizeOf(shaped);
    if (ancestors.length >= MAX_NODES || ancestorBytes + size > forRecords) {
      truncated = true;
      break;
    }
    ancestorBytes += size;
    seen.add(parent);
    ancestors.push(shaped);
    ancestorSizes.push(size);
    parent = r.parent_jti;
  }
  // Each side may take half of the bytes, and what the other side leaves: descendants get at least half, and the
  // ancestors farthest away give way to them past that.
  const descendantMax = forRecords - Math.min(ancestorBytes, bytes.max / 2);
  let descendantBytes = 0;
  const descendants: Array<LineageTree<R>> = [];
  let budget = MAX_NODES;
  // Depth first, children in the order they were recorded: which tokens the budget keeps is as a recursive walk's.
  // `node` is the tree node of `of` (none for the token itself, whose children are the answer's descendants).
  type Visit = { of: string; depth: number; into: Array<LineageTree<R>>; node?: LineageTree<R> };
  const pending: Visit[] = [{ of: token.jti, depth: 1, into: descendants }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const made: Visit[] = [];
    for (const c of childrenOf(store, next.of)) {
      if (seen.has(c.jti)) continue;
      const shaped = budget > 0 ? shape(c) : undefined;
      const size = shaped === undefined ? 0 : bytes.sizeOf(shaped) + NODE_BYTES;
      // Out of tokens or bytes: the rest is cut here, and every later node is cut as well (the budget is spent).
      if (shaped === undefined || descendantBytes + size > descendantMax) {
        budget = 0;
        if (next.node) next.node.more = true;
        truncated = true;
        break;
      }
      budget--;
      descendantBytes += size;
      seen.add(c.jti);
      const node: LineageTree<R> = { record: shaped, children: [], more: false };
      next.into.push(node);
      if (next.depth < MAX_DESCENDANT_DEPTH) made.push({ of: c.jti, depth: next.depth + 1, into: node.children, node });
      else if (hasUnseenChild(store, c.jti, seen)) {
        node.more = true;
        truncated = true;
      }
    }
    pending.push(...made.reverse());
  }
  while (ancestorBytes + descendantBytes > forRecords) {
    ancestorBytes -= ancestorSizes.pop() ?? 0;
    ancestors.pop();
    truncated = true;
  }
  return { token: shapedToken, ancestors, descendants, truncated };
}
