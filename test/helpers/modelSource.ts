import type { ModelSource, ServedModel } from '../../topologies/images/modelSource.js';
import { smallCnn } from '../../topologies/images/models.js';

/**
 * A ModelSource for tests: champions set by hand, listeners told as the registry's source
 * would tell them. Not the registry, Kafka or a database: the models are real tfjs models.
 */
export class TestModelSource implements ModelSource {
  private readonly champions = new Map<string, ServedModel>();
  private readonly listeners = new Set<(name: string, served: ServedModel | null) => void>();

  champion(name: string): ServedModel | null {
    return this.champions.get(name) ?? null;
  }

  onChange(listener: (name: string, served: ServedModel | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  promote(served: ServedModel): void {
    this.champions.set(served.name, served);
    for (const l of this.listeners) l(served.name, served);
  }

  withdraw(name: string): void {
    this.champions.delete(name);
    for (const l of this.listeners) l(name, null);
  }
}

/** A small CNN served as `name` v`version`: input [size, size, 3], softmax over `labels`. */
export function servedCnn(
  name: string,
  version: number,
  opts: { size?: number; labels?: string[]; seed?: number; featureSet?: string } = {},
): ServedModel {
  const size = opts.size ?? 16;
  const classLabels = opts.labels ?? ['cat', 'dog', 'fox'];
  return {
    name,
    version,
    model: smallCnn({
      inputSize: size,
      classes: classLabels.length,
      seed: opts.seed ?? version,
      filters: [4, 8],
    }),
    classLabels,
    featureSet: opts.featureSet ?? `image-${size}x${size}-rgb`,
    inputShape: [size, size, 3],
  };
}
