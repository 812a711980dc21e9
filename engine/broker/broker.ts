import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { createLogger } from '../observability/logger.js';
import { ApiKey, apiName, supportedVersions } from '../protocol/apiKeys.js';
import { ErrorCode } from '../protocol/errorCodes.js';
import { decodeRequestHeader, type RequestHeader } from '../protocol/header.js';
import { encodeApiVersionsResponse } from '../protocol/messages/apiVersions.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { apis } from './apis.js';
import { type BrokerConfig, type BrokerConfigInput, parseBrokerConfig } from './config.js';
import { Connection } from './connection.js';
import { GroupCoordinator } from './groupCoordinator.js';
import type { BrokerState } from './handlers/context.js';
import { apiVersionsResponse } from './handlers/metadata.js';
import { OffsetsTopic } from './offsetsTopic.js';
import { TopicRegistry } from './topicRegistry.js';
import { TransactionCoordinator } from './transactionCoordinator.js';

export interface BrokerOptions {
  /** Overrides the host of `listeners`. */
  host?: string;
  /** Overrides the port of `listeners`; 0 picks a free one. */
  port?: number;
  /** Overrides `log.dirs`. */
  dataDir?: string;
  /** Kafka-named settings (server.properties keys). */
  config?: BrokerConfigInput;
  logger?: Logger;
}

function parseListener(v: string): { host: string; port: number } {
  const m = /^(?:[A-Z_]+:\/\/)?\[?([^\]]*?)\]?:(\d+)$/.exec(v.split(',')[0].trim());
  if (!m) throw new Error(`cannot parse listener "${v}"; expected PLAINTEXT://host:port`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

/**
 * A single-node Kafka broker: one listener, every partition led here, the group
 * coordinator and the committed-offsets topic. Clients find no difference from Kafka for
 * the APIs and versions it advertises.
 */
export class Broker implements BrokerState {
  readonly config: BrokerConfig;
  readonly log: Logger;
  readonly topics: TopicRegistry;
  readonly groups: GroupCoordinator;
  readonly transactions: TransactionCoordinator;
  advertised: { host: string; port: number } = { host: '127.0.0.1', port: 9092 };
  closing = false;
  /**
   * Fault injection for tests of client retries: the next `dropProduceResponses` produce
   * requests are appended but answered by closing the connection, as a broker that dies
   * between write and reply would.
   */
  readonly faults = { dropProduceResponses: 0 };
  private server: Server | null = null;
  private connections = new Set<Connection>();
  private closeListeners = new Set<() => void>();

  private constructor(config: BrokerConfig, log: Logger) {
    this.config = config;
    this.log = log;
    this.topics = TopicRegistry.open(config['log.dirs'], config, log);
    const offsets = OffsetsTopic.ensure(this.topics);
    this.groups = new GroupCoordinator({
      store: offsets,
      initialRebalanceDelayMs: config['group.initial.rebalance.delay.ms'],
      minSessionTimeoutMs: config['group.min.session.timeout.ms'],
      maxSessionTimeoutMs: config['group.max.session.timeout.ms'],
    });
    this.groups.restoreOffsets(offsets.load());
    this.transactions = new TransactionCoordinator({
      topics: this.topics,
      groups: this.groups,
      log,
      maxTimeoutMs: config['transaction.max.timeout.ms'],
      abortCheckIntervalMs: config['transaction.abort.timed.out.transaction.cleanup.interval.ms'],
    });
  }

  static async start(opts: BrokerOptions = {}): Promise<Broker> {
    const input: BrokerConfigInput = { ...opts.config };
    if (opts.dataDir) input['log.dirs'] = opts.dataDir;
    const config = parseBrokerConfig(input);
    const broker = new Broker(config, opts.logger ?? createLogger('broker'));
    await broker.transactions.recover();
    const listen = parseListener(config.listeners);
    await broker.listen(opts.host ?? listen.host, opts.port ?? listen.port);
    return broker;
  }

  /** `host:port` for clients' bootstrap servers. */
  get bootstrap(): string {
    return `${this.advertised.host}:${this.advertised.port}`;
  }

  get port(): number {
    return this.advertised.port;
  }

  private listen(host: string, port: number): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const bound = server.address();
        const boundPort = typeof bound === 'object' && bound ? bound.port : port;
        const adv = this.config['advertised.listeners'];
        this.advertised = adv
          ? parseListener(adv)
          : { host: host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port: boundPort };
        if (this.advertised.port === 0) this.advertised.port = boundPort;
        this.log.info({ listen: `${host}:${boundPort}`, advertised: this.bootstrap }, 'broker listening');
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    const conn = new Connection(socket, this.config['socket.request.max.bytes'], this.log, (frame, c) =>
      this.dispatch(frame, c),
    );
    this.connections.add(conn);
    socket.on('close', () => this.connections.delete(conn));
  }

  private dispatch(frame: Buffer, conn: Connection): void {
    const r = new Reader(frame);
    let header: RequestHeader;
    try {
      header = decodeRequestHeader(r);
    } catch (err) {
      conn.fail('unreadable request header', err);
      return;
    }
    conn.clientId = header.clientId;
    const respond = conn.reserve();
    const send = (body: (w: Writer) => void) => {
      const w = new Writer();
      w.int32(0).int32(header.correlationId);
      body(w);
      const chunks = w.toChunks();
      chunks[0].writeInt32BE(w.length - 4, 0);
      respond(chunks);
    };
    const range = supportedVersions[header.apiKey];
    if (header.apiKey === ApiKey.ApiVersions && range && header.apiVersion > range.max) {
      // Newer clients retry with v0 when told UNSUPPORTED_VERSION in the v0 layout.
      send((w) => encodeApiVersionsResponse(w, 0, apiVersionsResponse(ErrorCode.UNSUPPORTED_VERSION)));
      return;
    }
    const api = apis[header.apiKey];
    if (!range || !api || header.apiVersion < range.min || header.apiVersion > range.max) {
      this.log.warn(
        {
          client: header.clientId,
          address: conn.remote,
          apiKey: header.apiKey,
          apiVersion: header.apiVersion,
        },
        'unsupported API or version',
      );
      send((w) => w.int16(ErrorCode.UNSUPPORTED_VERSION));
      return;
    }
    let req: unknown;
    try {
      req = api.decode(r, header.apiVersion);
    } catch (err) {
      conn.fail(`malformed ${apiName[header.apiKey]} v${header.apiVersion} request`, err);
      return;
    }
    const ctx = { header, clientHost: conn.socket.remoteAddress ?? '' };
    let result: unknown;
    try {
      result = api.handle(this, req, header.apiVersion, ctx);
    } catch (err) {
      this.failRequest(conn, header, err);
      return;
    }
    if (result === null) {
      respond(null);
      return;
    }
    Promise.resolve(result).then(
      (res) => {
        if (header.apiKey === ApiKey.Produce && this.faults.dropProduceResponses > 0) {
          this.faults.dropProduceResponses--;
          conn.fail('fault injection: produce response dropped');
          return;
        }
        send((w) => api.encode(w, header.apiVersion, res));
      },
      (err) => this.failRequest(conn, header, err),
    );
  }

  private failRequest(conn: Connection, header: RequestHeader, err: unknown): void {
    this.log.error(
      { client: header.clientId, address: conn.remote, api: apiName[header.apiKey], err },
      'request failed inside the broker',
    );
    conn.fail(`internal error in ${apiName[header.apiKey]}`);
  }

  onClose(listener: () => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const l of [...this.closeListeners]) l();
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    // Let in-flight answers (the long polls just released) reach their sockets first.
    await new Promise((resolve) => setImmediate(resolve));
    for (const c of this.connections) c.close();
    await closed;
    this.transactions.close();
    this.groups.close();
    await this.topics.close();
    this.log.info('broker stopped');
  }
}

export function startBroker(opts: BrokerOptions = {}): Promise<Broker> {
  return Broker.start(opts);
}
