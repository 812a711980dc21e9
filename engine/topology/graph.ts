import type { StoreSpec } from '../state/types.js';
import type { Processor, Serde, StreamRecord } from './contracts.js';

/*
 * The untyped node graph the DSL builds and a Topology compiles. Typed end to end at the DSL;
 * here every node is `unknown` in and out.
 */

export type AnyProcessor = Processor<unknown, unknown, unknown, unknown>;
export type TimestampExtractor = (record: StreamRecord<unknown, unknown>) => number;

interface NodeBase {
  name: string;
  /** Creation order; parents are always created before their children. */
  id: number;
  children: string[];
  parents: string[];
  /** The builder the node belongs to (mixing builders is an error). */
  owner: object;
}

export interface SourceNode extends NodeBase {
  kind: 'source';
  /** As named in the DSL; internal (repartition) topics get the application id prefix at run time. */
  topic: string;
  internal: boolean;
  key: Serde<unknown>;
  value: Serde<unknown>;
  timestampExtractor?: TimestampExtractor;
  /** A table source: null value bytes are tombstones and never reach the value serde. */
  tombstones: boolean;
}

export interface ProcessorNode extends NodeBase {
  kind: 'processor';
  supplier: () => AnyProcessor;
  stores: string[];
}

export interface SinkNode extends NodeBase {
  kind: 'sink';
  topic: string;
  internal: boolean;
  key: Serde<unknown>;
  value: Serde<unknown>;
}

export type GraphNode = SourceNode | ProcessorNode | SinkNode;

/** A join: the nodes feeding it, whose source topics must be co-partitioned. */
export interface JoinRecord {
  node: string;
  inputs: string[];
}

type NewSource = Omit<SourceNode, 'kind' | 'id' | 'children' | 'parents' | 'owner'>;
type NewSink = Omit<SinkNode, 'kind' | 'id' | 'children' | 'parents' | 'owner'>;

export class TopologyGraph {
  readonly nodes = new Map<string, GraphNode>();
  readonly stores = new Map<string, StoreSpec>();
  readonly joins: JoinRecord[] = [];
  /** Problems found while building; `build()` refuses a graph that has any. */
  readonly issues: string[] = [];
  private counter = 0;
  private nextId = 0;
  private readonly storeOwners = new Map<string, string>();

  constructor(readonly owner: object) {}

  /** A Kafka-style generated name (`KSTREAM-FILTER-0000000003`), or the caller's. */
  newName(prefix: string, given?: string): string {
    const index = this.counter++;
    return given ?? `${prefix}-${String(index).padStart(10, '0')}`;
  }

  private add(node: GraphNode): void {
    node.id = this.nextId++;
    if (this.nodes.has(node.name)) {
      this.issues.push(`duplicate node name '${node.name}'`);
      node.name = `${node.name}#${node.id}`;
    }
    this.nodes.set(node.name, node);
    for (const parent of node.parents) this.node(parent).children.push(node.name);
  }

  node(name: string): GraphNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node named ${name}`);
    return node;
  }

  addSource(source: NewSource): string {
    for (const n of this.nodes.values()) {
      if (n.kind === 'source' && n.topic === source.topic && n.internal === source.internal) {
        this.issues.push(
          source.internal
            ? `duplicate repartition topic '${source.topic}': each repartition needs its own name`
            : `topic '${source.topic}' is already consumed by ${n.name}: read it once and reuse the stream or table`,
        );
      }
    }
    const node: SourceNode = {
      ...source,
      kind: 'source',
      id: -1,
      children: [],
      parents: [],
      owner: this.owner,
    };
    this.add(node);
    return node.name;
  }

  addProcessor(
    name: string,
    supplier: () => AnyProcessor,
    parents: string[],
    stores: readonly string[] = [],
  ): string {
    const node: ProcessorNode = {
      kind: 'processor',
      name,
      id: -1,
      supplier,
      stores: [...new Set(stores)],
      children: [],
      parents,
      owner: this.owner,
    };
    this.add(node);
    return node.name;
  }

  addSink(sink: NewSink, parent: string): string {
    const node: SinkNode = {
      ...sink,
      kind: 'sink',
      id: -1,
      children: [],
      parents: [parent],
      owner: this.owner,
    };
    this.add(node);
    return node.name;
  }

  /** The serde, or an issue saying who needs it (and a stand-in so building can go on). */
  requireSerde<T>(serde: Serde<T> | undefined, what: string, where: string): Serde<T> {
    if (serde) return serde;
    this.issues.push(`${where} needs a ${what} serde: upstream does not know it, pass { ${what} }`);
    return { serialize: () => null, deserialize: () => null as T };
  }

  /** Declares a store created by `node`; names are global to the topology. */
  declareStore(spec: StoreSpec, node: string): void {
    const owner = this.storeOwners.get(spec.name);
    if (owner !== undefined) {
      this.issues.push(`duplicate store name '${spec.name}' (declared by ${owner} and ${node})`);
      return;
    }
    this.storeOwners.set(spec.name, node);
    this.stores.set(spec.name, spec);
  }
}
