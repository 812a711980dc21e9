import type { Processor, ProcessorContext, ProcessorSupplier, StreamRecord } from '../contracts.js';
import { type InternalContext, internal, type Origin } from '../internalContext.js';

interface Entry<K, V, VR> {
  record: StreamRecord<K, V>;
  origin: Origin;
  state: 'waiting' | 'running' | 'done' | 'failed';
  result?: VR;
  error?: unknown;
  /** Resolves the promise `process` returned when the entry had to wait for a slot. */
  started?: () => void;
}

/**
 * Maps values with an async function, at most `concurrency` records at a time, forwarding
 * results in input order. A slot is held from the call's start until its result is forwarded,
 * so results waiting behind a slow earlier record count too: memory stays bounded. `process`
 * returns a promise only when no slot is free (backpressure); it resolves once the record has
 * started. A failed call is dead-lettered as a processing failure of its record.
 */
class MapAsyncProcessor<K, V, VR> implements Processor<K, V, K, VR> {
  private ctx!: InternalContext<K, VR>;
  private readonly queue: Entry<K, V, VR>[] = [];
  private inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly fn: (value: V, key: K) => Promise<VR>,
    private readonly concurrency: number,
  ) {}

  init(ctx: ProcessorContext<K, VR>): void {
    this.ctx = internal(ctx);
  }

  process(record: StreamRecord<K, V>): void | Promise<void> {
    const entry: Entry<K, V, VR> = { record, origin: this.ctx.origin(), state: 'waiting' };
    this.queue.push(entry);
    this.startWaiting();
    if (entry.state !== 'waiting') return;
    return new Promise<void>((resolve) => {
      entry.started = resolve;
    });
  }

  flush(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private startWaiting(): void {
    for (const entry of this.queue) {
      if (this.inFlight >= this.concurrency) return;
      if (entry.state === 'waiting') this.start(entry);
    }
  }

  private start(entry: Entry<K, V, VR>): void {
    this.inFlight++;
    entry.state = 'running';
    let call: Promise<VR>;
    try {
      call = Promise.resolve(this.fn(entry.record.value, entry.record.key));
    } catch (err) {
      call = Promise.reject(err);
    }
    call
      .then(
        (result) => {
          entry.state = 'done';
          entry.result = result;
        },
        (error) => {
          entry.state = 'failed';
          entry.error = error;
        },
      )
      .then(() => this.drain());
    entry.started?.();
  }

  private drain(): void {
    while (this.queue.length > 0 && (this.queue[0]!.state === 'done' || this.queue[0]!.state === 'failed')) {
      const entry = this.queue.shift()!;
      this.inFlight--;
      this.ctx.withOrigin(entry.origin, () => {
        if (entry.state === 'failed') {
          throw entry.error instanceof Error ? entry.error : new Error(String(entry.error));
        }
        this.ctx.forward({ ...entry.record, value: entry.result as VR });
      });
    }
    this.startWaiting();
    if (this.queue.length === 0) {
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
    }
  }
}

export function mapAsyncProcessor<K, V, VR>(
  fn: (value: V, key: K) => Promise<VR>,
  concurrency: number,
): ProcessorSupplier<K, V, K, VR> {
  return () => new MapAsyncProcessor(fn, concurrency);
}
