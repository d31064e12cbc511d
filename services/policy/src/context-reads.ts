/**
 * Which context attributes a policy reads, from its JSON form (`cedar.policyToJson`), so that the per-scope questions
 * of a decision carry only the attributes some policy that can answer them reads.
 *
 * Why: cedar-wasm converts and checks the whole context on every call, at a cost growing with its size, and a decision
 * asks one `request_scope` question per requested scope (and per @narrow_to and @default_scope candidate). A config
 * hop's scope permit reads `context.scope` alone, while the subject token's audiences, actors and scopes may be tens of
 * KB: carried whole, they made one Decide cost the replica's event loop hundreds of milliseconds.
 *
 * Why the answer cannot change: whether a policy is satisfied, or errs, is a function of the values its expression
 * reads. The context is reachable only through the variable `context`, and the JSON form spells every `context.a` (and
 * `context["a"]`) as `{".": {left: {Var: "context"}, attr: "a"}}`. An attribute no policy that can apply reads may then
 * hold its type's empty value ("" or an empty set): the request still has the schema's shape, and no policy's value
 * moves. Any other use of `context` (`context has a`, a record compared whole, `if … then context …`, an attribute the
 * schema does not name, a shape this module does not know) counts as reading all of it, and then nothing is left out.
 */

/** The context attributes that may be left empty: the strings and sets (depth, caller_in_audience and scope are always carried). */
export const PRUNABLE_PATHS = ["subject.sub", "subject.client_id", "subject.iss", "subject.scopes", "subject.audience", "requested_scopes", "actors"] as const;

/** One of {@link PRUNABLE_PATHS}. */
export type PrunablePath = (typeof PRUNABLE_PATHS)[number];

/** What a policy reads of the context: the prunable attributes it names, or "all" when it uses `context` otherwise. */
export type ContextReads = ReadonlySet<PrunablePath> | "all";

/** The context of a decision (the schema's `exchange` context); a `request_scope` question adds `scope`. */
export type DecisionContext = {
  subject: { sub: string; client_id: string; iss: string; scopes: string[]; audience: string[] };
  requested_scopes: string[];
  depth: number;
  actors: string[];
  caller_in_audience: boolean;
};

const SUBJECT_PATHS: ReadonlyMap<string, PrunablePath> = new Map([
  ["sub", "subject.sub"],
  ["client_id", "subject.client_id"],
  ["iss", "subject.iss"],
  ["scopes", "subject.scopes"],
  ["audience", "subject.audience"],
]);

/** The schema's context attributes, each with what reading it (as a whole) reads. */
const CONTEXT_PATHS: ReadonlyMap<string, readonly PrunablePath[]> = new Map([
  ["subject", [...SUBJECT_PATHS.values()]],
  ["requested_scopes", ["requested_scopes"]],
  ["actors", ["actors"]],
  ["depth", []],
  ["caller_in_audience", []],
  ["scope", []],
]);

type Node = Record<string, unknown>;

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);

/** `{".": {left, attr}}` with nothing else beside it, or undefined. */
function attributeAccess(n: Node): { left: unknown; attr: string } | undefined {
  const keys = Object.keys(n);
  if (keys.length !== 1 || keys[0] !== ".") return undefined;
  const body = n["."];
  if (!isNode(body) || typeof body.attr !== "string" || !("left" in body) || Object.keys(body).length !== 2) return undefined;
  return { left: body.left, attr: body.attr };
}

const isContextVar = (v: unknown): boolean => isNode(v) && v.Var === "context";

/** Adds what `node` reads to `into`; false when it uses `context` in a way not recognised here. */
function collect(node: unknown, into: Set<PrunablePath>): boolean {
  if (Array.isArray(node)) return node.every((n) => collect(n, into));
  if (!isNode(node)) return true;
  const access = attributeAccess(node);
  if (access) {
    if (isContextVar(access.left)) {
      // `context.a`, a whole attribute; one the schema does not name is not recognised.
      const paths = CONTEXT_PATHS.get(access.attr);
      if (paths === undefined) return false;
      for (const p of paths) into.add(p);
      return true;
    }
    const inner = isNode(access.left) ? attributeAccess(access.left) : undefined;
    if (inner && inner.attr === "subject" && isContextVar(inner.left)) {
      // `context.subject.a`: that attribute of the subject only.
      const path = SUBJECT_PATHS.get(access.attr);
      if (path === undefined) return false;
      into.add(path);
      return true;
    }
    return collect(access.left, into);
  }
  // `context` anywhere else: compared, tested with `has`, chosen by an if, put in a set or record.
  if (node.Var === "context") return false;
  return Object.values(node).every((v) => collect(v, into));
}

/** What the conditions of a policy (its JSON form) read of the context. */
export function contextReadsOf(policyJson: { conditions?: unknown }): ContextReads {
  const into = new Set<PrunablePath>();
  return collect(policyJson.conditions ?? [], into) ? into : "all";
}

/**
 * Whether a policy's action scope (JSON form) can match `action`. Our schema declares no action groups, so `in`
 * matches the actions listed; a shape not read here matches every action (read too much, never too little).
 */
export function actionMayBe(scope: unknown, action: string): boolean {
  if (!isNode(scope)) return true;
  const named = (e: unknown): boolean => isNode(e) && e.type === "Action" && e.id === action;
  if (scope.op === "All") return true;
  if (scope.op === "==" && isNode(scope.entity)) return named(scope.entity);
  if (scope.op === "in" && Array.isArray(scope.entities)) return scope.entities.some(named);
  if (scope.op === "in" && isNode(scope.entity)) return named(scope.entity);
  return true;
}

/** Union of reads: "all" when any is. */
export function unionReads(reads: Iterable<ContextReads>): ContextReads {
  const into = new Set<PrunablePath>();
  for (const r of reads) {
    if (r === "all") return "all";
    for (const p of r) into.add(p);
  }
  return into;
}

/** `context` with every prunable attribute `reads` does not name empty (its type's empty value), the rest as is. */
export function prunedContext(context: DecisionContext, reads: ContextReads): DecisionContext {
  if (reads === "all") return context;
  const keep = <T>(path: PrunablePath, value: T, empty: T): T => (reads.has(path) ? value : empty);
  const s = context.subject;
  return {
    subject: {
      sub: keep("subject.sub", s.sub, ""),
      client_id: keep("subject.client_id", s.client_id, ""),
      iss: keep("subject.iss", s.iss, ""),
      scopes: keep("subject.scopes", s.scopes, []),
      audience: keep("subject.audience", s.audience, []),
    },
    requested_scopes: keep("requested_scopes", context.requested_scopes, []),
    depth: context.depth,
    actors: keep("actors", context.actors, []),
    caller_in_audience: context.caller_in_audience,
  };
}
