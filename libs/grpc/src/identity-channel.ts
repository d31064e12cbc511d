/**
 * A client channel whose connections do not outlive the identity they were
 * made with. grpc-js keeps a READY connection whatever its credentials'
 * certificate provider says later: a withdrawn X.509-SVID only stops new
 * handshakes. This channel follows the identity instead: when it is withdrawn
 * (redacted by the agent, or expired), the calls under way fail with
 * UNAVAILABLE and the connections close; the calls that follow fail as well,
 * there being no certificate to connect with, until an identity is back.
 */
import * as grpc from "@grpc/grpc-js";
import type { IdentityState } from "./tls.js";

type Call = ReturnType<grpc.ChannelInterface["createCall"]>;
type CallListener = Parameters<Call["start"]>[1];

/** A call of the channel that tells it when it has ended. */
class TrackedCall implements Call {
  constructor(
    private readonly call: Call,
    private readonly ended: () => void,
  ) {}

  start(metadata: grpc.Metadata, listener: CallListener): void {
    this.call.start(metadata, {
      onReceiveMetadata: (m) => listener.onReceiveMetadata(m),
      onReceiveMessage: (m: unknown) => listener.onReceiveMessage(m),
      onReceiveStatus: (status) => {
        this.ended();
        listener.onReceiveStatus(status);
      },
    });
  }
  cancelWithStatus(status: grpc.status, details: string): void {
    // Also when it was never started: then no status comes back.
    this.ended();
    this.call.cancelWithStatus(status, details);
  }
  getPeer(): string {
    return this.call.getPeer();
  }
  sendMessageWithContext(context: Parameters<Call["sendMessageWithContext"]>[0], message: Buffer): void {
    this.call.sendMessageWithContext(context, message);
  }
  startRead(): void {
    this.call.startRead();
  }
  halfClose(): void {
    this.call.halfClose();
  }
  getCallNumber(): number {
    return this.call.getCallNumber();
  }
  setCredentials(credentials: grpc.CallCredentials): void {
    this.call.setCredentials(credentials);
  }
  getAuthContext(): ReturnType<Call["getAuthContext"]> {
    return this.call.getAuthContext();
  }
}

/**
 * A grpc-js channel (a Client's `channelOverride`) that, at each change of `identity`, fails its calls under way (on a
 * withdrawal) and dials anew through a fresh inner channel. The inner channels keep their connections to themselves (a
 * local subchannel pool): closing one closes them, where a shared one could hand them on to the next.
 */
export class IdentityBoundChannel implements grpc.ChannelInterface {
  #channel: grpc.Channel;
  readonly #calls = new Set<Call>();
  readonly #unsubscribe: () => void;

  constructor(
    private readonly target: string,
    private readonly credentials: grpc.ChannelCredentials,
    private readonly options: grpc.ChannelOptions,
    identity: IdentityState,
  ) {
    this.#channel = this.#open();
    this.#unsubscribe = identity.subscribe((held) => this.#renew(held));
  }

  #open(): grpc.Channel {
    return new grpc.Channel(this.target, this.credentials, { ...this.options, "grpc.use_local_subchannel_pool": 1 });
  }

  /**
   * Withdrawn: no call may go on over a connection made with the identity, so each is failed and the channel that made
   * them closed. Back: a fresh channel too, so that the attempts made without a certificate leave no backoff behind.
   */
  #renew(held: boolean): void {
    const old = this.#channel;
    this.#channel = this.#open();
    if (!held) {
      for (const call of [...this.#calls]) call.cancelWithStatus(grpc.status.UNAVAILABLE, "the X.509-SVID this call was made with was withdrawn");
    }
    old.close();
  }

  close(): void {
    this.#unsubscribe();
    this.#channel.close();
  }
  getTarget(): string {
    return this.#channel.getTarget();
  }
  getConnectivityState(tryToConnect: boolean): grpc.connectivityState {
    return this.#channel.getConnectivityState(tryToConnect);
  }
  watchConnectivityState(currentState: grpc.connectivityState, deadline: Date | number, callback: (error?: Error) => void): void {
    this.#channel.watchConnectivityState(currentState, deadline, callback);
  }
  getChannelzRef(): ReturnType<grpc.ChannelInterface["getChannelzRef"]> {
    return this.#channel.getChannelzRef();
  }
  createCall(...args: Parameters<grpc.ChannelInterface["createCall"]>): Call {
    const call: Call = new TrackedCall(this.#channel.createCall(...args), () => this.#calls.delete(call));
    this.#calls.add(call);
    return call;
  }
}
