/**
 * The issuer's signing key ring. Records live in NATS KV (private parts
 * sealed under the master key); every replica reads them through a
 * watch-fed cache, so a rotation made by one replica reaches all.
 */
import { isDeepStrictEqual } from "node:util";
import { createLocalJWKSet } from "jose";
import type { JWK, JWTVerifyGetKey } from "jose";
import { unavailable } from "@sts/errors";
import { importSigningKey } from "@sts/jwt";
import type { SigningKey } from "@sts/jwt";
import { generateSigningJwks } from "./generate.js";
import { readKeyFile } from "./key-file.js";
import { isPublicHalfOf } from "./key-pair.js";
import type { SigningAlg } from "./generate.js";
import { openPrivateJwk, sealPrivateJwk } from "./master-key.js";
import type { SealedKey } from "./master-key.js";
import {
  isWithdrawn,
  keyStatusesAt,
  latestKey,
  parseStoredKey,
  publishedKeysAt,
  retiredKeysAt,
  rotationDue,
  signingKeyAt,
  upcomingKeyAt,
} from "./key-record.js";
import type { KeyStatus, LifecyclePolicy, StoredKey } from "./key-record.js";

/** Storage the ring needs: a cached view plus writes (NATS KV in production). */
export interface KeyStore {
  /** Every stored key, from the watch-fed cache. */
  list(): StoredKey[];
  /** Writes only if absent; false when the name exists (another replica won). */
  create(name: string, value: unknown): Promise<boolean>;
  /** The stored value and its revision, read from the store itself (not the cache); undefined when absent. */
  get(name: string): Promise<{ value: unknown; revision: number } | undefined>;
  /** Writes only if the name is still at `revision` (compare-and-set); false when it moved on (another replica won). */
  update(name: string, value: unknown, revision: number): Promise<boolean>;
  put(name: string, value: unknown): Promise<void>;
  delete(name: string): Promise<void>;
  /** The names in force (not deleted) under `prefix` (`successor`, `replacement`), read from the store itself. */
  names(prefix: string): Promise<string[]>;
  /**
   * True once the cache holds the given kid (and, given `until`, a version of it `until` accepts); false when it still
   * does not after a bounded wait (its watch stalled or far behind).
   */
  waitFor(kid: string, until?: (key: StoredKey) => boolean): Promise<boolean>;
}

/** KV names used by the ring. */
export const keyName = (kid: string): string => `key.${kid}`;
/** The prefixes of the ring's two kinds of lock. */
const SUCCESSOR = "successor";
const REPLACEMENT = "replacement";
/** The lock under which the successor of `kid` is made; the first key's (no predecessor: `kid` empty) is "genesis". */
const successorLock = (kid: string): string => `${SUCCESSOR}.${kid || "genesis"}`;
/**
 * The lock naming the key that signs at once in place of a withdrawn signing key (the waiting key brought forward, or
 * a new one): one replica chooses it, and every replica withdrawing the same key takes that one.
 */
const replacementLock = (kid: string): string => `${REPLACEMENT}.${kid}`;
/**
 * Whether lock `name` is about `kid`: a successor or replacement lock named after it, or a pair lock (`replacement.K.U`)
 * naming it as either member. The file key's kid may hold dots, but a file-backed ring takes no locks.
 */
const lockNames = (name: string, kid: string): boolean => name.split(".").slice(1).includes(kid);
/** Compare-and-set attempts against other writers of the same record before giving up (the caller retries). */
const WRITE_ATTEMPTS = 5;

/** Options of the signing ring. */
export interface SigningKeyRingOptions {
  store: KeyStore;
  algorithm: SigningAlg;
  policy: LifecyclePolicy;
  /** Derived AES key (parseMasterKey); required unless jwkFile is given. */
  masterKey?: Buffer;
  /**
   * Derived AES keys (parseMasterKey) of master keys being replaced: a key sealed under one of them still opens, and
   * is sealed again under masterKey, at start and at every maintain(), so that once every replica runs on the new
   * master key the old one can go. Never used to seal.
   */
  previousMasterKeys?: readonly Buffer[];
  /** A private JWK file to sign with; its private part never enters NATS. */
  jwkFile?: string;
  /** How long a new key is published before it signs, so verifiers' JWKS caches learn it. */
  prepublishSeconds?: number;
  /**
   * After how long a successor lock whose key was never written is stale and
   * may be taken over (default {@link SUCCESSOR_LOCK_SECONDS}).
   */
  successorLockSeconds?: number;
  /**
   * Whether `kid` is already revoked (an operator's Withdraw wrote its `kid` record and is completing it): never
   * brought forward as a withdrawn key's successor, since the minter would refuse to sign with it.
   */
  revokedKid?: (kid: string) => boolean;
  now: () => number;
}

/**
 * Default age, in seconds, after which a successor lock without its key is
 * taken over. Writing a key takes milliseconds; a lock this old means its
 * holder failed or died between the lock and the key, and without a takeover
 * the ring would never rotate again.
 */
export const SUCCESSOR_LOCK_SECONDS = 60;

/**
 * Age, in seconds, after which a replacement lock (a withdrawn signing key's successor) without its key is taken over:
 * while it stands no withdrawal of that key completes and the minter refuses the key, so it is kept short.
 */
const REPLACEMENT_LOCK_SECONDS = 10;

interface SuccessorLock {
  kid: string;
  /** When the lock was taken, on the ring's clock (seconds). */
  at: number;
}

/** A new key: what it succeeds (empty for the first key) and when it starts signing (seconds). */
export interface Rotation {
  kid: string;
  predecessor: string;
  activate_at: number;
}

/** What {@link SigningKeyRing.withdraw} did: nothing for an unknown kid, else the withdrawn record and the key signing now. */
export type Withdrawal =
  | { found: false }
  | {
      found: true;
      /** The withdrawn record: this call's, or the earlier one when the key was already withdrawn (`changed` false). */
      key: StoredKey;
      /** The kid signing from now on (a withdrawn signing key is replaced before its record is written). */
      successor: string;
      changed: boolean;
      /**
       * False when this call wrote the withdrawal but this replica's copy of the store did not show it within the bound
       * (its watch far behind): the key may still be published here for a moment. The change stands and is to be
       * announced; an operator's call is answered temporarily_unavailable, and its retry finds it done.
       */
      shown: boolean;
    };

/**
 * A sealed key that opens but is not the key its record names: the record's alg or public_jwk, which the seal does not
 * cover, was changed in the bucket. Nothing is signed with it: its tokens would carry an alg or verify against a key
 * other than the one sealed for it.
 */
class KeyRecordAltered extends Error {
  override readonly name = "KeyRecordAltered";
}

/** Another replica is making the same key right now; retrying in a moment finds it. */
export class KeyRingBusyError extends Error {
  override readonly name = "KeyRingBusyError";
}

/**
 * The members of a public key of each type (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2): nothing else of a record is
 * published, so a record whose public_jwk holds a private part (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`) or is a
 * secret (`oct`, its `k`), whoever wrote it to the bucket, never puts it in the JWKS.
 */
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = { EC: ["kty", "crv", "x", "y"], RSA: ["kty", "n", "e"], OKP: ["kty", "crv", "x"] };

/** Builds a JWK Set (RFC 7517) of the keys to publish: public members only; a key of no public type is left out. */
export function jwksOf(keys: readonly StoredKey[]): { keys: JWK[] } {
  return {
    keys: keys.flatMap((k) => {
      const members = PUBLIC_MEMBERS[k.public_jwk.kty ?? ""];
      if (!members) return [];
      const jwk = k.public_jwk as Record<string, unknown>;
      const pub = Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]]));
      return [{ ...pub, kid: k.kid, alg: k.alg, use: "sig" }];
    }),
  };
}

/** The issuer's key ring: signs with the active key, publishes the JWKS, rotates. */
export class SigningKeyRing {
  readonly #o: SigningKeyRingOptions;
  readonly #imported = new Map<string, SigningKey>();
  #fileKey: StoredKey | undefined;

  constructor(options: SigningKeyRingOptions) {
    if (!options.masterKey && !options.jwkFile) throw new TypeError("SigningKeyRing needs a masterKey or a jwkFile");
    if (options.previousMasterKeys?.length && !options.masterKey) throw new TypeError("SigningKeyRing: previousMasterKeys need a masterKey");
    this.#o = options;
  }

  /** Ensures a signing key exists (creating the first one, or publishing the file key). */
  async init(): Promise<void> {
    if (this.#o.jwkFile) {
      await this.#loadFileKey(this.#o.jwkFile);
      return;
    }
    if (this.#o.store.list().length === 0 && !(await this.#createKey(successorLock(""), 0))) {
      // Another replica starting at the same moment makes the first key: wait for it (best effort), so that the check
      // below sees it.
      await this.#awaitKeyUnder(successorLock(""));
    }
    // Before anything is written: a replica on another master key must not seal a key the others cannot open.
    this.#openEveryKey();
    await this.#resealUnderMasterKey();
    await this.#outlastFileKey();
  }

  /**
   * Keeps a ring on the master key from ever reaching a key file's record (no private part here) as its signing key.
   * A signing one is replaced at once (it stays published as any predecessor does); one still waiting to activate (a
   * file run began just before, then the issuer went back to the master key) gets a ring key activating a second
   * after it, published from now: otherwise, once it activated, this ring could sign nothing until restarted. A
   * replica on the file later records its key after this one again. Returns the key made or brought forward, if any.
   */
  async #outlastFileKey(): Promise<Rotation | undefined> {
    const now = this.#o.now();
    const keys = this.#keys();
    // One lock per recording of the file's key: a file replica started again records it after the ring's key anew.
    const lockOf = (key: StoredKey): string => replacementLock(`${key.kid}.${key.activate_at}`);
    const current = signingKeyAt(keys, now);
    if (current && !current.sealed) {
      const kid = await this.#successorNow(current.kid, lockOf(current));
      return { kid, predecessor: current.kid, activate_at: now };
    }
    const last = latestKey(keys);
    if (!last || last.sealed || last.activate_at <= now) return undefined;
    const made = await this.#createKey(lockOf(last), last.activate_at + 1 - now, REPLACEMENT_LOCK_SECONDS);
    return made && { kid: made.kid, predecessor: last.kid, activate_at: made.activate_at };
  }

  /**
   * Refuses to start on a master key that does not open the ring's keys. Such a replica (a mistyped or regenerated
   * STS_MASTER_KEY) could sign nothing, and worse, the keys it made (a scheduled rotation, a withdrawn key's
   * replacement) would be sealed under its key: once one of them signed, no other replica could sign either, until the
   * next rotation days later. Every live sealed key is opened, since any of them may sign again (an older one while a
   * newer is being withdrawn); the error names the kid, never the key.
   */
  #openEveryKey(): void {
    for (const key of this.#keys()) {
      if (isWithdrawn(key) || !key.sealed || this.#imported.has(key.kid)) continue;
      try {
        this.#imported.set(key.kid, this.#importSealed(key));
      } catch (err) {
        if (err instanceof KeyRecordAltered) throw new TypeError(err.message);
        throw new TypeError(
          `the master key does not open signing key ${key.kid} of the keys bucket: every issuer replica must run with the STS_MASTER_KEY the ring's keys were sealed with`,
        );
      }
    }
  }

  /**
   * The private part of a ring key, opened with the master key and imported for its alg; throws when it cannot be, or
   * when it is not the key its record publishes.
   */
  #importSealed(record: StoredKey): SigningKey {
    // A key file's record (a replica on the file made it the newest): the key timer makes a ring key sign after it.
    if (!record.sealed || !this.#o.masterKey) throw unavailable(`signing key ${record.kid} has no private part here; retry shortly`);
    let jwk: Record<string, unknown>;
    try {
      jwk = this.#open(record.sealed, record.kid).jwk;
    } catch (err) {
      // node:crypto says only "unable to authenticate data": the log must say which record, and that nothing is signed.
      throw new Error(
        `signing key ${record.kid} of the keys bucket cannot be opened with this replica's master key (a record altered, or sealed under another STS_MASTER_KEY): nothing is signed with it`,
        { cause: err },
      );
    }
    return this.#importAsRecorded(jwk, record);
  }

  /**
   * The private JWK sealed for `kid`, and whether the master key itself opened it (not a previous one); throws the
   * first failure when none opens it.
   */
  #open(sealed: SealedKey, kid: string): { jwk: Record<string, unknown>; current: boolean } {
    const keys = [this.#o.masterKey, ...(this.#o.previousMasterKeys ?? [])];
    let failure: unknown;
    for (const [i, key] of keys.entries()) {
      if (!key) continue;
      try {
        return { jwk: openPrivateJwk(sealed, kid, key), current: i === 0 };
      } catch (err) {
        failure ??= err;
      }
    }
    throw failure;
  }

  /**
   * Seals again under the master key every key in service that only a previous master key opens (one a replica still
   * on the old master key made meanwhile included: each maintain() looks again), so that the old master key can be
   * dropped once every replica runs on the new one. Read from the store and written by compare-and-set: a record
   * another replica sealed again or withdrew meanwhile is left as it is. One no master key opens, or whose record was
   * altered beside its seal, is left too: it never signs anyway.
   */
  async #resealUnderMasterKey(): Promise<void> {
    const { store, masterKey, previousMasterKeys } = this.#o;
    if (!masterKey || !previousMasterKeys?.length) return;
    for (const cached of this.#keys()) {
      if (isWithdrawn(cached) || !cached.sealed || this.#opensUnderMasterKey(cached)) continue;
      const stored = await this.#read(cached.kid);
      if (!stored?.record.sealed || isWithdrawn(stored.record)) continue;
      const { record, revision } = stored;
      let jwk: Record<string, unknown>;
      try {
        const opened = this.#open(record.sealed as SealedKey, record.kid);
        if (opened.current) continue;
        jwk = opened.jwk;
        this.#importAsRecorded(jwk, record);
      } catch {
        continue;
      }
      // Lost to another writer: sealed again or withdrawn by it, or looked at anew at the next maintain().
      await store.update(keyName(record.kid), { ...record, sealed: sealPrivateJwk(jwk, record.kid, masterKey) }, revision);
    }
  }

  /** Whether the master key itself (not a previous one) opens a key's sealed part. */
  #opensUnderMasterKey(key: StoredKey): boolean {
    try {
      openPrivateJwk(key.sealed as SealedKey, key.kid, this.#o.masterKey as Buffer);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Imports an opened private JWK for its record, holding the record to it: the seal binds only the kid (its additional
   * data), while the sealed JWK also carries the alg it was made for and its public members. A record whose alg or
   * public_jwk differs (RS256 turned PS256, or another key published under the kid) never signs.
   */
  #importAsRecorded(jwk: Record<string, unknown>, record: StoredKey): SigningKey {
    const altered = (): KeyRecordAltered =>
      new KeyRecordAltered(
        `signing key ${record.kid} of the keys bucket: its record's alg or public key is not that of the private key sealed for it (the record was altered): nothing is signed with it`,
      );
    if (jwk.alg !== undefined && jwk.alg !== record.alg) throw altered();
    let signing: SigningKey;
    try {
      signing = importSigningKey(jwk, record.kid, record.alg);
    } catch {
      throw altered();
    }
    if (!isPublicHalfOf(record.public_jwk, signing.privateKey)) throw altered();
    return signing;
  }

  /** Waits (bounded, without failing) until this replica's copy shows the key another replica named under `lock`. */
  async #awaitKeyUnder(lock: string): Promise<void> {
    const held = await this.#o.store.get(lock);
    const kid = held ? this.#lockedKid(held.value) : undefined;
    if (kid !== undefined) await this.#o.store.waitFor(kid);
  }

  /** Whether the ring signs with keys.jwk_file: its key is rotated and withdrawn by replacing the file, not here. */
  get fileBacked(): boolean {
    return this.#o.jwkFile !== undefined;
  }

  async #loadFileKey(file: string): Promise<void> {
    const { kid, alg, signing, publicJwk } = await readKeyFile(file, this.#o.algorithm);
    this.#imported.set(kid, signing);
    const t = this.#o.now();
    // After every other key in service, a ring key waiting to activate (a rotation made just before, or a replica still
    // on the master key) included: the newest key has no successor, so every verifier keeps publishing it.
    const latest = Math.max(...this.#o.store.list().map((k) => (k.kid === kid || isWithdrawn(k) ? -Infinity : k.activate_at)));
    const activateAt = Math.max(t, latest + 1);
    this.#fileKey = await this.#recordFileKey({ kid, alg, created_at: t, activate_at: activateAt, public_jwk: publicJwk });
  }

  /**
   * Stores the file key's record as the newest key of the store: a key file is rotated by replacing it, and the
   * records of earlier files are its predecessors, published until what they signed has expired, never its successors
   * (which would take it out of the JWKS while it signs). The record a replica or an earlier start wrote for the same
   * key stands, unless another key is newer (an earlier file brought back); a record under the same kid holding another
   * key is replaced: verifiers pick keys by kid, so the key that signs is the one published.
   */
  async #recordFileKey(fresh: StoredKey): Promise<StoredKey> {
    const { store } = this.#o;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (await store.create(keyName(fresh.kid), fresh)) return fresh;
      const stored = await this.#read(fresh.kid);
      if (!stored) continue;
      const { record, revision } = stored;
      // A withdrawn kid stays withdrawn: the minter refuses it until the file holds another key.
      if (isWithdrawn(record)) return record;
      // Also rewritten when an earlier release stored more than the public members (see #loadFileKey).
      const sameKey = isDeepStrictEqual(record.public_jwk, fresh.public_jwk);
      const newer = store.list().some((k) => k.kid !== record.kid && !isWithdrawn(k) && k.activate_at >= record.activate_at);
      if (sameKey && !newer) return record;
      if (await store.update(keyName(fresh.kid), fresh, revision)) {
        // Best effort: until this replica's copy shows it, its JWKS may lag by a moment, as after any rotation.
        await store.waitFor(fresh.kid, (k) => k.activate_at === fresh.activate_at);
        return fresh;
      }
    }
    throw new KeyRingBusyError("the key file's record kept being changed by other replicas at the same time; retry");
  }

  /**
   * Makes a key signing `prepublish` seconds from now, under `lock` (taken over when its key is missing past
   * `staleAfter` seconds); undefined when another replica holds the lock.
   */
  async #createKey(lock: string, prepublish: number, staleAfter?: number): Promise<StoredKey | undefined> {
    const { store, algorithm, masterKey, now } = this.#o;
    const { kid, publicJwk, privateJwk } = await generateSigningJwks(algorithm);
    // The lock makes one replica, not each, create the successor of a key.
    if (!(await this.#takeSuccessorLock(lock, { kid, at: now() }, { staleAfter }))) return undefined;
    const t = now();
    const record: StoredKey = {
      kid,
      alg: algorithm,
      created_at: t,
      activate_at: t + prepublish,
      public_jwk: publicJwk,
      sealed: sealPrivateJwk(privateJwk, kid, masterKey as Buffer),
    };
    await store.put(keyName(kid), record);
    // Paused past the lock's staleness, another replica took it over and made the key: ours goes, theirs stands.
    const held = await store.get(lock);
    if (held && this.#lockedKid(held.value) !== kid) {
      await store.delete(keyName(kid));
      return undefined;
    }
    // Best effort: a new key this replica does not publish yet is published by the others, and signs only later.
    await store.waitFor(kid);
    return record;
  }

  /**
   * Takes a successor lock (`lock`): a new one, or by compare-and-set one whose key was withdrawn (a withdrawn
   * successor is none), is one of `excluded` (a key being withdrawn is no one's successor), or is stale (its key
   * missing past `staleAfter` seconds); false when another replica holds it.
   */
  async #takeSuccessorLock(
    lock: string,
    claim: SuccessorLock,
    options: { staleAfter?: number | undefined; excluded?: readonly string[] } = {},
  ): Promise<boolean> {
    const { store, now } = this.#o;
    if (await store.create(lock, claim)) return true;
    const held = await store.get(lock);
    // Gone since our create (deleted by an operator): the next maintain() tries again.
    if (!held) return false;
    const heldKid = this.#lockedKid(held.value);
    // From the store itself: a cache a moment behind would still show a key withdrawn since as standing.
    const written = heldKid === undefined ? undefined : (await this.#read(heldKid))?.record;
    // Its key was written and stands: the successor exists, nothing to take over.
    if (written && !isWithdrawn(written) && !options.excluded?.includes(written.kid)) return false;
    const at = (held.value as Partial<SuccessorLock> | null)?.at;
    const staleAfter = options.staleAfter ?? this.#o.successorLockSeconds ?? SUCCESSOR_LOCK_SECONDS;
    if (!written && now() - (typeof at === "number" ? at : 0) < staleAfter) return false;
    // Several replicas may find it free at once: the compare-and-set lets one of them take it over.
    return store.update(lock, claim, held.revision);
  }

  /**
   * Waits until this replica's cache shows `kid` as `until` wants it: a key found withdrawn in the store is answered
   * only then (a copy behind would still publish it, or even name it as its own successor); a cache that does not
   * catch up in time means the call did not complete here, and the caller retries.
   */
  async #shown(kid: string, until?: (key: StoredKey) => boolean): Promise<void> {
    if (!(await this.#o.store.waitFor(kid, until))) {
      throw new KeyRingBusyError(`this replica's copy of the key store does not show the change to key ${kid} yet; retry`);
    }
  }

  /** Every successor and replacement lock in force. */
  async #lockNames(): Promise<string[]> {
    const [successors, replacements] = await Promise.all([this.#o.store.names(SUCCESSOR), this.#o.store.names(REPLACEMENT)]);
    return [...successors, ...replacements];
  }

  /** The kid a successor lock names, if it names one. */
  #lockedKid(value: unknown): string | undefined {
    const kid = (value as Partial<SuccessorLock> | null)?.kid;
    return typeof kid === "string" ? kid : undefined;
  }

  /** A key and its revision from the store itself, not the cache (which may lag); undefined when absent or unreadable. */
  async #read(kid: string): Promise<{ record: StoredKey; revision: number } | undefined> {
    const entry = await this.#o.store.get(keyName(kid));
    const record = entry ? parseStoredKey(entry.value) : undefined;
    return entry && record ? { record, revision: entry.revision } : undefined;
  }

  /** The key another replica is making under `lock`, once this replica sees it; throws KeyRingBusyError while it does not. */
  async #keyMadeUnder(lock: string): Promise<StoredKey> {
    const held = await this.#o.store.get(lock);
    const kid = held ? this.#lockedKid(held.value) : undefined;
    if (kid !== undefined) await this.#o.store.waitFor(kid);
    const key = kid === undefined ? undefined : this.#keys().find((k) => k.kid === kid);
    if (!key || isWithdrawn(key)) throw new KeyRingBusyError("another issuer replica is making this key; retry");
    return key;
  }

  #keys(): StoredKey[] {
    const keys = this.#o.store.list();
    return this.#fileKey && !keys.some((k) => k.kid === this.#fileKey?.kid) ? [...keys, this.#fileKey] : keys;
  }

  /**
   * The key to sign with now, decrypted and imported once per kid; never a withdrawn one. A replica that has not yet
   * seen a withdrawal (its watch a few milliseconds behind) may still sign with the key meanwhile: those tokens are
   * refused by every verifier anyway (the key is no longer published, and the kid is in the revocations), so the
   * lag fails closed.
   */
  signingKey(): SigningKey {
    const record = this.#fileKey ?? signingKeyAt(this.#keys(), this.#o.now());
    // Another replica starting at the same moment is making the first key.
    if (!record) throw unavailable("no signing key available yet; retry shortly");
    let imported = this.#imported.get(record.kid);
    if (!imported) {
      imported = this.#importSealed(record);
      this.#imported.set(record.kid, imported);
    }
    return imported;
  }

  /**
   * The longest lifetime, in seconds, of anything signed with the ring's keys: past it an old key may leave the JWKS
   * and a withdrawn one's records be pruned, so nothing signed may live longer.
   */
  get maxTokenLifetime(): number {
    return this.#o.policy.maxTokenLifetime;
  }

  /** The JWKS document: every key still valid for verification, and always the key this ring signs with. */
  jwks(): { keys: JWK[] } {
    const keys = this.#keys();
    const published = publishedKeysAt(keys, this.#o.now(), this.#o.policy);
    // A ring key made after the file key was recorded (a replica still on the master key) would retire it in the
    // order of activations, while this ring keeps signing with it: every token refused.
    const own = this.#fileKey && keys.find((k) => k.kid === this.#fileKey?.kid);
    if (own && !isWithdrawn(own) && !published.includes(own)) published.push(own);
    return jwksOf(published);
  }

  /** Every key an operator should see, with its state now (see keyStatusesAt); on a key file, its key is the one signing. */
  statuses(): KeyStatus[] {
    const keys = this.#keys();
    const now = this.#o.now();
    const own = this.#fileKey && keys.find((k) => k.kid === this.#fileKey?.kid);
    if (!own || isWithdrawn(own)) return keyStatusesAt(keys, now, this.#o.policy);
    return keyStatusesAt(keys, now, this.#o.policy, own.kid);
  }

  /**
   * Rotates when due (creating a pre-published successor) and drops retired keys, and withdrawn ones once
   * everything they could have signed has expired; returns the rotation it made, if any.
   */
  async maintain(): Promise<Rotation | undefined> {
    if (this.#fileKey) return undefined;
    const keys = this.#keys();
    const now = this.#o.now();
    // A withdrawn key's private part leaves memory too (another replica's Withdraw removed it from the store).
    for (const key of keys) if (isWithdrawn(key)) this.#imported.delete(key.kid);
    const retired = retiredKeysAt(keys, now, this.#o.policy);
    // Its locks guarded the making of its successor or replacement, long made: nothing will ask for them again. Those
    // in force only: deleting a name never written would store a delete marker for nothing.
    const locks = retired.length > 0 ? await this.#lockNames() : [];
    for (const old of retired) {
      await this.#o.store.delete(keyName(old.kid));
      for (const lock of locks) if (lockNames(lock, old.kid)) await this.#o.store.delete(lock);
      this.#imported.delete(old.kid);
    }
    // Keys sealed under a master key being replaced (previousMasterKeys), one a replica still on it made included.
    await this.#resealUnderMasterKey();
    // A key file's record became, or is about to become, the newest key (a replica started on the file).
    const overtaken = await this.#outlastFileKey();
    if (overtaken) return overtaken;
    if (!rotationDue(keys, now, this.#o.policy)) return undefined;
    const current = signingKeyAt(keys, now)?.kid ?? "";
    const made = await this.#createSuccessor(current);
    return made && { kid: made.kid, predecessor: current, activate_at: made.activate_at };
  }

  /**
   * A pre-published successor of `current` (the signing key's kid, empty for none), made under the one lock every
   * replica's scheduled or operator rotation of that key takes: undefined when another replica holds it.
   */
  #createSuccessor(current: string): Promise<StoredKey | undefined> {
    return this.#createKey(successorLock(current), this.#o.prepublishSeconds ?? 0);
  }

  /**
   * A planned rotation, now rather than on schedule: a successor of the signing key, pre-published as the scheduled
   * rotation's is. When a successor is already waiting (not withdrawn), it is the answer and nothing is made, so a
   * repeated call never forks the ring. `created` says whether this call made the key.
   */
  async rotate(): Promise<Rotation & { created: boolean }> {
    if (this.fileBacked) throw new TypeError("a ring on keys.jwk_file is rotated by replacing the file");
    const keys = this.#keys();
    const now = this.#o.now();
    const current = signingKeyAt(keys, now)?.kid ?? "";
    const waiting = upcomingKeyAt(keys, now);
    if (waiting) return { kid: waiting.kid, predecessor: current, activate_at: waiting.activate_at, created: false };
    const made = await this.#createSuccessor(current);
    // Another replica won the lock at the same moment: its key is the successor.
    const key = made ?? (await this.#keyMadeUnder(successorLock(current)));
    return { kid: key.kid, predecessor: current, activate_at: key.activate_at, created: made !== undefined };
  }

  /**
   * Withdraws a key (compromise response): its record loses its sealed private part and gains withdrawn_at (now),
   * withdrawn_by, reason and (given) withdrawn_jti, the operator's token, written by compare-and-set, and from then it neither signs nor is published. When it
   * was the signing key, a successor signs before the record is written, so the ring is never without a key: the
   * waiting upcoming key, brought forward to now, else a new key active at once. Withdrawing a key already withdrawn
   * changes nothing and answers with the earlier record; so does a call that another replica's withdrawal of the same
   * key beat to the write, and both name the one successor they chose together.
   */
  async withdraw(kid: string, by: string, reason: string, jti?: string): Promise<Withdrawal> {
    if (this.fileBacked) throw new TypeError("a ring on keys.jwk_file withdraws its key by replacing the file");
    const { store, now } = this.#o;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      // The store itself, not the cache: the compare-and-set needs the revision, and a withdrawal made a moment ago by
      // another replica must be seen.
      const stored = await this.#read(kid);
      if (!stored) return { found: false };
      const { record, revision } = stored;
      if (isWithdrawn(record)) {
        this.#imported.delete(kid);
        // The store says withdrawn; a cache a moment behind would still name this very key as the one signing.
        await this.#shown(kid, isWithdrawn);
        // A retry of a call that failed after the write still leaves a key signing.
        const successor = signingKeyAt(this.#keys(), now())?.kid ?? (await this.#successorNow(kid));
        return { found: true, key: record, successor, changed: false, shown: true };
      }
      const t = now();
      const others = this.#keys().filter((k) => k.kid !== kid);
      const wasSigning = signingKeyAt([...others, record], t)?.kid === kid;
      const successor = wasSigning ? await this.#successorNow(kid) : (signingKeyAt(others, t)?.kid ?? "");
      // Never its own successor (a stale cache or a clock behind could show it as the waiting key).
      if (successor === kid) throw new KeyRingBusyError("the key's successor could not be told apart from it; retry");
      const { sealed: _sealed, ...rest } = record;
      const withdrawn: StoredKey = { ...rest, withdrawn_at: t, withdrawn_by: by, reason, ...(jti !== undefined && { withdrawn_jti: jti }) };
      if (await store.update(keyName(kid), withdrawn, revision)) {
        this.#imported.delete(kid);
        // Answered once this replica's own JWKS and introspection no longer trust it (see Withdrawal.shown).
        const shown = await store.waitFor(kid, isWithdrawn);
        return { found: true, key: withdrawn, successor: await this.#standingSuccessor(kid, successor), changed: true, shown };
      }
    }
    throw new KeyRingBusyError("the key kept being changed by other calls at the same time; retry");
  }

  /**
   * A key that signs from now on, in place of the withdrawn signing key `predecessor`: the waiting upcoming key,
   * its activation brought forward to now, else a new key active at once. Either way verifiers holding a cached JWKS
   * may refuse its first tokens until they fetch it again: the price of not signing with a compromised key one second
   * longer. The first replica to name a key in the predecessor's replacement lock chooses it, and every replica
   * withdrawing the same key answers with that one: choosing apart, one brought the waiting key forward while another,
   * whose watch already showed it active, made a second key, which then signed unannounced.
   */
  async #successorNow(predecessor: string, lock = replacementLock(predecessor), excluded: readonly string[] = [predecessor]): Promise<string> {
    const { store, now, revokedKid } = this.#o;
    const options = { staleAfter: REPLACEMENT_LOCK_SECONDS, excluded };
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      // Never a key being withdrawn: this one, or one whose `kid` record an operator's Withdraw already wrote.
      const candidates = this.#keys().filter((k) => !excluded.includes(k.kid) && !revokedKid?.(k.kid));
      const waiting = upcomingKeyAt(candidates, now());
      if (waiting) await this.#takeSuccessorLock(lock, { kid: waiting.kid, at: now() }, options);
      else {
        const made = await this.#createKey(lock, 0, REPLACEMENT_LOCK_SECONDS);
        if (made) return made.kid;
      }
      // Named by this call or by another replica first: the one successor, made to sign now by whoever reads it.
      const held = await store.get(lock);
      const kid = held ? this.#lockedKid(held.value) : undefined;
      // Withdrawn since it was named, a withdrawn successor being none: the next attempt takes the lock over.
      if (kid !== undefined && !excluded.includes(kid) && (await this.#activateNow(kid))) return kid;
    }
    throw new KeyRingBusyError("the key's successor kept being withdrawn or replaced by other calls at the same time; retry");
  }

  /**
   * The key signing after `kid`'s withdrawal: `successor`, unless another replica withdrew it at the same moment (`kid`
   * and its waiting successor withdrawn together, each replica seeing the other key as the one to sign). Then the
   * later of the two writers finds it withdrawn in the store. If the other replica took it for the signing key, it
   * chose that key's successor under the successor's replacement lock, and wrote both before its compare-and-set: read
   * from the store (not a cache, which may lag), that key is the answer, made to sign now on this clock too. Otherwise
   * one more key is brought forward under one lock both would take (named after the pair): never an older key still
   * published, which would retire soon, and never two new keys signing on different replicas.
   */
  async #standingSuccessor(kid: string, successor: string): Promise<string> {
    if (successor === "") return successor;
    const record = (await this.#read(successor))?.record;
    if (record && !isWithdrawn(record)) return successor;
    const pair = [kid, successor].sort();
    const held = await this.#o.store.get(replacementLock(successor));
    const chosen = held ? this.#lockedKid(held.value) : undefined;
    if (chosen !== undefined && !pair.includes(chosen) && (await this.#activateNow(chosen))) return chosen;
    return this.#successorNow(kid, replacementLock(pair.join(".")), pair);
  }

  /**
   * Makes `kid` sign from now on: its activation, if still ahead, brought forward to now by compare-and-set, so that
   * replicas doing it at once write it once. False when it is withdrawn; throws KeyRingBusyError when it is not written
   * yet (the replica that named it under a lock is still making it).
   */
  async #activateNow(kid: string): Promise<boolean> {
    const { store, now } = this.#o;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      let stored = await this.#read(kid);
      if (!stored) {
        await store.waitFor(kid);
        stored = await this.#read(kid);
      }
      if (!stored) throw new KeyRingBusyError("another issuer replica is making this key; retry");
      const { record, revision } = stored;
      if (isWithdrawn(record)) return false;
      const t = now();
      if (record.activate_at <= t || (await store.update(keyName(kid), { ...record, activate_at: t }, revision))) {
        // Best effort: until this replica's copy shows it, the minter signs with the key it had (or refuses a revoked one).
        await store.waitFor(kid, (k) => k.activate_at <= t);
        return true;
      }
    }
    throw new KeyRingBusyError("the key kept being changed by other calls at the same time; retry");
  }
}

/** A verifier's view of the ring: public keys only, no master key needed. */
export class PublicKeyRing {
  readonly #source: () => StoredKey[];
  readonly #policy: LifecyclePolicy;
  readonly #now: () => number;
  /** The records the resolver was built from: a watched copy hands out a new record only for a new write. */
  #builtFrom: readonly StoredKey[] = [];
  #getKey: JWTVerifyGetKey = createLocalJWKSet({ keys: [] });

  constructor(source: () => StoredKey[], policy: LifecyclePolicy, now: () => number) {
    this.#source = source;
    this.#policy = policy;
    this.#now = now;
  }

  /** The published JWK Set. */
  jwks(): { keys: JWK[] } {
    return jwksOf(publishedKeysAt(this.#source(), this.#now(), this.#policy));
  }

  /**
   * A jose key resolver over the published keys, rebuilt only when they change: a kid added or dropped, or its key
   * replaced (a key file rewritten under the same kid), each of which is a new record. Compared by record, not by
   * serialising the set: this runs on every verification.
   */
  keyResolver(): JWTVerifyGetKey {
    const published = publishedKeysAt(this.#source(), this.#now(), this.#policy);
    const before = this.#builtFrom;
    if (published.length !== before.length || published.some((k, i) => k !== before[i])) {
      this.#builtFrom = published;
      this.#getKey = createLocalJWKSet(jwksOf(published));
    }
    return this.#getKey;
  }
}

export { parseStoredKey };
