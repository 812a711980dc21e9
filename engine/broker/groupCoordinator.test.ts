import assert from 'node:assert/strict';
import { after, afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode } from '../protocol/errorCodes.js';
import {
  type CommittedOffset,
  GroupCoordinator,
  type GroupCoordinatorOptions,
  type JoinParams,
  type JoinResult,
  type OffsetStore,
} from './groupCoordinator.js';

/** Records persisted batches; `hold()` makes the next persist calls wait for `release()`. */
class MemoryStore implements OffsetStore {
  readonly calls: CommittedOffset[][] = [];
  readonly persisted: CommittedOffset[][] = [];
  private readonly gates: (() => void)[] = [];
  holding = false;
  failing = false;

  async persist(entries: CommittedOffset[]): Promise<void> {
    this.calls.push(entries);
    if (this.holding) await new Promise<void>((resolve) => this.gates.push(resolve));
    if (this.failing) throw new Error('disk full');
    this.persisted.push(entries);
  }

  /** Lets the persist call with index `i` (in call order among the held ones) complete. */
  release(i: number): void {
    this.gates[i]();
  }
}

const open: GroupCoordinator[] = [];
afterEach(() => {
  for (const gc of open.splice(0)) gc.close();
});
// The coordinator's timers are unref'd: keep the event loop alive while tests await them.
const keepAlive = setInterval(() => {}, 1000);
after(() => clearInterval(keepAlive));

function coordinator(options: Partial<GroupCoordinatorOptions> = {}) {
  const store = new MemoryStore();
  const gc = new GroupCoordinator({
    store,
    initialRebalanceDelayMs: 0,
    minSessionTimeoutMs: 100,
    maxSessionTimeoutMs: 10_000,
    now: () => 1_700_000_000_000,
    ...options,
  });
  open.push(gc);
  return { gc, store };
}

const buf = (s: string) => Buffer.from(s);
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

function params(clientId: string, memberId = '', extra: Partial<JoinParams> = {}): JoinParams {
  return {
    groupId: 'g',
    sessionTimeoutMs: 300,
    rebalanceTimeoutMs: 1000,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: buf(`sub-${clientId}`) }],
    clientId,
    clientHost: `/10.0.0.${clientId.length}`,
    requireKnownMemberId: false,
    ...extra,
  };
}

/** Joins `clients` together (JoinGroup v0-3 style) and returns their join results in order. */
function joinAll(
  gc: GroupCoordinator,
  clients: string[],
  extra: Partial<JoinParams> = {},
): Promise<JoinResult[]> {
  return Promise.all(clients.map((c) => gc.join(params(c, '', extra))));
}

/** Syncs every member; the leader assigns `assign-<clientId>` to everyone. */
async function syncAll(gc: GroupCoordinator, joins: JoinResult[], clients: string[]): Promise<void> {
  const assignments = joins.map((j, i) => ({
    memberId: j.memberId,
    assignment: buf(`assign-${clients[i]}`),
  }));
  const results = await Promise.all(
    joins.map((j) =>
      gc.sync({
        groupId: 'g',
        generationId: j.generationId,
        memberId: j.memberId,
        groupInstanceId: null,
        assignments: j.leader === j.memberId ? assignments : [],
      }),
    ),
  );
  for (const r of results) assert.equal(r.errorCode, ErrorCode.NONE);
}

const heartbeat = (gc: GroupCoordinator, memberId: string, generationId: number, groupInstanceId = null) =>
  gc.heartbeat({ groupId: 'g', generationId, memberId, groupInstanceId }).errorCode;

const state = (gc: GroupCoordinator, groupId = 'g') => gc.describeGroups([groupId])[0].state;
const memberIds = (gc: GroupCoordinator) => gc.describeGroups(['g'])[0].members.map((m) => m.memberId);

test('MEMBER_ID_REQUIRED handshake, then the member joins with the given id', async () => {
  const { gc } = coordinator();
  const first = await gc.join(params('client-a', '', { requireKnownMemberId: true }));
  assert.match(first.memberId, new RegExp(`^client-a-${UUID}$`));
  assert.deepEqual(first, {
    errorCode: ErrorCode.MEMBER_ID_REQUIRED,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: '',
    memberId: first.memberId,
    members: [],
  });
  assert.equal(state(gc), 'Empty');
  const id = first.memberId;
  const joined = await gc.join(params('client-a', id, { requireKnownMemberId: true }));
  assert.deepEqual(joined, {
    errorCode: ErrorCode.NONE,
    generationId: 1,
    protocolType: 'consumer',
    protocolName: 'range',
    leader: id,
    memberId: id,
    members: [{ memberId: id, groupInstanceId: null, metadata: buf('sub-client-a') }],
  });
  assert.equal(state(gc), 'CompletingRebalance');
});

test('JoinGroup validation errors', async () => {
  const { gc } = coordinator();
  const code = async (p: JoinParams) => {
    const r = await gc.join(p);
    assert.equal(r.generationId, -1);
    assert.equal(r.memberId, p.memberId);
    return r.errorCode;
  };
  assert.equal(await code(params('a', '', { groupId: '' })), ErrorCode.INVALID_GROUP_ID);
  assert.equal(await code(params('a', '', { sessionTimeoutMs: 99 })), ErrorCode.INVALID_SESSION_TIMEOUT);
  assert.equal(await code(params('a', '', { sessionTimeoutMs: 10_001 })), ErrorCode.INVALID_SESSION_TIMEOUT);
  assert.equal(await code(params('a', 'a-ghost', { groupId: 'nope' })), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(await code(params('a', '', { protocols: [] })), ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  assert.equal(await code(params('a', '', { protocolType: '' })), ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const [a] = await joinAll(gc, ['a']);
  assert.equal(a.errorCode, ErrorCode.NONE);
  assert.equal(await code(params('a', 'a-ghost')), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(
    await code(params('b', '', { protocolType: 'connect' })),
    ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
  );
  const roundrobin = [{ name: 'roundrobin', metadata: buf('x') }];
  assert.equal(await code(params('b', '', { protocols: roundrobin })), ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
});

test('three members rebalance into one generation and SyncGroup distributes the assignments', async () => {
  const { gc } = coordinator();
  const clients = ['a', 'bb', 'ccc'];
  const v4 = { requireKnownMemberId: true };
  const ids = (await Promise.all(clients.map((c) => gc.join(params(c, '', v4))))).map((r) => r.memberId);
  const joins = await Promise.all(clients.map((c, i) => gc.join(params(c, ids[i], v4))));
  assert.deepEqual(
    joins.map((j) => [j.errorCode, j.generationId, j.leader, j.memberId, j.protocolName]),
    ids.map((id) => [ErrorCode.NONE, 1, ids[0], id, 'range']),
  );
  assert.deepEqual(joins[0].members, [
    { memberId: ids[0], groupInstanceId: null, metadata: buf('sub-a') },
    { memberId: ids[1], groupInstanceId: null, metadata: buf('sub-bb') },
    { memberId: ids[2], groupInstanceId: null, metadata: buf('sub-ccc') },
  ]);
  assert.deepEqual(joins[1].members, []);
  assert.deepEqual(joins[2].members, []);

  const sync = (i: number, assignments: { memberId: string; assignment: Buffer }[]) =>
    gc.sync({ groupId: 'g', generationId: 1, memberId: ids[i], groupInstanceId: null, assignments });
  let followersDone = false;
  const followers = Promise.all([sync(1, []), sync(2, [])]).then((r) => {
    followersDone = true;
    return r;
  });
  await sleep(20);
  assert.equal(followersDone, false);
  assert.equal(state(gc), 'CompletingRebalance');
  // The leader assigns nothing to the third member: it gets an empty assignment.
  const leader = await sync(0, [
    { memberId: ids[0], assignment: buf('A') },
    { memberId: ids[1], assignment: buf('B') },
  ]);
  const ok = (assignment: Buffer) => ({
    errorCode: 0,
    protocolType: 'consumer',
    protocolName: 'range',
    assignment,
  });
  assert.deepEqual(leader, ok(buf('A')));
  assert.deepEqual(await followers, [ok(buf('B')), ok(Buffer.alloc(0))]);
  assert.deepEqual(gc.describeGroups(['g']), [
    {
      errorCode: 0,
      groupId: 'g',
      state: 'Stable',
      protocolType: 'consumer',
      protocol: 'range',
      members: clients.map((c, i) => ({
        memberId: ids[i],
        groupInstanceId: null,
        clientId: c,
        clientHost: `/10.0.0.${c.length}`,
        metadata: buf(`sub-${c}`),
        assignment: [buf('A'), buf('B'), Buffer.alloc(0)][i],
      })),
    },
  ]);
  // A repeated SyncGroup in Stable returns the member's assignment again.
  assert.deepEqual(await sync(1, []), ok(buf('B')));
});

test('a fourth member makes heartbeats answer REBALANCE_IN_PROGRESS until all four rejoin', async () => {
  const { gc } = coordinator();
  const clients = ['a', 'b', 'c'];
  const joins = await joinAll(gc, clients);
  await syncAll(gc, joins, clients);
  const ids = joins.map((j) => j.memberId);
  assert.equal(heartbeat(gc, ids[1], 1), ErrorCode.NONE);

  const fourth = gc.join(params('d'));
  assert.equal(state(gc), 'PreparingRebalance');
  for (const id of ids) assert.equal(heartbeat(gc, id, 1), ErrorCode.REBALANCE_IN_PROGRESS);
  const rejoined = await Promise.all([...clients.map((c, i) => gc.join(params(c, ids[i]))), fourth]);
  const all = rejoined.map((j) => j.memberId);
  assert.deepEqual(all.slice(0, 3), ids);
  assert.deepEqual(
    rejoined.map((j) => [j.errorCode, j.generationId, j.leader, j.members.length]),
    [
      [0, 2, ids[0], 4],
      [0, 2, ids[0], 0],
      [0, 2, ids[0], 0],
      [0, 2, ids[0], 0],
    ],
  );
  assert.deepEqual(
    rejoined[0].members.map((m) => m.memberId),
    all,
  );
  assert.equal(heartbeat(gc, ids[1], 2), ErrorCode.NONE);
});

test('LeaveGroup removes the member and triggers a rebalance', async () => {
  const { gc } = coordinator();
  const joins = await joinAll(gc, ['a', 'b']);
  await syncAll(gc, joins, ['a', 'b']);
  const [a, b] = joins.map((j) => j.memberId);
  assert.deepEqual(gc.leave({ groupId: 'g', memberId: b }), { errorCode: ErrorCode.NONE });
  assert.deepEqual(memberIds(gc), [a]);
  assert.equal(state(gc), 'PreparingRebalance');
  assert.equal(heartbeat(gc, a, 1), ErrorCode.REBALANCE_IN_PROGRESS);
  const rejoin = await gc.join(params('a', a));
  assert.deepEqual([rejoin.errorCode, rejoin.generationId, rejoin.leader], [0, 2, a]);
  assert.deepEqual(
    rejoin.members.map((m) => m.memberId),
    [a],
  );
  assert.deepEqual(gc.leave({ groupId: 'g', memberId: b }), { errorCode: ErrorCode.UNKNOWN_MEMBER_ID });
  assert.deepEqual(gc.leave({ groupId: 'nope', memberId: a }), { errorCode: ErrorCode.UNKNOWN_MEMBER_ID });
  assert.deepEqual(gc.leave({ groupId: '', memberId: a }), { errorCode: ErrorCode.INVALID_GROUP_ID });
});

test('a pending join completes when the member it waits for leaves', async () => {
  const { gc } = coordinator();
  const joins = await joinAll(gc, ['a', 'b']);
  await syncAll(gc, joins, ['a', 'b']);
  const [a, b] = joins.map((j) => j.memberId);
  const pending = gc.join(params('a', a)); // the leader rejoining forces a rebalance
  await sleep(10);
  assert.equal(state(gc), 'PreparingRebalance');
  const started = performance.now();
  assert.deepEqual(gc.leave({ groupId: 'g', memberId: b }), { errorCode: 0 });
  const r = await pending;
  assert.ok(performance.now() - started < 100, 'completed at once, not at the rebalance timeout');
  assert.deepEqual([r.errorCode, r.generationId, r.leader, r.memberId], [0, 2, a, a]);
  assert.deepEqual(
    r.members.map((m) => m.memberId),
    [a],
  );
});

test('a member whose session expires is removed; the last one leaves the group Empty', async () => {
  const { gc } = coordinator();
  const joins = await joinAll(gc, ['a', 'b']);
  await syncAll(gc, joins, ['a', 'b']);
  const [a, b] = joins.map((j) => j.memberId);
  for (let i = 0; i < 5; i++) {
    await sleep(100);
    heartbeat(gc, a, 1); // b stays silent (session 300 ms)
  }
  assert.deepEqual(memberIds(gc), [a]);
  assert.equal(state(gc), 'PreparingRebalance');
  assert.equal(heartbeat(gc, a, 1), ErrorCode.REBALANCE_IN_PROGRESS);
  assert.equal(heartbeat(gc, b, 1), ErrorCode.UNKNOWN_MEMBER_ID);
  const rejoin = await gc.join(params('a', a));
  assert.deepEqual([rejoin.errorCode, rejoin.generationId, rejoin.members.length], [0, 2, 1]);
  await syncAll(gc, [rejoin], ['a']);
  assert.equal(state(gc), 'Stable');
  await sleep(450);
  assert.deepEqual(gc.describeGroups(['g'])[0], {
    errorCode: 0,
    groupId: 'g',
    state: 'Empty',
    protocolType: 'consumer',
    protocol: '',
    members: [],
  });
  assert.equal(heartbeat(gc, a, 2), ErrorCode.UNKNOWN_MEMBER_ID);
});

test('the rebalance timeout evicts a member that never rejoins', async () => {
  const { gc } = coordinator();
  // a's session (300 ms) is shorter than the rebalance timeout: waiting in JoinGroup keeps it alive.
  const aTimeouts = { sessionTimeoutMs: 300, rebalanceTimeoutMs: 500 };
  const joins = await Promise.all([
    gc.join(params('a', '', aTimeouts)),
    gc.join(params('b', '', { sessionTimeoutMs: 5000, rebalanceTimeoutMs: 500 })),
  ]);
  await syncAll(gc, joins, ['a', 'b']);
  const [a, b] = joins.map((j) => j.memberId);
  const started = performance.now();
  const r = await gc.join(params('a', a, aTimeouts));
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 480 && elapsed < 1500, `completed after ${elapsed} ms`);
  assert.deepEqual([r.errorCode, r.generationId, r.leader], [0, 2, a]);
  assert.deepEqual(
    r.members.map((m) => m.memberId),
    [a],
  );
  assert.equal(heartbeat(gc, b, 1), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(heartbeat(gc, b, 2), ErrorCode.UNKNOWN_MEMBER_ID);
});

test('the protocol is chosen by the members’ votes among those all support', async () => {
  const { gc } = coordinator();
  const p = (...names: string[]) => names.map((name) => ({ name, metadata: buf(`${name}-meta`) }));
  const joins = await Promise.all([
    gc.join(params('a', '', { protocols: p('range', 'roundrobin') })),
    gc.join(params('b', '', { protocols: p('roundrobin', 'range') })),
    gc.join(params('c', '', { protocols: p('sticky', 'roundrobin', 'range') })), // sticky: not supported by all
  ]);
  assert.deepEqual(
    joins.map((j) => j.protocolName),
    ['roundrobin', 'roundrobin', 'roundrobin'],
  );
  assert.deepEqual(
    joins[0].members.map((m) => m.metadata),
    [buf('roundrobin-meta'), buf('roundrobin-meta'), buf('roundrobin-meta')],
  );
  const sticky = await gc.join(params('d', '', { protocols: p('sticky') }));
  assert.equal(sticky.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);

  // A tie goes to the protocol voted for first (by the earliest member).
  const { gc: tie } = coordinator();
  const tied = await Promise.all([
    tie.join(params('a', '', { protocols: p('range', 'roundrobin') })),
    tie.join(params('b', '', { protocols: p('roundrobin', 'range') })),
  ]);
  assert.deepEqual(
    tied.map((j) => j.protocolName),
    ['range', 'range'],
  );
});

test('ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and REBALANCE_IN_PROGRESS on SyncGroup and Heartbeat', async () => {
  const { gc } = coordinator();
  const joins = await joinAll(gc, ['a', 'b']);
  await syncAll(gc, joins, ['a', 'b']);
  const [a, b] = joins.map((j) => j.memberId);
  const sync = async (memberId: string, generationId: number, groupId = 'g') =>
    (await gc.sync({ groupId, generationId, memberId, groupInstanceId: null, assignments: [] })).errorCode;
  assert.equal(await sync(b, 2), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(await sync('b-ghost', 1), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(await sync(b, 1, 'nope'), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(await sync(b, 1, ''), ErrorCode.INVALID_GROUP_ID);
  assert.equal(heartbeat(gc, b, 0), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(heartbeat(gc, 'b-ghost', 1), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(
    gc.heartbeat({ groupId: 'nope', generationId: 1, memberId: b, groupInstanceId: null }).errorCode,
    25,
  );
  const rejoin = gc.join(params('a', a));
  assert.equal(await sync(b, 1), ErrorCode.REBALANCE_IN_PROGRESS);
  const commit = await gc.commitOffsets({
    groupId: 'g',
    generationId: 7,
    memberId: b,
    groupInstanceId: null,
    offsets: [{ topic: 't', partition: 0, offset: 1, metadata: null }],
  });
  assert.deepEqual(commit, [{ topic: 't', partition: 0, errorCode: ErrorCode.ILLEGAL_GENERATION }]);
  await gc.join(params('b', b));
  assert.equal((await rejoin).generationId, 2);
});

test('an offset commit is answered only after persist resolves, in commit order', async () => {
  const { gc, store } = coordinator();
  store.holding = true;
  const commit = (offsets: { topic: string; partition: number; offset: number; metadata: string | null }[]) =>
    gc.commitOffsets({ groupId: 'g', generationId: -1, memberId: '', groupInstanceId: null, offsets });
  let firstDone = false;
  const first = commit([
    { topic: 't0', partition: 1, offset: 20, metadata: null },
    { topic: 't0', partition: 0, offset: 10, metadata: 'm' },
    { topic: 't1', partition: 3, offset: 5, metadata: '' },
  ]).then((r) => {
    firstDone = true;
    return r;
  });
  const ts = 1_700_000_000_000;
  assert.deepEqual(store.calls, [
    [
      { groupId: 'g', topic: 't0', partition: 1, offset: 20, metadata: '', commitTimestamp: ts },
      { groupId: 'g', topic: 't0', partition: 0, offset: 10, metadata: 'm', commitTimestamp: ts },
      { groupId: 'g', topic: 't1', partition: 3, offset: 5, metadata: '', commitTimestamp: ts },
    ],
  ]);
  let secondDone = false;
  const second = commit([{ topic: 't0', partition: 0, offset: 11, metadata: 'later' }]).then((r) => {
    secondDone = true;
    return r;
  });
  store.release(1); // the later commit persists first but still waits for the earlier one
  await sleep(20);
  assert.deepEqual([firstDone, secondDone], [false, false]);
  assert.deepEqual(
    gc.fetchOffsets('g', [{ topic: 't0', partitions: [0] }]).topics[0].partitions[0].offset,
    -1,
  );
  store.release(0);
  assert.deepEqual(await first, [
    { topic: 't0', partition: 1, errorCode: 0 },
    { topic: 't0', partition: 0, errorCode: 0 },
    { topic: 't1', partition: 3, errorCode: 0 },
  ]);
  assert.deepEqual(await second, [{ topic: 't0', partition: 0, errorCode: 0 }]);

  assert.deepEqual(gc.fetchOffsets('g', null), {
    errorCode: 0,
    topics: [
      {
        topic: 't0',
        partitions: [
          { partition: 0, offset: 11, metadata: 'later', errorCode: 0 },
          { partition: 1, offset: 20, metadata: '', errorCode: 0 },
        ],
      },
      { topic: 't1', partitions: [{ partition: 3, offset: 5, metadata: '', errorCode: 0 }] },
    ],
  });
  assert.deepEqual(
    gc.fetchOffsets('g', [
      { topic: 't0', partitions: [1, 7] },
      { topic: 't9', partitions: [0] },
    ]),
    {
      errorCode: 0,
      topics: [
        {
          topic: 't0',
          partitions: [
            { partition: 1, offset: 20, metadata: '', errorCode: 0 },
            { partition: 7, offset: -1, metadata: '', errorCode: 0 },
          ],
        },
        { topic: 't9', partitions: [{ partition: 0, offset: -1, metadata: '', errorCode: 0 }] },
      ],
    },
  );
  assert.deepEqual(gc.fetchOffsets('unknown', null), { errorCode: 0, topics: [] });
});

test('oversized metadata and persist failures are reported per partition', async () => {
  const { gc, store } = coordinator();
  const offsets = [
    { topic: 't', partition: 0, offset: 1, metadata: 'x'.repeat(4097) },
    { topic: 't', partition: 1, offset: 2, metadata: 'x'.repeat(4096) },
  ];
  const base = { groupId: 'g', generationId: -1, memberId: '', groupInstanceId: null };
  assert.deepEqual(await gc.commitOffsets({ ...base, offsets }), [
    { topic: 't', partition: 0, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE },
    { topic: 't', partition: 1, errorCode: 0 },
  ]);
  assert.deepEqual(
    store.persisted.map((batch) => batch.map((e) => e.partition)),
    [[1]],
  );
  store.failing = true;
  assert.deepEqual(
    await gc.commitOffsets({ ...base, offsets: [{ topic: 't', partition: 1, offset: 9, metadata: '' }] }),
    [{ topic: 't', partition: 1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE }],
  );
  assert.equal(gc.fetchOffsets('g', [{ topic: 't', partitions: [1] }]).topics[0].partitions[0].offset, 2);
});

test('simple commits are allowed for an empty group and refused for a live one', async () => {
  const { gc } = coordinator();
  const offsets = [{ topic: 't', partition: 0, offset: 42, metadata: null }];
  const commit = (groupId: string, generationId: number, memberId: string) =>
    gc.commitOffsets({ groupId, generationId, memberId, groupInstanceId: null, offsets });
  const code = async (groupId: string, generationId: number, memberId: string) =>
    (await commit(groupId, generationId, memberId))[0].errorCode;

  assert.equal(await code('solo', -1, ''), ErrorCode.NONE);
  assert.equal(await code('other', 3, 'm'), ErrorCode.ILLEGAL_GENERATION);
  assert.deepEqual(gc.listGroups(), [{ groupId: 'solo', protocolType: '' }]);
  assert.deepEqual(gc.describeGroups(['solo', 'other']), [
    { errorCode: 0, groupId: 'solo', state: 'Empty', protocolType: '', protocol: '', members: [] },
    { errorCode: 0, groupId: 'other', state: 'Dead', protocolType: '', protocol: '', members: [] },
  ]);

  const joins = await joinAll(gc, ['a', 'b']);
  const [a, b] = joins.map((j) => j.memberId);
  assert.equal(await code('g', 1, a), ErrorCode.REBALANCE_IN_PROGRESS); // CompletingRebalance
  await syncAll(gc, joins, ['a', 'b']);
  assert.equal(await code('g', -1, ''), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(await code('g', -1, a), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(await code('g', 1, 'ghost'), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(await code('g', 1, a), ErrorCode.NONE);
  const rejoin = gc.join(params('a', a)); // PreparingRebalance: members may still commit (as in Kafka)
  assert.equal(await code('g', 1, b), ErrorCode.NONE);
  gc.leave({ groupId: 'g', memberId: b });
  await rejoin;
  gc.leave({ groupId: 'g', memberId: a });
  assert.equal(state(gc), 'Empty');
  // Offsets survive the group becoming Empty, which accepts simple commits again.
  assert.equal(gc.fetchOffsets('g', [{ topic: 't', partitions: [0] }]).topics[0].partitions[0].offset, 42);
  assert.equal(await code('g', -1, ''), ErrorCode.NONE);
  assert.deepEqual(gc.listGroups(), [
    { groupId: 'solo', protocolType: '' },
    { groupId: 'g', protocolType: 'consumer' },
  ]);
});

test('restoreOffsets applies entries in order, tombstones delete', () => {
  const { gc } = coordinator();
  const e = (groupId: string, topic: string, partition: number, offset: number | null, metadata = '') => ({
    groupId,
    topic,
    partition,
    offset,
    metadata,
    commitTimestamp: 1,
  });
  gc.restoreOffsets([
    e('g1', 't0', 0, 5),
    e('g1', 't0', 1, 7),
    e('g1', 't0', 0, 9, 'nine'),
    e('g1', 't0', 1, null),
    e('g2', 't1', 0, 3),
    e('g2', 't1', 0, null),
  ]);
  assert.deepEqual(gc.fetchOffsets('g1', null), {
    errorCode: 0,
    topics: [{ topic: 't0', partitions: [{ partition: 0, offset: 9, metadata: 'nine', errorCode: 0 }] }],
  });
  assert.deepEqual(gc.fetchOffsets('g2', null), { errorCode: 0, topics: [] });
  assert.deepEqual(gc.listGroups(), [{ groupId: 'g1', protocolType: '' }]);
  assert.equal(state(gc, 'g1'), 'Empty');
});

test('deleteTopicOffsets persists tombstones and forgets the offsets', async () => {
  const { gc, store } = coordinator();
  const commit = (groupId: string, topic: string, partition: number) =>
    gc.commitOffsets({
      groupId,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [{ topic, partition, offset: 1, metadata: null }],
    });
  await commit('g1', 'gone', 0);
  await commit('g1', 'kept', 0);
  await commit('g2', 'gone', 2);
  await gc.deleteTopicOffsets('gone');
  const ts = 1_700_000_000_000;
  assert.deepEqual(store.persisted.at(-1), [
    { groupId: 'g1', topic: 'gone', partition: 0, offset: null, metadata: '', commitTimestamp: ts },
    { groupId: 'g2', topic: 'gone', partition: 2, offset: null, metadata: '', commitTimestamp: ts },
  ]);
  assert.deepEqual(
    gc.fetchOffsets('g1', null).topics.map((t) => t.topic),
    ['kept'],
  );
  assert.deepEqual(gc.listGroups(), [{ groupId: 'g1', protocolType: '' }]);
  const callsBefore = store.calls.length;
  await gc.deleteTopicOffsets('gone');
  assert.equal(store.calls.length, callsBefore);
});

test('initialRebalanceDelayMs delays the first generation, extended while members arrive', async () => {
  const { gc } = coordinator({ initialRebalanceDelayMs: 200 });
  const started = performance.now();
  const a = gc.join(params('a'));
  await sleep(100);
  const b = gc.join(params('b'));
  await sleep(150); // 250 ms: the first delay expired but b arrived during it, so it was extended
  assert.equal(state(gc), 'PreparingRebalance');
  const [ra, rb] = await Promise.all([a, b]);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 380 && elapsed < 900, `completed after ${elapsed} ms`);
  assert.deepEqual([ra.generationId, rb.generationId, ra.members.length, ra.leader], [1, 1, 2, ra.memberId]);
});

test('a static member rejoining with an unknown member id replaces the old id without a rebalance', async () => {
  const { gc } = coordinator();
  const v5 = { requireKnownMemberId: true, groupInstanceId: 'inst-a' };
  const joins = await Promise.all([gc.join(params('a', '', v5)), gc.join(params('b'))]);
  const [oldA, b] = joins.map((j) => j.memberId);
  assert.match(oldA, new RegExp(`^inst-a-${UUID}$`));
  assert.deepEqual(joins[0].members[0], {
    memberId: oldA,
    groupInstanceId: 'inst-a',
    metadata: buf('sub-a'),
  });
  await syncAll(gc, joins, ['a', 'b']);

  const replaced = await gc.join(params('a', '', v5));
  const newA = replaced.memberId;
  assert.match(newA, new RegExp(`^inst-a-${UUID}$`));
  assert.notEqual(newA, oldA);
  assert.deepEqual(replaced, {
    errorCode: 0,
    generationId: 1,
    protocolType: 'consumer',
    protocolName: 'range',
    leader: oldA,
    memberId: newA,
    members: [],
  });
  assert.equal(state(gc), 'Stable');
  assert.deepEqual(memberIds(gc), [b, newA]);
  const hb = (memberId: string, instance: string | null) =>
    gc.heartbeat({ groupId: 'g', generationId: 1, memberId, groupInstanceId: instance }).errorCode;
  assert.equal(hb(oldA, 'inst-a'), ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(hb(oldA, null), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(hb(newA, 'inst-a'), ErrorCode.NONE);
  const sync = await gc.sync({
    groupId: 'g',
    generationId: 1,
    memberId: newA,
    groupInstanceId: 'inst-a',
    assignments: [],
  });
  assert.deepEqual(sync.assignment, buf('assign-a'));

  // Changed metadata does rebalance.
  const changed = gc.join(
    params('a', '', { ...v5, protocols: [{ name: 'range', metadata: buf('new-sub') }] }),
  );
  assert.equal(state(gc), 'PreparingRebalance');
  assert.equal(hb(newA, 'inst-a'), ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(hb(b, null), ErrorCode.REBALANCE_IN_PROGRESS);
  const [ra, rb] = await Promise.all([changed, gc.join(params('b', b))]);
  assert.deepEqual([ra.generationId, rb.generationId, ra.leader, ra.members.length], [2, 2, ra.memberId, 2]);
});

test('close() answers pending joins and syncs with COORDINATOR_NOT_AVAILABLE', async () => {
  const { gc } = coordinator({ initialRebalanceDelayMs: 5000 });
  const pendingJoin = gc.join(params('a'));
  const { gc: other } = coordinator();
  const joins = await Promise.all([other.join(params('a')), other.join(params('b'))]);
  const follower = joins[1];
  const pendingSync = other.sync({
    groupId: 'g',
    generationId: 1,
    memberId: follower.memberId,
    groupInstanceId: null,
    assignments: [],
  });
  gc.close();
  other.close();
  const join = await pendingJoin;
  assert.deepEqual([join.errorCode, join.generationId], [ErrorCode.COORDINATOR_NOT_AVAILABLE, -1]);
  assert.deepEqual(await pendingSync, {
    errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    protocolType: null,
    protocolName: null,
    assignment: Buffer.alloc(0),
  });
  assert.equal((await gc.join(params('c'))).errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
  assert.equal(heartbeat(other, follower.memberId, 1), ErrorCode.COORDINATOR_NOT_AVAILABLE);
  const offsets = [{ topic: 't', partition: 0, offset: 1, metadata: null }];
  const commit = await gc.commitOffsets({
    groupId: 'g',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    offsets,
  });
  assert.deepEqual(commit, [{ topic: 't', partition: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE }]);
});

test('a leader that never sends SyncGroup is removed after the rebalance timeout', async () => {
  const { gc } = coordinator();
  const slow = { sessionTimeoutMs: 5000, rebalanceTimeoutMs: 200 };
  const joins = await joinAll(gc, ['a', 'b'], slow);
  const [a, b] = joins.map((j) => j.memberId);
  assert.equal(joins[0].leader, a);
  const waiting = await gc.sync({
    groupId: 'g',
    generationId: 1,
    memberId: b,
    groupInstanceId: null,
    assignments: [],
  });
  assert.deepEqual(waiting, {
    errorCode: ErrorCode.REBALANCE_IN_PROGRESS,
    protocolType: null,
    protocolName: null,
    assignment: Buffer.alloc(0),
  });
  assert.deepEqual(memberIds(gc), [b]);
  assert.equal(state(gc), 'PreparingRebalance');
  const rejoin = await gc.join(params('b', b, slow));
  assert.deepEqual([rejoin.generationId, rejoin.leader, rejoin.members.length], [2, b, 1]);
});
