/** `stsctl keys`: lists, rotates and withdraws the issuer's signing keys through its KeyService, as an operator. */
import type { ChannelCredentials, Metadata } from "@grpc/grpc-js";
import { loadKeysProto } from "@sts/proto";
import type { ListKeysResponse__Output, RotateKeyResponse__Output, SigningKeyInfo__Output, WithdrawKeyResponse__Output } from "@sts/proto";
import { unaryCall } from "./cli-connection.js";
import { UsageError } from "./cli-credential.js";

/** The keys commands. */
export const KEYS_COMMANDS = ["list", "rotate", "withdraw"] as const;

/** What a keys command takes from the command line. */
export interface KeysArgs {
  json: boolean;
  /** Why a key is withdrawn (required by withdraw). */
  reason?: string;
}

/** Seconds since epoch (an int64 as a string) in ISO 8601. */
const iso = (seconds: string): string => new Date(Number(seconds) * 1000).toISOString();

/** One key on one line: kid, state, alg, its times, and for a withdrawn key who withdrew it and why. */
export function keyLine(k: SigningKeyInfo__Output): string {
  const line = `${k.kid}  ${k.state.padEnd(9)}  ${k.alg.padEnd(5)}  created ${iso(k.created_at)}  signs from ${iso(k.activate_at)}`;
  // The reason is quoted: it is the operator's text, shown as text.
  return k.state === "withdrawn" ? `${line}  withdrawn ${iso(k.withdrawn_at)} by ${k.withdrawn_by}: ${JSON.stringify(k.reason)}` : line;
}

/** Runs one keys command (`kid` is withdraw's argument), printing through `out`; resolves with the exit code. */
export async function runKeys(
  command: string,
  kid: string | undefined,
  a: KeysArgs,
  address: string,
  channel: ChannelCredentials,
  metadata: () => Metadata,
  out: (line: string) => void,
): Promise<number> {
  if (!(KEYS_COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown keys command ${command}`);
  // Checked before anything is sent: a withdrawal without a reason leaves the audit trail without one.
  if (command === "withdraw" && !kid) throw new UsageError("withdraw needs the kid of the key (stsctl keys list shows them)");
  if (command === "withdraw" && !a.reason?.trim()) throw new UsageError("withdraw needs --reason: say why the key is withdrawn");
  const client = new (loadKeysProto().sts.token.v1.KeyService)(address, channel);
  try {
    if (command === "list") {
      const r = await unaryCall<ListKeysResponse__Output>(client, "List", {}, metadata());
      for (const k of r.keys) out(a.json ? JSON.stringify(k) : keyLine(k));
    } else if (command === "rotate") {
      const r = await unaryCall<RotateKeyResponse__Output>(client, "Rotate", {}, metadata());
      out(a.json ? JSON.stringify(r) : `${r.kid} ${r.created ? "made" : "already waiting"}: signs from ${iso(r.activate_at)}`);
    } else {
      const r = await unaryCall<WithdrawKeyResponse__Output>(client, "Withdraw", { kid, reason: a.reason }, metadata());
      const withdrawn = r.key ? `withdrawn ${iso(r.key.withdrawn_at)} by ${r.key.withdrawn_by}` : "withdrawn";
      out(a.json ? JSON.stringify(r) : `${kid} ${withdrawn}; ${r.successor} signs now`);
    }
    return 0;
  } finally {
    client.close();
  }
}
