import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { EventSink, SinkMessage } from './event-sink.js';

export interface AmqpSinkOptions {
  /** amqp://user:pass@host:port/vhost */
  url: string;
  /** Durable topic exchange (default `scoville.events`), declared on connect. */
  exchange?: string;
  /** Connect timeout (default 5 s). */
  connectTimeoutMs?: number;
  /** A batch not confirmed within this fails and the connection is dropped (default 10 s). */
  confirmTimeoutMs?: number;
}

export const DEFAULT_EXCHANGE = 'scoville.events';

/**
 * RabbitMQ sink: one connection, one confirm channel, a durable topic
 * exchange; persistent messages with `message-id` = event id. A batch is
 * published in order and awaited with `waitForConfirms`; a nack, a closed
 * channel or a lost connection rejects it and drops the connection (the next
 * `publish` reconnects).
 */
export class AmqpSink implements EventSink {
  readonly name: string;
  private readonly exchange: string;
  private conn: ChannelModel | null = null;
  private channel: ConfirmChannel | null = null;
  private opening: Promise<ConfirmChannel> | null = null;

  constructor(private readonly opts: AmqpSinkOptions) {
    this.exchange = opts.exchange ?? DEFAULT_EXCHANGE;
    this.name = `amqp:${this.exchange}`;
  }

  get connected(): boolean {
    return this.channel !== null;
  }

  async publish(messages: readonly SinkMessage[]): Promise<void> {
    const ch = await this.open();
    let timer: NodeJS.Timeout | undefined;
    try {
      for (const m of messages) {
        // false from publish() is only flow control (the socket buffer is
        // full): the message is queued all the same, waitForConfirms covers it.
        ch.publish(this.exchange, m.subject, Buffer.from(JSON.stringify(m.body)), {
          persistent: true,
          messageId: m.id,
          contentType: 'application/json',
          type: m.body.schema,
          timestamp: Math.floor(m.at / 1000),
        });
      }
      // A broker that went silent (half-open TCP) would never confirm.
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no publisher confirm within ${this.confirmTimeoutMs} ms`)), this.confirmTimeoutMs);
      });
      await Promise.race([ch.waitForConfirms(), silent]);
    } catch (e) {
      await this.drop();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private get confirmTimeoutMs(): number {
    return this.opts.confirmTimeoutMs ?? 10_000;
  }

  private open(): Promise<ConfirmChannel> {
    if (this.channel) return Promise.resolve(this.channel);
    this.opening ??= (async () => {
      const conn = await connect(this.opts.url, { timeout: this.opts.connectTimeoutMs ?? 5_000 });
      // Only this connection's own loss clears it (a late close of an old one must not).
      const lost = () => {
        if (this.conn !== conn) return;
        this.conn = null;
        this.channel = null;
      };
      conn.on('error', () => undefined); // 'close' follows
      conn.on('close', lost);
      try {
        const ch = await conn.createConfirmChannel();
        ch.on('error', () => undefined); // 'close' follows; the pending confirms reject
        ch.on('close', lost);
        await ch.assertExchange(this.exchange, 'topic', { durable: true });
        this.conn = conn;
        this.channel = ch;
        return ch;
      } catch (e) {
        await conn.close().catch(() => undefined);
        throw e;
      }
    })().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async drop(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    this.channel = null;
    if (conn) await conn.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    await this.drop();
  }
}
