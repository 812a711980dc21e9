import type { StoreSpec } from '../state/types.js';
import type { StoreHandle, SubtopologyDescription } from './contracts.js';
import { TopologyError } from './errors.js';
import type { GraphNode, TopologyGraph } from './graph.js';

/** Union-find over node names. */
class Groups {
  private readonly parent = new Map<string, string>();

  find(x: string): string {
    let root = x;
    while (this.parent.has(root) && this.parent.get(root) !== root) root = this.parent.get(root)!;
    this.parent.set(x, root);
    return root;
  }

  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
  }
}

function copyNode(n: GraphNode): GraphNode {
  const copy = { ...n, children: [...n.children], parents: [...n.parents] };
  if (copy.kind === 'processor') copy.stores = [...copy.stores];
  return copy;
}

/**
 * A compiled topology. Sub-topologies are the connected groups of nodes, where nodes are
 * connected by edges and by sharing a store (as in Kafka Streams: a processor reading a
 * table's store runs in the table's task). Repartition topics cut the graph: their sink ends
 * one sub-topology and their source starts another. Ids follow the first node of each group.
 */
export class Topology {
  readonly subtopologies: SubtopologyDescription[];
  private readonly nodes: GraphNode[];
  private readonly byName: Map<string, GraphNode>;
  private readonly subtopologyOfNode = new Map<string, number>();
  private readonly stores: Map<string, StoreSpec>;

  /** @internal Use StreamsBuilder.build(). */
  constructor(graph: TopologyGraph) {
    this.nodes = [...graph.nodes.values()].map(copyNode).sort((a, b) => a.id - b.id);
    this.byName = new Map(this.nodes.map((n) => [n.name, n]));
    this.stores = new Map(graph.stores);
    const issues = [...graph.issues];

    if (!this.nodes.some((n) => n.kind === 'source'))
      issues.push('the topology has no source: read a topic with stream() or table()');
    for (const n of this.nodes) {
      if (n.kind !== 'processor') continue;
      for (const s of n.stores) {
        if (!this.stores.has(s)) issues.push(`${n.name} uses store '${s}', which no operator declares`);
      }
    }

    const groups = new Groups();
    const users = new Map<string, string[]>();
    for (const n of this.nodes) {
      groups.find(n.name);
      for (const p of n.parents) groups.union(p, n.name);
      if (n.kind === 'processor') for (const s of n.stores) users.set(s, [...(users.get(s) ?? []), n.name]);
    }
    for (const names of users.values()) for (const other of names.slice(1)) groups.union(names[0]!, other);

    const ids = new Map<string, number>();
    for (const n of this.nodes) {
      const root = groups.find(n.name);
      if (!ids.has(root)) ids.set(root, ids.size);
      this.subtopologyOfNode.set(n.name, ids.get(root)!);
    }

    for (const j of graph.joins) {
      const at = this.subtopologyOfNode.get(j.node);
      const apart = j.inputs.filter((i) => this.subtopologyOfNode.get(i) !== at);
      if (apart.length > 0) {
        issues.push(
          `join ${j.node}: inputs ${j.inputs.join(', ')} are in different sub-topologies; join co-partitioned streams`,
        );
      }
    }
    if (issues.length > 0) throw new TopologyError(issues);

    this.subtopologies = [...ids.values()].map((id) => this.describeSubtopology(id, graph));
  }

  private describeSubtopology(id: number, graph: TopologyGraph): SubtopologyDescription {
    const nodes = this.nodesOf(id);
    const topics = (kind: 'source' | 'sink') => {
      const seen = new Map<string, { topic: string; internal: boolean }>();
      for (const n of nodes) {
        if (n.kind === kind) seen.set(`${n.internal}:${n.topic}`, { topic: n.topic, internal: n.internal });
      }
      return [...seen.values()];
    };
    const storeNames = [...new Set(nodes.flatMap((n) => (n.kind === 'processor' ? n.stores : [])))];
    const stores: StoreHandle[] = storeNames.map((name) => ({
      spec: { ...this.stores.get(name)! },
      changelogTopic: `${name}-changelog`,
    }));
    const copartitionGroups: string[][] = [];
    for (const j of graph.joins) {
      if (this.subtopologyOfNode.get(j.node) !== id) continue;
      const group = new Set(j.inputs.flatMap((i) => this.upstreamTopics(i)));
      const overlapping = copartitionGroups.filter((g) => g.some((t) => group.has(t)));
      for (const g of overlapping) {
        for (const t of g) group.add(t);
        copartitionGroups.splice(copartitionGroups.indexOf(g), 1);
      }
      if (group.size > 1) copartitionGroups.push([...group]);
    }
    return { id, sources: topics('source'), sinks: topics('sink'), stores, copartitionGroups };
  }

  /** DSL names of the source topics feeding a node. */
  private upstreamTopics(name: string): string[] {
    const out = new Set<string>();
    const walk = (n: GraphNode) => {
      if (n.kind === 'source') out.add(n.topic);
      for (const p of n.parents) walk(this.byName.get(p)!);
    };
    walk(this.byName.get(name)!);
    return [...out];
  }

  /** Full name of an internal topic: `<applicationId>-<name>` (`<app>-<x>-repartition`, `<app>-<store>-changelog`). */
  internalTopicName(applicationId: string, name: string): string {
    return `${applicationId}-${name}`;
  }

  /** The nodes of a sub-topology, parents before children. */
  nodesOf(subtopology: number): GraphNode[] {
    return this.nodes.filter((n) => this.subtopologyOfNode.get(n.name) === subtopology);
  }

  node(name: string): GraphNode | undefined {
    return this.byName.get(name);
  }

  storeSpec(name: string): StoreSpec | undefined {
    return this.stores.get(name);
  }

  /** The sub-topology whose tasks own a store. */
  subtopologyOfStore(name: string): number | undefined {
    return this.subtopologies.find((s) => s.stores.some((h) => h.spec.name === name))?.id;
  }

  /** Kafka Streams style description: sub-topologies with their nodes, then internal topics. */
  describe(): string {
    const lines = ['Topologies:'];
    for (const sub of this.subtopologies) {
      lines.push(`   Sub-topology: ${sub.id}`);
      for (const n of this.nodesOf(sub.id)) {
        if (n.kind === 'source') lines.push(`    Source: ${n.name} (topics: [${n.topic}])`);
        else if (n.kind === 'processor')
          lines.push(`    Processor: ${n.name} (stores: [${n.stores.join(', ')}])`);
        else lines.push(`    Sink: ${n.name} (topic: ${n.topic})`);
        if (n.kind !== 'sink')
          lines.push(`      --> ${n.children.length > 0 ? n.children.join(', ') : 'none'}`);
        if (n.parents.length > 0) lines.push(`      <-- ${n.parents.join(', ')}`);
      }
      lines.push('');
    }
    const internal = [
      ...new Set(this.subtopologies.flatMap((s) => s.sinks.filter((t) => t.internal).map((t) => t.topic))),
    ].map((t) => `   ${t} (repartition)`);
    for (const s of this.subtopologies) {
      for (const h of s.stores)
        if (h.spec.changelog) internal.push(`   ${h.changelogTopic} (changelog of store ${h.spec.name})`);
    }
    if (internal.length > 0) lines.push('Internal topics:', ...internal, '');
    return lines.join('\n');
  }
}
