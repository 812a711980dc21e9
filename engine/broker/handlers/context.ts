import type { Logger } from 'pino';
import type { RequestHeader } from '../../protocol/header.js';
import type { BrokerConfig } from '../config.js';
import type { GroupCoordinator } from '../groupCoordinator.js';
import type { TopicRegistry } from '../topicRegistry.js';
import type { TransactionCoordinator } from '../transactionCoordinator.js';

/** What request handlers see of the broker. */
export interface BrokerState {
  readonly config: BrokerConfig;
  readonly topics: TopicRegistry;
  readonly groups: GroupCoordinator;
  readonly transactions: TransactionCoordinator;
  readonly log: Logger;
  /** Host and port clients are told to connect to. */
  readonly advertised: { host: string; port: number };
  readonly closing: boolean;
  /** Registered waits (long-polling fetches) end early when the broker closes. */
  onClose(listener: () => void): () => void;
}

export interface RequestContext {
  header: RequestHeader;
  clientHost: string;
}

/** A handler's answer; null means no response at all (Produce with acks=0). */
export type Handled<T> = T | Promise<T> | null;
