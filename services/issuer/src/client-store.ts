/**
 * The clients bucket as client management reads and writes it: the bucket itself, never a replica's watched copy,
 * and every change a compare-and-set against the revision read. Under a client's key lies its record or, while the
 * `client.deleted` event of a deletion already in effect is not yet stored, a tombstone. A tombstone has none of a
 * record's fields, so every client cache (issuer and exchanger replicas alike) drops the client as it is written: a
 * value they cannot read grants nothing. The admin's retry finds the tombstone and stores that event.
 */
import type { KV } from "@nats-io/kv";
import { parseClientRecord } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { OAuthError, unavailable } from "@sts/errors";
import { MAX_CLIENT_ID_CHARS } from "@sts/jwt";
import { encodeKey, isWriteConflict } from "@sts/nats";

/** A stored client with its management credential (hashed). */
export type ManagedRecord = ClientRecord & { registration_token_hash?: string };

/** A deletion in effect whose event is not yet stored: what the retry needs to store it. */
export interface Tombstone {
  client_id: string;
  /** The client's admin, the only one that deletes it. */
  admin_client_id: string;
  /** The id of its `client.deleted` event, fixed when the deletion took effect so every retry stores the same. */
  event_id: string;
}

/** What a client's key holds, at which revision. */
export type StoredEntry = { revision: number; record: ManagedRecord } | { revision: number; tombstone: Tombstone };

const registryUnavailable = (err: unknown): OAuthError => unavailable("client registry unavailable", err);
const changedMeanwhile = (err: unknown): OAuthError => unavailable("the client changed meanwhile; retry", err);

function asTombstone(raw: unknown): Tombstone | undefined {
  const t = (raw as { deleted?: Partial<Tombstone> } | null)?.deleted;
  const fields = [t?.client_id, t?.admin_client_id, t?.event_id];
  return fields.every((f) => typeof f === "string") ? (t as Tombstone) : undefined;
}

/**
 * What the bucket holds under `clientId`: undefined when nothing, or a value neither a record nor a tombstone. An id
 * longer than any client's (a caller's, from a request path) holds nothing and is not asked about: its encoded key in
 * the request's subject would pass NATS's 4 KiB control line, and the server answers that by closing the connection
 * the whole issuer shares.
 */
export async function readEntry(kv: KV, clientId: string): Promise<StoredEntry | undefined> {
  if (clientId.length > MAX_CLIENT_ID_CHARS) return undefined;
  let entry;
  try {
    entry = await kv.get(encodeKey(clientId));
  } catch (err) {
    throw registryUnavailable(err);
  }
  if (!entry || entry.operation !== "PUT") return undefined;
  let raw: unknown;
  try {
    raw = entry.json();
  } catch {
    return undefined;
  }
  const record: ManagedRecord | undefined = parseClientRecord(raw);
  if (record) return { revision: entry.revision, record };
  const tombstone = asTombstone(raw);
  return tombstone && { revision: entry.revision, tombstone };
}

/** Writes a new client's record; a key already in use is `client_id is taken`. */
export async function createRecord(kv: KV, record: ManagedRecord): Promise<void> {
  try {
    await kv.create(encodeKey(record.client_id), JSON.stringify(record));
  } catch (err) {
    if (isWriteConflict(err)) throw new OAuthError("invalid_client_metadata", "client_id is taken");
    throw registryUnavailable(err);
  }
}

/** Replaces what `clientId`'s key held at `revision` with a record or a tombstone; returns the new revision. */
export async function replaceEntry(kv: KV, clientId: string, value: ManagedRecord | { deleted: Tombstone }, revision: number): Promise<number> {
  try {
    return await kv.update(encodeKey(clientId), JSON.stringify(value), revision);
  } catch (err) {
    throw isWriteConflict(err) ? changedMeanwhile(err) : registryUnavailable(err);
  }
}

/** Removes a tombstone once its event is stored; one that another call removed or replaced meanwhile is left to it. */
export async function removeTombstone(kv: KV, clientId: string, revision: number): Promise<void> {
  try {
    await kv.delete(encodeKey(clientId), { previousSeq: revision });
  } catch (err) {
    if (!isWriteConflict(err)) throw registryUnavailable(err);
  }
}
