import type { AllocationPolicy, Delta, InventoryEvent, ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';

/**
 * Every message on the agent ⇄ hub sync link. One JSON object per WebSocket
 * frame, discriminated by `type`. Field meanings and the ordering rules are
 * in PROTOCOL.md; schemas.ts holds the validation.
 */

/** Agent → hub, first message on every connection. */
export interface HelloMessage {
  type: 'hello';
  /** Protocol version the agent speaks, `major.minor` (see PROTOCOL_VERSION). */
  protocol: string;
  /** The store this agent serves; must match the store token. */
  store: StoreId;
  /** The agent's replica id (created once per install, never reused). */
  replica: ReplicaId;
  /**
   * Reserved: 0. The hub sends every connecting agent its store's full state
   * (minus the agent's own entries), so no hub-side position is needed.
   */
  ackedHubSeq: number;
  /**
   * Highest seq in the agent's own event log (0: empty). A hub that already
   * stored a higher seq of this replica refuses it (`replica_regressed`):
   * the agent was restored from an old backup and would reuse event ids.
   */
  lastEventSeq: number;
}

/** Hub → agent, answer to hello. */
export interface WelcomeMessage {
  type: 'welcome';
  /** The negotiated version both sides speak from now on. */
  protocol: string;
  /** The replica id of the hub process serving this connection. */
  hubReplica: ReplicaId;
  /**
   * Reserved: 0. Batch seqs are per connection; the agent resends from its
   * own durable watermarks (highest change and event seq the hub acked).
   */
  ackedUpTo: number;
  /** Highest event seq of this replica the hub has stored (informational; may have gaps below it). */
  hubSeq: number;
}

/** Both directions: changed CRDT entries plus the events that produced them. */
export interface BatchMessage {
  type: 'batch';
  /**
   * Positive, increasing per sender and direction. A batch may coalesce
   * everything the sender numbered up to `seq`, so receivers accept gaps.
   */
  seq: number;
  /** The changed entries (counter entries, transfers, reservations), max-merged on receipt. */
  delta: Delta;
  /** The log events behind the delta, stored exactly once by id (may be empty). */
  events: InventoryEvent[];
}

/** Agent → hub: backfill of older events after a long outage; its own seq space. */
export interface EventsMessage {
  type: 'events';
  /** Positive, increasing, numbered independently of batches. */
  seq: number;
  /** Log events, deduplicated by id at the hub. */
  events: InventoryEvent[];
}

/** Which numbered stream an ack covers. */
export type AckStream = 'batch' | 'events';

/** Both directions: cumulative acknowledgement, sent after the durable commit. */
export interface AckMessage {
  type: 'ack';
  /** The stream whose seqs are acknowledged. */
  stream: AckStream;
  /** Every seq ≤ upTo on that stream is durably committed by the sender of the ack. */
  upTo: number;
}

/** Both directions: anti-entropy digest of one store's full state. */
export interface DigestMessage {
  type: 'digest';
  /** The store the digest covers. */
  store: StoreId;
  /** `digestOf(state.toDelta(store))`: 16 lowercase hex digits, order-independent. */
  digest: string;
  /** How many entries (counter entries, transfers, reservations) the digest covers. */
  entries: number;
}

/** Both directions: full entries of a store after a digest mismatch, in chunks. */
export interface RepairMessage {
  type: 'repair';
  /** The store being repaired; every item of `delta` belongs to it. */
  store: StoreId;
  /** A chunk of the sender's full state of that store. */
  delta: Delta;
  /** True on the last chunk of this repair round. */
  final: boolean;
}

/** Agent → hub: asks for selling rights on one SKU. */
export interface RightsRequestMessage {
  type: 'rights_request';
  /** Chosen by the agent, echoed in the grant; the hub treats it as an idempotency key. */
  requestId: string;
  /** The agent's store. */
  store: StoreId;
  /** The SKU the agent wants rights for. */
  sku: Sku;
  /** Units of rights wanted (positive). */
  qty: number;
}

/** Hub → agent: answer to a rights request, sent after the transfer is committed. */
export interface RightsGrantMessage {
  type: 'rights_grant';
  /** The requestId of the request being answered. */
  requestId: string;
  /** The store of the request. */
  store: StoreId;
  /** The SKU of the request. */
  sku: Sku;
  /** Units granted, 0 up to the requested qty. */
  granted: number;
  /** The transfer entries (hub → agent) carrying the grant; empty when granted is 0. */
  delta: Delta;
}

/**
 * Hub → agent (protocol ≥ 1.1): the store's online allocation policy, sent
 * after welcome and whenever it changes. The agent keeps the latest and
 * hands the hub the rights above what the policy lets it keep.
 */
export interface AllocationMessage {
  type: 'allocation';
  /** The agent's store. */
  store: StoreId;
  /** The whole policy (default rule and per-SKU overrides). */
  policy: AllocationPolicy;
}

/** Both directions: a protocol or processing error. */
export interface ErrorMessage {
  type: 'error';
  /** Machine-readable code, e.g. `bad_shape`, `too_large`, `forbidden`. */
  code: string;
  /** Human-readable detail for logs. */
  message: string;
  /** True when the sender closes the connection right after. */
  fatal: boolean;
  /** The seq of the batch or events message the error is about, when known. */
  seq?: number;
  /** Which numbered stream `seq` belongs to (absent: `batch`). */
  stream?: AckStream;
}

/** Both directions: heartbeat probe. */
export interface PingMessage {
  type: 'ping';
  /** Sender's clock (epoch ms), echoed in the pong to measure round-trip time. */
  t: number;
}

/** Both directions: heartbeat answer. */
export interface PongMessage {
  type: 'pong';
  /** The `t` of the ping being answered. */
  t: number;
}

export type Message =
  | HelloMessage
  | WelcomeMessage
  | BatchMessage
  | EventsMessage
  | AckMessage
  | DigestMessage
  | RepairMessage
  | RightsRequestMessage
  | RightsGrantMessage
  | AllocationMessage
  | ErrorMessage
  | PingMessage
  | PongMessage;

export type MessageType = Message['type'];

/** The message with a given type. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

export const MESSAGE_TYPES = [
  'hello',
  'welcome',
  'batch',
  'events',
  'ack',
  'digest',
  'repair',
  'rights_request',
  'rights_grant',
  'allocation',
  'error',
  'ping',
  'pong',
] as const satisfies readonly MessageType[];

export const isHello = (m: Message): m is HelloMessage => m.type === 'hello';
export const isWelcome = (m: Message): m is WelcomeMessage => m.type === 'welcome';
export const isBatch = (m: Message): m is BatchMessage => m.type === 'batch';
export const isEvents = (m: Message): m is EventsMessage => m.type === 'events';
export const isAck = (m: Message): m is AckMessage => m.type === 'ack';
export const isDigest = (m: Message): m is DigestMessage => m.type === 'digest';
export const isRepair = (m: Message): m is RepairMessage => m.type === 'repair';
export const isRightsRequest = (m: Message): m is RightsRequestMessage => m.type === 'rights_request';
export const isRightsGrant = (m: Message): m is RightsGrantMessage => m.type === 'rights_grant';
export const isAllocation = (m: Message): m is AllocationMessage => m.type === 'allocation';
export const isError = (m: Message): m is ErrorMessage => m.type === 'error';
export const isPing = (m: Message): m is PingMessage => m.type === 'ping';
export const isPong = (m: Message): m is PongMessage => m.type === 'pong';
