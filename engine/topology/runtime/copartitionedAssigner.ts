import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/** What a member reports when it joins: the partition units it runs now, active and standby. */
export interface MemberTasks {
  active: number[];
  standby: number[];
}

/** One member's share of an assignment: whole partition units, active and standby. */
export interface UnitAssignment {
  active: number[];
  standby: number[];
}

/**
 * Places partition units (partition p of every subscribed topic: a task of each sub-topology)
 * on members, as Kafka Streams' assignor does in spirit:
 * - an active unit stays with its previous owner, else moves to a member holding a standby of
 *   it (warm state), else to the least loaded member; no member gets more than its fair share;
 * - each unit gets up to `standbys` standby replicas on other members, previous holders first.
 * Members and units are visited in a fixed order, so the result depends only on the inputs.
 */
export function assignUnits(
  members: { memberId: string; tasks: MemberTasks }[],
  units: number[],
  standbys: number,
): Map<string, UnitAssignment> {
  const ids = members.map((m) => m.memberId).sort();
  const out = new Map(ids.map((id) => [id, { active: [] as number[], standby: [] as number[] }]));
  if (ids.length === 0) return out;
  const prevActive = new Map<number, string>();
  const prevStandby = new Map<number, string[]>();
  for (const m of [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1))) {
    for (const u of m.tasks.active) if (!prevActive.has(u)) prevActive.set(u, m.memberId);
    for (const u of m.tasks.standby) prevStandby.set(u, [...(prevStandby.get(u) ?? []), m.memberId]);
  }
  const sortedUnits = [...new Set(units)].sort((a, b) => a - b);
  const cap = Math.ceil(sortedUnits.length / ids.length);
  const owner = new Map<number, string>();
  const take = (u: number, id: string | undefined) => {
    if (id === undefined || owner.has(u) || out.get(id)!.active.length >= cap) return false;
    owner.set(u, id);
    out.get(id)!.active.push(u);
    return true;
  };
  for (const u of sortedUnits) take(u, prevActive.get(u));
  for (const u of sortedUnits) for (const id of prevStandby.get(u) ?? []) if (take(u, id)) break;
  const leastLoaded = (exclude: (id: string) => boolean, load: (id: string) => number) =>
    ids.filter((id) => !exclude(id)).sort((a, b) => load(a) - load(b) || (a < b ? -1 : 1))[0];
  for (const u of sortedUnits) {
    if (!owner.has(u))
      take(
        u,
        leastLoaded(
          () => false,
          (id) => out.get(id)!.active.length,
        ),
      );
  }
  for (let r = 0; r < Math.min(standbys, ids.length - 1); r++) {
    for (const u of sortedUnits) {
      const holds = (id: string) => owner.get(u) === id || out.get(id)!.standby.includes(u);
      const previous = (prevStandby.get(u) ?? []).concat(prevActive.get(u) ?? []);
      const id =
        previous.find((p) => out.has(p) && !holds(p)) ??
        leastLoaded(holds, (m) => out.get(m)!.standby.length + out.get(m)!.active.length);
      if (id !== undefined) out.get(id)!.standby.push(u);
    }
  }
  for (const a of out.values()) {
    a.active.sort((x, y) => x - y);
    a.standby.sort((x, y) => x - y);
  }
  return out;
}

const NONE: MemberTasks = { active: [], standby: [] };

function decodeTasks(userData: Buffer | undefined): MemberTasks {
  if (!userData || userData.length === 0) return NONE;
  try {
    const parsed = JSON.parse(userData.toString('utf8')) as Partial<MemberTasks>;
    const ints = (v: unknown) => (Array.isArray(v) ? v.filter((x) => Number.isInteger(x)) : []);
    return { active: ints(parsed.active), standby: ints(parsed.standby) };
  } catch {
    return NONE;
  }
}

/** The standby units a member was given, from its assignment's user data. */
export function decodeStandbyUnits(memberAssignment: Buffer): number[] {
  const decoded = AssignerProtocol.MemberAssignment.decode(memberAssignment);
  return decodeTasks(decoded?.userData).standby;
}

/**
 * The application's partition assigner: whole partition units (so co-partitioned inputs of a
 * join and a sub-topology's repartition topic meet in one task), placed by `assignUnits`.
 * Members report their current tasks in their subscription's user data; the leader hands each
 * member its standby units in the assignment's user data (kafkajs does not surface it, so
 * members read it back with DescribeGroups).
 */
export function copartitionedAssigner(options: {
  standbys: number;
  current: () => MemberTasks;
}): PartitionAssigner {
  return ({ cluster }) => ({
    name: 'SluiceCopartitioned',
    version: 1,
    async assign({ members, topics }) {
      const decoded = members.map((m) => ({
        memberId: m.memberId,
        tasks: decodeTasks(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData),
      }));
      const partitionsOf = new Map(
        topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId)]),
      );
      const units = [...new Set([...partitionsOf.values()].flat())];
      const placed = assignUnits(decoded, units, options.standbys);
      return [...placed].map(([memberId, a]) => {
        const assignment: Record<string, number[]> = {};
        for (const [topic, partitions] of partitionsOf) {
          const mine = partitions.filter((p) => a.active.includes(p)).sort((x, y) => x - y);
          if (mine.length > 0) assignment[topic] = mine;
        }
        return {
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment,
            userData: Buffer.from(JSON.stringify({ active: a.active, standby: a.standby })),
          }),
        };
      });
    },
    protocol({ topics }) {
      return {
        name: 'SluiceCopartitioned',
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.from(JSON.stringify(options.current())),
        }),
      };
    },
  });
}
