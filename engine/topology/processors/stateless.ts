import type { Processor, ProcessorContext, ProcessorSupplier, StreamRecord } from '../contracts.js';

/** Key and value of a record produced by map/flatMap. */
export interface KeyValue<K, V> {
  key: K;
  value: V;
}

/** A processor that turns each record into zero or more records, with no state. */
function stateless<KIn, VIn, KOut, VOut>(
  apply: (record: StreamRecord<KIn, VIn>, forward: (out: StreamRecord<KOut, VOut>) => void) => void,
): ProcessorSupplier<KIn, VIn, KOut, VOut> {
  return () => {
    let ctx: ProcessorContext<KOut, VOut>;
    return {
      init(c) {
        ctx = c;
      },
      process(record) {
        apply(record, (out) => ctx.forward(out));
      },
    };
  };
}

export const filterProcessor = <K, V>(predicate: (key: K, value: V) => boolean) =>
  stateless<K, V, K, V>((r, forward) => {
    if (predicate(r.key, r.value)) forward(r);
  });

export const mapProcessor = <K, V, KR, VR>(fn: (key: K, value: V) => KeyValue<KR, VR>) =>
  stateless<K, V, KR, VR>((r, forward) => {
    const { key, value } = fn(r.key, r.value);
    forward({ key, value, timestamp: r.timestamp, headers: r.headers });
  });

export const mapValuesProcessor = <K, V, VR>(fn: (value: V, key: K) => VR) =>
  stateless<K, V, K, VR>((r, forward) => forward({ ...r, value: fn(r.value, r.key) }));

export const flatMapProcessor = <K, V, KR, VR>(fn: (key: K, value: V) => Iterable<KeyValue<KR, VR>>) =>
  stateless<K, V, KR, VR>((r, forward) => {
    for (const { key, value } of fn(r.key, r.value))
      forward({ key, value, timestamp: r.timestamp, headers: r.headers });
  });

export const flatMapValuesProcessor = <K, V, VR>(fn: (value: V, key: K) => Iterable<VR>) =>
  stateless<K, V, K, VR>((r, forward) => {
    for (const value of fn(r.value, r.key)) forward({ ...r, value });
  });

export const selectKeyProcessor = <K, V, KR>(fn: (key: K, value: V) => KR) =>
  stateless<K, V, KR, V>((r, forward) => forward({ ...r, key: fn(r.key, r.value) }));

export const peekProcessor = <K, V>(fn: (key: K, value: V) => void) =>
  stateless<K, V, K, V>((r, forward) => {
    fn(r.key, r.value);
    forward(r);
  });

export const passThroughProcessor = <K, V>() => stateless<K, V, K, V>((r, forward) => forward(r));

/** Sends each record to the child of the first predicate it matches; records matching none go nowhere. */
export function branchProcessor<K, V>(
  predicates: readonly ((key: K, value: V) => boolean)[],
  children: readonly string[],
): ProcessorSupplier<K, V, K, V> {
  return (): Processor<K, V, K, V> => {
    let ctx: ProcessorContext<K, V>;
    return {
      init(c) {
        ctx = c;
      },
      process(record) {
        const index = predicates.findIndex((p) => p(record.key, record.value));
        if (index >= 0) ctx.forward(record, children[index]);
      },
    };
  };
}
