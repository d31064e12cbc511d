/**
 * `stsctl policy …`: list, get, put, delete and reset policies through the policy API, as an operator, and check
 * (what-if) how the set in force, or the set with one policy replaced or left out, would decide an exchange.
 */
import { readFileSync } from "node:fs";
import type { ChannelCredentials, Metadata } from "@grpc/grpc-js";
import { loadPolicyProto } from "@sts/proto";
import type { Decision__Output, ListResponse__Output, Policy__Output, PutResponse__Output, ResetResponse__Output } from "@sts/proto";
import { unaryCall } from "./cli-connection.js";
import { UsageError } from "./cli-credential.js";

/** The policy commands. */
export const POLICY_COMMANDS = ["list", "get", "put", "delete", "reset", "check"] as const;

/** stsctl's exit code for a check the policy denies: the call worked, the answer is no (scripts test policies with it). */
export const EXIT_DENIED = 4;

/** What a policy command takes from the command line. */
export interface PolicyArgs {
  json: boolean;
  /** put: the Cedar text's file. */
  file?: string;
  /** put: the policy's description. */
  description?: string;
  /** put, reset: write only if the stored revision is still this one. */
  expectedRevision?: string; /** check: the exchange asked about, and what to change in the set for it. */
  check?: CheckArgs;
}

/** The question of `stsctl policy check`, as the command line gives it. */
export interface CheckArgs {
  /** The calling client (--client). */
  client?: string;
  /** The target audience (--aud). */
  audience?: string;
  /** Requested scopes, space-separated (--scope); none: the hop's default. */
  scope?: string;
  /** The subject token's sub (--sub), client_id (--subject-client, default its sub), iss (--iss). */
  sub?: string;
  subjectClient?: string;
  iss?: string;
  /** The subject token's scope (--subject-scope, default the requested scopes) and audience (--subject-aud, default the client). */
  subjectScope?: string;
  subjectAudience?: string;
  /** Actors already in the chain, newest first (--actor, repeated). */
  actors: string[];
  /** The new token's chain depth (--depth, default one more than the actors). */
  depth?: string;
  /** Evaluate with --file's text as this policy (--candidate), or without this policy (--without). */
  candidate?: string;
  without?: string;
}

const words = (s: string | undefined): string[] => (s ?? "").split(" ").filter(Boolean);

/** The ValidateRequest a check asks: the command line's question, with defaults a plain hop would have. */
export function validateRequest(c: CheckArgs, candidateText: string | undefined): object {
  if (!c.client || !c.audience) throw new UsageError("check needs --client (the caller) and --aud (the target audience)");
  if (!c.sub) throw new UsageError("check needs --sub (the subject token's subject)");
  if (c.depth !== undefined && !/^[1-9]\d{0,8}$/.test(c.depth)) throw new UsageError("--depth takes a whole number from 1");
  if ((c.candidate === undefined) !== (candidateText === undefined)) throw new UsageError("--candidate <id> and --file F go together");
  const requested = words(c.scope);
  const subjectAudience = c.subjectAudience === undefined ? [c.client] : words(c.subjectAudience);
  return {
    request: {
      client_id: c.client,
      audience: c.audience,
      requested_scopes: requested,
      subject: {
        sub: c.sub,
        client_id: c.subjectClient ?? c.sub,
        iss: c.iss ?? "",
        scopes: c.subjectScope === undefined ? requested : words(c.subjectScope),
        audience: subjectAudience,
      },
      depth: c.depth === undefined ? c.actors.length + 1 : Number(c.depth),
      actors: c.actors,
      caller_in_audience: subjectAudience.includes(c.client),
    },
    ...(candidateText !== undefined && { candidate: { id: c.candidate, text: candidateText } }),
    ...(c.without !== undefined && { without: c.without }),
  };
}

/** A decision in words: the verdict and revision, then what decided it and what it allows. */
export function decisionLines(d: Decision__Output): string[] {
  const list = (xs: readonly string[]): string => (xs.length > 0 ? xs.join(" ") : "(none)");
  const lines = [`${d.allow ? "allow" : "deny"} (policy revision ${d.policy_revision})`, `  decided by: ${list(d.policy_ids)}`];
  if (d.allow) lines.push(`  allowed scopes: ${list(d.allowed_scopes)}`, `  default scopes: ${list(d.default_scopes)}`);
  if (d.max_depth > 0) lines.push(`  max depth: ${d.max_depth}`);
  if (d.reason) lines.push(`  reason: ${d.reason}`);
  for (const e of d.errors) lines.push(`  error: ${e}`);
  return lines;
}

/** --expected-revision as the API takes it: "0" (none) when absent. */
function expectedRevision(a: PolicyArgs): string {
  if (a.expectedRevision === undefined) return "0";
  if (!/^\d{1,19}$/.test(a.expectedRevision)) throw new UsageError("--expected-revision takes a revision number");
  return a.expectedRevision;
}

/** What a reset did, in words. */
function resetLine(id: string, r: ResetResponse__Output): string {
  return r.changed
    ? `policy ${id} handed back to the config file at revision ${r.revision}`
    : `policy ${id} already is the config file's version (revision ${r.revision}); nothing written`;
}

/** Who wrote a version: the operator's sub, client and jti, "break-glass", or "-" for a policy seeded from the config. */
function authorOf(p: Policy__Output): string {
  const a = p.author;
  if (!a) return "by=-";
  return `by=${a.sub || "-"} client=${a.client_id || "-"} jti=${a.jti || "-"} (${a.credential})`;
}

/** One policy on one line: id, revision, who manages it (config or api), author, description. */
export function policyLine(p: Policy__Output): string {
  return `${p.id} rev=${p.revision} source=${p.source || "-"} ${authorOf(p)}${p.description ? ` "${p.description}"` : ""}`;
}

/** The Cedar text in `file`; a file that cannot be read is the command line's mistake. */
function readPolicyFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read the policy file: ${(err as Error).message}`);
  }
}

/** Runs one policy command, printing through `out`; resolves with the exit code. */
export async function runPolicy(
  command: string,
  id: string | undefined,
  a: PolicyArgs,
  address: string,
  channel: ChannelCredentials,
  metadata: () => Metadata,
  out: (line: string) => void,
): Promise<number> {
  if (command !== "list" && command !== "check" && !id) throw new UsageError(`${command} needs a policy id`);
  const client = new (loadPolicyProto().sts.policy.v1.PolicyService)(address, channel);
  try {
    switch (command) {
      case "list": {
        const r = await unaryCall<ListResponse__Output>(client, "List", {}, metadata());
        for (const p of r.policies) out(a.json ? JSON.stringify(p) : policyLine(p));
        return 0;
      }
      case "get": {
        const p = await unaryCall<Policy__Output>(client, "Get", { id }, metadata());
        out(a.json ? JSON.stringify(p) : `${policyLine(p)}\n${p.text}`);
        return 0;
      }
      case "check": {
        const request = validateRequest(a.check ?? { actors: [] }, a.file === undefined ? undefined : readPolicyFile(a.file));
        const d = await unaryCall<Decision__Output>(client, "Validate", request, metadata());
        out(a.json ? JSON.stringify(d) : decisionLines(d).join("\n"));
        return d.allow ? 0 : EXIT_DENIED;
      }
      case "put": {
        if (!a.file) throw new UsageError("put needs --file with the Cedar policy text");
        const text = readPolicyFile(a.file);
        const policy = { id, text, description: a.description ?? "" };
        const r = await unaryCall<PutResponse__Output>(client, "Put", { policy, expected_revision: expectedRevision(a) }, metadata());
        out(a.json ? JSON.stringify(r) : `policy ${id} written at revision ${r.revision}`);
        return 0;
      }
      case "delete": {
        await unaryCall(client, "Delete", { id }, metadata());
        out(`policy ${id} deleted`);
        return 0;
      }
      case "reset": {
        const r = await unaryCall<ResetResponse__Output>(client, "Reset", { id, expected_revision: expectedRevision(a) }, metadata());
        out(a.json ? JSON.stringify(r) : resetLine(id ?? "", r));
        return 0;
      }
      default:
        throw new UsageError(`unknown policy command ${command}`);
    }
  } finally {
    client.close();
  }
}
