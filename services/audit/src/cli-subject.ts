/** `stsctl subject revoke`: revokes every token of a subject through the issuer's RevokeSubject, as an operator. */
import type { ChannelCredentials, Metadata } from "@grpc/grpc-js";
import { loadTokenProto } from "@sts/proto";
import type { RevokeSubjectResponse__Output } from "@sts/proto";
import { unaryCall } from "./cli-connection.js";
import { UsageError } from "./cli-credential.js";

/** The subject commands. */
export const SUBJECT_COMMANDS = ["revoke"] as const;

/** What a subject command takes from the command line. */
export interface SubjectArgs {
  json: boolean;
  /** The issuer that vouches for the subject: this stack's, or a trusted provider's. */
  iss?: string;
  sub?: string;
  reason?: string;
}

/** Runs one subject command, printing through `out`; resolves with the exit code. */
export async function runSubject(
  command: string,
  a: SubjectArgs,
  address: string,
  channel: ChannelCredentials,
  metadata: () => Metadata,
  out: (line: string) => void,
): Promise<number> {
  if (command !== "revoke") throw new UsageError(`unknown subject command ${command}`);
  if (!a.iss || !a.sub) throw new UsageError("revoke needs --iss and --sub");
  const client = new (loadTokenProto().sts.token.v1.TokenService)(address, channel);
  try {
    const r = await unaryCall<RevokeSubjectResponse__Output>(client, "RevokeSubject", { iss: a.iss, sub: a.sub, reason: a.reason ?? "" }, metadata());
    out(a.json ? JSON.stringify(r) : `every token of the subject issued until ${new Date(Number(r.revoked_at) * 1000).toISOString()} is revoked`);
    return 0;
  } finally {
    client.close();
  }
}
