import type { ProcessorContext, RawRecord, Serde, SourcePosition } from './contracts.js';

/** Where a record came from: what a dead letter reports. */
export interface Origin {
  position: SourcePosition | null;
  raw: RawRecord | null;
}

/**
 * What the Task's contexts offer the built-in operators beyond the public ProcessorContext.
 * User processors see only ProcessorContext.
 */
export interface InternalContext<KOut, VOut> extends ProcessorContext<KOut, VOut> {
  readonly nodeName: string;
  /** Children of this node, in the order they were added. */
  readonly childNames: readonly string[];
  /** The topic name handed to serdes for a store's bytes: its full changelog topic. */
  storeTopic(store: string): string;
  /** One object per task and key, shared by the processors of one task (both sides of a join). */
  shared<T>(key: string, create: () => T): T;
  /** The record being processed now. */
  origin(): Origin;
  /** Runs `fn` on behalf of a record processed earlier (async results); a throw is dead-lettered. */
  withOrigin(origin: Origin, fn: () => void): void;
}

export function internal<K, V>(ctx: ProcessorContext<K, V>): InternalContext<K, V> {
  if (!('storeTopic' in ctx)) throw new Error('built-in operators need a context from engine/topology Task');
  return ctx as InternalContext<K, V>;
}

/**
 * Awaits `prepare` of every serde that asks for it before bytes are decoded. Returns undefined
 * when nothing is pending, so the common path stays synchronous.
 */
export function prepareAll(
  items: Iterable<
    | readonly [Serde<unknown>, Buffer | null | undefined]
    | readonly [Serde<unknown>, Buffer | null | undefined, string]
  >,
  topic: string,
): Promise<void> | undefined {
  let pending: Promise<void>[] | undefined;
  for (const [serde, bytes, itemTopic] of items) {
    if (!serde.prepare || bytes === undefined) continue;
    const p = serde.prepare(bytes, itemTopic ?? topic);
    if (p) (pending ??= []).push(p);
  }
  return pending ? Promise.all(pending).then(() => undefined) : undefined;
}

/**
 * The shape of every built-in stateful operator: a synchronous step that may first need serdes
 * prepared for the stored bytes it will read. `needs` only reads; when something is pending the
 * step runs after it, on behalf of the same record, and is checked again first, so state is
 * never touched between an await and a decode.
 */
export function runPrepared<K, V>(
  ctx: InternalContext<K, V>,
  needs: () => Promise<void> | undefined,
  step: () => void,
): void | Promise<void> {
  const pending = needs();
  if (!pending) {
    step();
    return;
  }
  const origin = ctx.origin();
  return pending.then(() => {
    const next: { again?: Promise<void> } = {};
    ctx.withOrigin(origin, () => {
      const again = runPrepared(ctx, needs, step);
      if (again) next.again = again;
    });
    return next.again;
  });
}
