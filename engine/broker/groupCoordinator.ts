/**
 * Kafka's classic consumer group coordinator (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, offset
 * commit/fetch, DescribeGroups, ListGroups), independent of the transport. Semantics follow
 * Kafka's GroupCoordinator/GroupMetadata (and the newer ClassicGroup): the state machine
 * Empty → PreparingRebalance → CompletingRebalance → Stable, delayed joins bounded by the
 * rebalance timeout, an initial rebalance delay for groups that were Empty, session expiry,
 * pending-sync expiry and static membership.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../protocol/errorCodes.js';

export interface CommittedOffset {
  groupId: string;
  topic: string;
  partition: number;
  offset: number | null /* null = tombstone */;
  metadata: string;
  commitTimestamp: number;
  /** Set on an offset committed inside a transaction, pending until the transaction ends. */
  producerId?: number;
}
export interface OffsetStore {
  persist(entries: CommittedOffset[]): Promise<void>;
}
export interface GroupCoordinatorOptions {
  store: OffsetStore;
  initialRebalanceDelayMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  now?: () => number;
}
export interface JoinParams {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: { name: string; metadata: Buffer }[];
  clientId: string;
  clientHost: string;
  requireKnownMemberId: boolean;
}
export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}
export interface SyncParams {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}
export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';
type Protocol = { name: string; metadata: Buffer };
type JoinCallback = (r: JoinResult) => void;
type SyncCallback = (r: SyncResult) => void;
type StoredOffset = { offset: number; metadata: string; commitTimestamp: number };
type Failure = { error: unknown } | null;

const EMPTY = Buffer.alloc(0);
/** Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: bounds a brand-new member's first JoinGroup. */
const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000;
/** Kafka's offset.metadata.max.bytes default. */
const MAX_METADATA_LENGTH = 4096;
const { NONE, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE } =
  ErrorCode;

function startTimer(ms: number, fn: () => void): NodeJS.Timeout {
  return setTimeout(fn, ms).unref();
}

function joinError(memberId: string, errorCode: number): JoinResult {
  return {
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: '',
    memberId,
    members: [],
  };
}

function syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: EMPTY };
}

function sameProtocols(a: Protocol[], b: Protocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i].name && p.metadata.equals(b[i].metadata));
}

class Member {
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  sessionTimeoutMs = 0;
  rebalanceTimeoutMs = 0;
  protocols: Protocol[] = [];
  assignment: Buffer = EMPTY;
  awaitingJoin: JoinCallback | null = null;
  awaitingSync: SyncCallback | null = null;
  /** Not yet through a completed join: expires after NEW_MEMBER_JOIN_TIMEOUT_MS, even while waiting. */
  isNew = true;
  timer: NodeJS.Timeout | undefined;

  constructor(
    public memberId: string,
    p: JoinParams,
  ) {
    this.groupInstanceId = p.groupInstanceId;
    this.clientId = p.clientId;
    this.clientHost = p.clientHost;
    this.update(p);
  }

  update(p: JoinParams): void {
    this.protocols = p.protocols;
    this.sessionTimeoutMs = p.sessionTimeoutMs;
    this.rebalanceTimeoutMs = p.rebalanceTimeoutMs;
  }

  metadata(protocol: string | null): Buffer {
    return this.protocols.find((p) => p.name === protocol)?.metadata ?? EMPTY;
  }
}

/** Group state (Kafka's GroupMetadata); the coordinator drives its transitions and timers. */
class Group {
  state: GroupState = 'Empty';
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  /** In join order: when the leader goes, the first remaining member takes over. */
  readonly members = new Map<string, Member>();
  /** groupInstanceId → memberId */
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, with their expiry timers. */
  readonly pendingMembers = new Map<string, NodeJS.Timeout>();
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSync = new Set<string>();
  joinTimer: NodeJS.Timeout | undefined;
  /** The join timer is the initial delay of a group that was Empty: it never completes early. */
  inInitialDelay = false;
  newMemberAdded = false;
  syncTimer: NodeJS.Timeout | undefined;
  /** topic → partition → committed offset */
  readonly offsets = new Map<string, Map<number, StoredOffset>>();

  constructor(readonly groupId: string) {}

  rebalanceTimeoutMs(): number {
    return Math.max(0, ...[...this.members.values()].map((m) => m.rebalanceTimeoutMs));
  }

  supportedByAll(protocol: string): boolean {
    return [...this.members.values()].every((m) => m.protocols.some((p) => p.name === protocol));
  }

  supportsProtocols(protocolType: string, protocols: Protocol[]): boolean {
    if (this.state === 'Empty') return protocolType !== '' && protocols.length > 0;
    return this.protocolType === protocolType && protocols.some((p) => this.supportedByAll(p.name));
  }

  /** Each member votes for its most preferred protocol supported by all; most votes wins (tie: first voted). */
  selectProtocol(): string {
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const vote = m.protocols.find((p) => this.supportedByAll(p.name));
      if (vote) votes.set(vote.name, (votes.get(vote.name) ?? 0) + 1);
    }
    let [best, bestVotes] = ['', 0];
    for (const [name, count] of votes) if (count > bestVotes) [best, bestVotes] = [name, count];
    return best;
  }

  allJoined(): boolean {
    return this.pendingMembers.size === 0 && [...this.members.values()].every((m) => m.awaitingJoin);
  }

  /** Keeps the leader if it rejoined, else picks the first member that did. */
  electJoinedLeader(): boolean {
    if (this.leaderId === null) return false;
    if (this.members.get(this.leaderId)?.awaitingJoin) return true;
    const joined = [...this.members.values()].find((m) => m.awaitingJoin);
    if (joined) this.leaderId = joined.memberId;
    return joined !== undefined;
  }

  /** The current generation as told to `memberId`: only the leader gets the members' metadata. */
  joinResult(memberId: string): JoinResult {
    const members = [...this.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: m.metadata(this.protocolName),
    }));
    const { generationId, protocolType, protocolName } = this;
    const leader = this.leaderId ?? '';
    return {
      errorCode: NONE,
      generationId,
      protocolType,
      protocolName,
      leader,
      memberId,
      members: leader === memberId ? members : [],
    };
  }

  validateMember(memberId: string, groupInstanceId: string | null): number {
    if (groupInstanceId !== null) {
      const current = this.staticMembers.get(groupInstanceId);
      if (current === undefined) return UNKNOWN_MEMBER_ID;
      if (current !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
    }
    return this.members.has(memberId) ? NONE : UNKNOWN_MEMBER_ID;
  }

  isUnused(): boolean {
    return (
      this.state === 'Empty' &&
      this.members.size === 0 &&
      this.pendingMembers.size === 0 &&
      this.offsets.size === 0
    );
  }
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private readonly now: () => number;
  private closed = false;
  /** Offset changes reach memory in call order, each once its own persist has resolved. */
  private applyChain: Promise<unknown> = Promise.resolve();
  /** Transactional offsets (TxnOffsetCommit) by producer id, applied when the transaction commits. */
  private pendingTxn = new Map<number, Map<string, CommittedOffset>>();

  constructor(private readonly opts: GroupCoordinatorOptions) {
    this.now = opts.now ?? Date.now;
  }

  // ---------------------------------------------------------------- JoinGroup

  join(p: JoinParams): Promise<JoinResult> {
    return new Promise((resolve) => this.handleJoin(p, resolve));
  }

  private handleJoin(p: JoinParams, respond: JoinCallback) {
    const isNewMember = p.memberId === '';
    let group = this.groups.get(p.groupId);
    let error: number = NONE;
    if (this.closed) error = COORDINATOR_NOT_AVAILABLE;
    else if (p.groupId === '') error = ErrorCode.INVALID_GROUP_ID;
    else if (
      p.sessionTimeoutMs < this.opts.minSessionTimeoutMs ||
      p.sessionTimeoutMs > this.opts.maxSessionTimeoutMs
    )
      error = ErrorCode.INVALID_SESSION_TIMEOUT;
    else if (!group && !isNewMember) error = UNKNOWN_MEMBER_ID;
    else if (!(group ??= this.createGroup(p.groupId)).supportsProtocols(p.protocolType, p.protocols))
      error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL;
    if (error !== NONE || !group) return respond(joinError(p.memberId, error));
    if (isNewMember) this.joinNewMember(group, p, respond);
    else this.joinKnownMember(group, p, respond);
    this.tryCompleteJoin(group);
  }

  private joinNewMember(group: Group, p: JoinParams, respond: JoinCallback): void {
    const memberId = `${p.groupInstanceId ?? p.clientId}-${randomUUID()}`;
    const oldStaticId = p.groupInstanceId === null ? undefined : group.staticMembers.get(p.groupInstanceId);
    if (oldStaticId !== undefined) {
      this.replaceStaticMember(group, oldStaticId, memberId, p, respond);
    } else if (p.requireKnownMemberId && p.groupInstanceId === null) {
      // JoinGroup v4+: remember the id and have the client come back with it.
      group.pendingMembers.set(
        memberId,
        startTimer(p.sessionTimeoutMs, () => this.removePendingMember(group, memberId)),
      );
      respond(joinError(memberId, ErrorCode.MEMBER_ID_REQUIRED));
    } else {
      this.addMemberAndRebalance(group, memberId, p, respond);
    }
  }

  private joinKnownMember(group: Group, p: JoinParams, respond: JoinCallback) {
    if (group.pendingMembers.has(p.memberId)) {
      // Pending members are dynamic: static members never get MEMBER_ID_REQUIRED.
      if (p.groupInstanceId !== null) respond(joinError(p.memberId, ErrorCode.INVALID_REQUEST));
      else this.addMemberAndRebalance(group, p.memberId, p, respond);
      return;
    }
    const error = group.validateMember(p.memberId, p.groupInstanceId);
    const member = group.members.get(p.memberId);
    if (error !== NONE || !member || group.state === 'Empty') {
      return respond(joinError(p.memberId, error || UNKNOWN_MEMBER_ID));
    }
    this.touch(group, member);
    const unchanged = sameProtocols(member.protocols, p.protocols);
    // Rejoining with unchanged metadata while CompletingRebalance (a lost join response) or Stable
    // (a follower) just gets the current generation; the leader rejoining a Stable group forces a
    // rebalance (it may have seen topic metadata change), as does any change of metadata.
    const rebalance =
      group.state === 'PreparingRebalance' ||
      !unchanged ||
      (group.state === 'Stable' && group.leaderId === member.memberId);
    if (!rebalance) return respond(group.joinResult(member.memberId));
    member.update(p);
    // A retried JoinGroup supersedes the earlier one, which still gets an answer.
    this.answerJoin(member, joinError(member.memberId, REBALANCE_IN_PROGRESS));
    member.awaitingJoin = respond;
    this.maybePrepareRebalance(group);
  }

  private addMemberAndRebalance(group: Group, memberId: string, p: JoinParams, respond: JoinCallback): void {
    const member = new Member(memberId, p);
    member.awaitingJoin = respond;
    // Lets the initial rebalance delay of a brand-new group be extended.
    if (group.state === 'PreparingRebalance' && group.generationId === 0) group.newMemberAdded = true;
    if (group.members.size === 0) group.protocolType = p.protocolType;
    group.leaderId ??= memberId;
    group.members.set(memberId, member);
    if (member.groupInstanceId !== null) group.staticMembers.set(member.groupInstanceId, memberId);
    clearTimeout(group.pendingMembers.get(memberId));
    group.pendingMembers.delete(memberId);
    this.touch(group, member);
    this.maybePrepareRebalance(group);
  }

  /** A known static member restarts with an empty member id: it takes over its slot under a new id. */
  private replaceStaticMember(
    group: Group,
    oldId: string,
    newId: string,
    p: JoinParams,
    respond: JoinCallback,
  ): void {
    const member = group.members.get(oldId)!;
    const previousLeader = group.leaderId ?? '';
    const unchanged = sameProtocols(member.protocols, p.protocols);
    this.answerJoin(member, joinError(oldId, ErrorCode.FENCED_INSTANCE_ID));
    this.answerSync(group, member, syncError(ErrorCode.FENCED_INSTANCE_ID));
    group.members.delete(oldId);
    member.memberId = newId;
    group.members.set(newId, member);
    group.staticMembers.set(p.groupInstanceId!, newId);
    if (group.leaderId === oldId) group.leaderId = newId;
    if (group.pendingSync.delete(oldId)) group.pendingSync.add(newId);
    member.update(p);
    this.touch(group, member);
    if (group.state === 'Stable' && unchanged) {
      // No rebalance. As Kafka does for JoinGroup < v9, `leader` stays the previous leader's id so
      // that a restarted leader does not run the assignor; SyncGroup returns its assignment.
      respond({ ...group.joinResult(newId), leader: previousLeader, members: [] });
      return;
    }
    member.awaitingJoin = respond;
    // While CompletingRebalance the leader may be assigning to the old id, so rebalance again.
    if (group.state !== 'PreparingRebalance') this.prepareRebalance(group);
  }

  // ---------------------------------------------------------------- rebalance

  private maybePrepareRebalance(group: Group): void {
    if (group.state !== 'PreparingRebalance' && group.state !== 'Dead') this.prepareRebalance(group);
  }

  private prepareRebalance(group: Group): void {
    if (group.state === 'CompletingRebalance') {
      // Members waiting for their assignment must rejoin.
      for (const m of group.members.values()) {
        m.assignment = EMPTY;
        this.answerSync(group, m, syncError(REBALANCE_IN_PROGRESS));
      }
    }
    this.cancelSyncExpiry(group);
    const wasEmpty = group.state === 'Empty';
    group.state = 'PreparingRebalance';
    clearTimeout(group.joinTimer);
    if (wasEmpty) {
      const delay = this.opts.initialRebalanceDelayMs;
      this.scheduleInitialJoin(group, delay, Math.max(group.rebalanceTimeoutMs() - delay, 0));
    } else {
      this.scheduleJoin(group);
      this.tryCompleteJoin(group);
    }
  }

  /** Kafka's InitialDelayedJoin: wait, and wait again (bounded by the rebalance timeout) while members arrive. */
  private scheduleInitialJoin(group: Group, delayMs: number, remainingMs: number): void {
    group.inInitialDelay = true;
    group.joinTimer = startTimer(delayMs, () => {
      if (!group.newMemberAdded || remainingMs <= 0) return this.completeJoin(group);
      group.newMemberAdded = false;
      const next = Math.min(this.opts.initialRebalanceDelayMs, remainingMs);
      this.scheduleInitialJoin(group, next, Math.max(remainingMs - delayMs, 0));
    });
  }

  private scheduleJoin(group: Group): void {
    group.inInitialDelay = false;
    group.joinTimer = startTimer(group.rebalanceTimeoutMs(), () => this.completeJoin(group));
  }

  private tryCompleteJoin(group: Group): void {
    if (group.state === 'PreparingRebalance' && !group.inInitialDelay && group.allJoined())
      this.completeJoin(group);
  }

  private completeJoin(group: Group) {
    clearTimeout(group.joinTimer);
    group.inInitialDelay = group.newMemberAdded = false;
    // Dynamic members that did not rejoin in time are dropped; static ones keep their slot.
    for (const m of group.members.values()) {
      if (!m.awaitingJoin && m.groupInstanceId === null) this.removeMember(group, m);
    }
    // Only static members that did not rejoin remain: give them another rebalance timeout.
    if (!group.electJoinedLeader() && group.members.size > 0) return this.scheduleJoin(group);
    group.generationId += 1;
    group.pendingSync.clear();
    if (group.members.size === 0) {
      group.protocolName = null;
      group.state = 'Empty';
      return;
    }
    group.protocolName = group.selectProtocol();
    group.state = 'CompletingRebalance';
    for (const m of group.members.values()) {
      this.answerJoin(m, group.joinResult(m.memberId));
      m.isNew = false;
      this.touch(group, m);
      group.pendingSync.add(m.memberId);
    }
    this.scheduleSyncExpiry(group);
  }

  /** Kafka's DelayedSync: members that never send SyncGroup are removed after the rebalance timeout. */
  private scheduleSyncExpiry(group: Group): void {
    const generation = group.generationId;
    group.syncTimer = startTimer(group.rebalanceTimeoutMs(), () => {
      const active = group.state === 'CompletingRebalance' || group.state === 'Stable';
      if (group.generationId !== generation || !active || group.pendingSync.size === 0) return;
      for (const memberId of [...group.pendingSync]) {
        const m = group.members.get(memberId);
        if (m) this.removeMember(group, m);
      }
      this.prepareRebalance(group);
    });
  }

  private cancelSyncExpiry(group: Group): void {
    clearTimeout(group.syncTimer);
    group.pendingSync.clear();
  }

  // ---------------------------------------------------------------- members and liveness

  /** Restarts the member's session timer (the new-member join timeout until its first join completes). */
  private touch(group: Group, member: Member): void {
    clearTimeout(member.timer);
    if (this.closed) return;
    const ms = member.isNew ? NEW_MEMBER_JOIN_TIMEOUT_MS : member.sessionTimeoutMs;
    member.timer = startTimer(ms, () => {
      if (group.members.get(member.memberId) !== member) return;
      // A member blocked in JoinGroup/SyncGroup cannot heartbeat: it counts as alive.
      if (!member.isNew && (member.awaitingJoin || member.awaitingSync)) this.touch(group, member);
      else this.removeMemberAndUpdateGroup(group, member);
    });
  }

  private removePendingMember(group: Group, memberId: string): void {
    clearTimeout(group.pendingMembers.get(memberId));
    group.pendingMembers.delete(memberId);
    this.tryCompleteJoin(group);
  }

  private removeMember(group: Group, member: Member): void {
    const { memberId, groupInstanceId } = member;
    this.answerJoin(member, joinError('', UNKNOWN_MEMBER_ID));
    member.awaitingSync?.(syncError(UNKNOWN_MEMBER_ID));
    member.awaitingSync = null;
    clearTimeout(member.timer);
    group.members.delete(memberId);
    if (groupInstanceId !== null && group.staticMembers.get(groupInstanceId) === memberId) {
      group.staticMembers.delete(groupInstanceId);
    }
    if (group.leaderId === memberId) group.leaderId = group.members.keys().next().value ?? null;
    group.pendingSync.delete(memberId);
  }

  private removeMemberAndUpdateGroup(group: Group, member: Member): void {
    this.removeMember(group, member);
    if (group.state === 'PreparingRebalance') this.tryCompleteJoin(group);
    else this.maybePrepareRebalance(group);
  }

  private answerJoin(member: Member, result: JoinResult): void {
    const respond = member.awaitingJoin;
    member.awaitingJoin = null;
    respond?.(result);
  }

  private answerSync(group: Group, member: Member, result: SyncResult): void {
    const respond = member.awaitingSync;
    if (!respond) return;
    member.awaitingSync = null;
    respond(result);
    this.touch(group, member);
  }

  /** The member, if it may act in `generation` (SyncGroup, Heartbeat); else the error. */
  private lookupMember(
    groupId: string,
    memberId: string,
    groupInstanceId: string | null,
    generation: number,
  ): { group: Group; member: Member } | number {
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    if (this.closed) return COORDINATOR_NOT_AVAILABLE;
    if (groupId === '') return ErrorCode.INVALID_GROUP_ID;
    if (!group || !member) return group?.validateMember(memberId, groupInstanceId) || UNKNOWN_MEMBER_ID;
    const error = group.validateMember(memberId, groupInstanceId);
    if (error !== NONE) return error;
    return generation === group.generationId ? { group, member } : ILLEGAL_GENERATION;
  }

  // ---------------------------------------------------------------- SyncGroup, Heartbeat, LeaveGroup

  sync(p: SyncParams): Promise<SyncResult> {
    return new Promise((resolve) => this.handleSync(p, resolve));
  }

  private handleSync(p: SyncParams, respond: SyncCallback) {
    const found = this.lookupMember(p.groupId, p.memberId, p.groupInstanceId, p.generationId);
    if (typeof found === 'number') return respond(syncError(found));
    const { group, member } = found;
    const success = (m: Member): SyncResult => ({
      errorCode: NONE,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      assignment: m.assignment,
    });
    if (group.state === 'PreparingRebalance') return respond(syncError(REBALANCE_IN_PROGRESS));
    group.pendingSync.delete(member.memberId);
    if (group.pendingSync.size === 0) this.cancelSyncExpiry(group);
    if (group.state === 'Stable') {
      this.touch(group, member);
      return respond(success(member));
    }
    // CompletingRebalance: everyone waits for the leader's assignment.
    this.answerSync(group, member, syncError(REBALANCE_IN_PROGRESS));
    member.awaitingSync = respond;
    if (group.leaderId !== member.memberId) return;
    const given = new Map(p.assignments.map((a) => [a.memberId, a.assignment]));
    for (const m of group.members.values()) m.assignment = given.get(m.memberId) ?? EMPTY;
    group.state = 'Stable';
    for (const m of group.members.values()) this.answerSync(group, m, success(m));
  }

  heartbeat(p: { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null }): {
    errorCode: number;
  } {
    const found = this.lookupMember(p.groupId, p.memberId, p.groupInstanceId, p.generationId);
    if (typeof found === 'number') return { errorCode: found };
    this.touch(found.group, found.member);
    return { errorCode: found.group.state === 'PreparingRebalance' ? REBALANCE_IN_PROGRESS : NONE };
  }

  leave(p: { groupId: string; memberId: string }): { errorCode: number } {
    if (this.closed) return { errorCode: COORDINATOR_NOT_AVAILABLE };
    if (p.groupId === '') return { errorCode: ErrorCode.INVALID_GROUP_ID };
    const group = this.groups.get(p.groupId);
    const member = group?.members.get(p.memberId);
    if (group?.pendingMembers.has(p.memberId)) this.removePendingMember(group, p.memberId);
    else if (group && member) this.removeMemberAndUpdateGroup(group, member);
    else return { errorCode: UNKNOWN_MEMBER_ID };
    return { errorCode: NONE };
  }

  // ---------------------------------------------------------------- offsets

  async commitOffsets(p: {
    groupId: string;
    generationId: number;
    memberId: string;
    groupInstanceId: string | null;
    offsets: { topic: string; partition: number; offset: number; metadata: string | null }[];
  }): Promise<{ topic: string; partition: number; errorCode: number }[]> {
    const group = this.groups.get(p.groupId);
    let error: number = NONE;
    if (this.closed) error = COORDINATOR_NOT_AVAILABLE;
    else if (group) error = this.validateCommit(group, p);
    else if (p.generationId >= 0) error = ILLEGAL_GENERATION;
    if (error !== NONE)
      return p.offsets.map(({ topic, partition }) => ({ topic, partition, errorCode: error }));

    if (!group) this.createGroup(p.groupId); // a "simple" group that only holds offsets
    const member = group?.members.get(p.memberId);
    if (group && member) this.touch(group, member);
    const commitTimestamp = this.now();
    const entries: CommittedOffset[] = [];
    const results = p.offsets.map(({ topic, partition, offset, metadata }) => {
      const tooLarge = (metadata ?? '').length > MAX_METADATA_LENGTH;
      if (!tooLarge)
        entries.push({
          groupId: p.groupId,
          topic,
          partition,
          offset,
          metadata: metadata ?? '',
          commitTimestamp,
        });
      return {
        topic,
        partition,
        errorCode: tooLarge ? ErrorCode.OFFSET_METADATA_TOO_LARGE : (NONE as number),
      };
    });
    if (entries.length === 0) return results;
    const failure = await this.persistThenApply(entries, () => this.applyOffsets(entries));
    if (failure) for (const r of results) r.errorCode ||= COORDINATOR_NOT_AVAILABLE;
    return results;
  }

  private validateCommit(
    group: Group,
    p: { generationId: number; memberId: string; groupInstanceId: string | null },
  ) {
    // Generation -1 (admin client, or a consumer without group management): only while Empty.
    if (p.generationId < 0 && group.state === 'Empty') return NONE;
    if (p.generationId >= 0 || p.memberId !== '' || p.groupInstanceId !== null) {
      const error = group.validateMember(p.memberId, p.groupInstanceId);
      if (error !== NONE) return error;
      if (p.generationId !== group.generationId) return ILLEGAL_GENERATION;
    } else if (group.state !== 'Empty') {
      return UNKNOWN_MEMBER_ID;
    }
    // As in Kafka, commits stay allowed while PreparingRebalance (members commit before rejoining).
    return group.state === 'CompletingRebalance' ? REBALANCE_IN_PROGRESS : NONE;
  }

  /** Persists now; applies to memory once persisted, in call order. Resolves to the failure, if any. */
  private persistThenApply(entries: CommittedOffset[], apply: () => void): Promise<Failure> {
    let persisted: Promise<void>;
    try {
      persisted = this.opts.store.persist(entries);
    } catch (error) {
      persisted = Promise.reject(error);
    }
    // Settle at once so that a failure waiting its turn in the chain is never an unhandled rejection.
    const settled = persisted.then(
      (): Failure => null,
      (error: unknown): Failure => ({ error }),
    );
    const outcome = this.applyChain
      .then(() => settled)
      .then((failure) => {
        if (!failure) apply();
        return failure;
      });
    this.applyChain = outcome.catch(() => undefined);
    return outcome;
  }

  private applyOffsets(entries: CommittedOffset[]): void {
    for (const { groupId, topic, partition, offset, metadata, commitTimestamp } of entries) {
      const offsets = (this.groups.get(groupId) ?? this.createGroup(groupId)).offsets;
      const byPartition = offsets.get(topic) ?? new Map<number, StoredOffset>();
      if (offset === null) byPartition.delete(partition);
      else byPartition.set(partition, { offset, metadata, commitTimestamp });
      if (byPartition.size > 0) offsets.set(topic, byPartition);
      else offsets.delete(topic);
    }
  }

  fetchOffsets(
    groupId: string,
    partitions: { topic: string; partitions: number[] }[] | null,
  ): {
    errorCode: number;
    topics: {
      topic: string;
      partitions: { partition: number; offset: number; metadata: string; errorCode: number }[];
    }[];
  } {
    if (this.closed) return { errorCode: COORDINATOR_NOT_AVAILABLE, topics: [] };
    const offsets = this.groups.get(groupId)?.offsets ?? new Map<string, Map<number, StoredOffset>>();
    // null: every committed partition, topics by name and partitions in order.
    const wanted =
      partitions ??
      [...offsets.keys()].sort().map((topic) => ({
        topic,
        partitions: [...(offsets.get(topic)?.keys() ?? [])].sort((a, b) => a - b),
      }));
    const topics = wanted.map(({ topic, partitions: ps }) => ({
      topic,
      partitions: ps.map((partition) => {
        const committed = offsets.get(topic)?.get(partition);
        return {
          partition,
          offset: committed?.offset ?? -1,
          metadata: committed?.metadata ?? '',
          errorCode: NONE,
        };
      }),
    }));
    return { errorCode: NONE, topics };
  }

  restoreOffsets(entries: CommittedOffset[]): void {
    for (const e of entries) {
      if (e.producerId === undefined) this.applyOffsets([e]);
      else this.applyPending(e);
    }
    this.dropUnusedGroups();
  }

  // ---------------------------------------------------------------- transactional offsets

  private applyPending(e: CommittedOffset): void {
    const pid = e.producerId!;
    const pending = this.pendingTxn.get(pid) ?? new Map<string, CommittedOffset>();
    const key = `${e.groupId}\0${e.topic}\0${e.partition}`;
    if (e.offset === null) pending.delete(key);
    else pending.set(key, e);
    if (pending.size > 0) this.pendingTxn.set(pid, pending);
    else this.pendingTxn.delete(pid);
  }

  /** TxnOffsetCommit: offsets held for `producerId`'s transaction, durable but not yet visible. */
  async txnCommitOffsets(p: {
    groupId: string;
    producerId: number;
    offsets: { topic: string; partition: number; offset: number; metadata: string | null }[];
  }): Promise<{ topic: string; partition: number; errorCode: number }[]> {
    if (this.closed)
      return p.offsets.map(({ topic, partition }) => ({
        topic,
        partition,
        errorCode: COORDINATOR_NOT_AVAILABLE,
      }));
    const commitTimestamp = this.now();
    const entries: CommittedOffset[] = p.offsets.map(({ topic, partition, offset, metadata }) => ({
      groupId: p.groupId,
      topic,
      partition,
      offset,
      metadata: metadata ?? '',
      commitTimestamp,
      producerId: p.producerId,
    }));
    const failure = await this.persistThenApply(entries, () => {
      for (const e of entries) this.applyPending(e);
    });
    const errorCode = failure ? COORDINATOR_NOT_AVAILABLE : NONE;
    return p.offsets.map(({ topic, partition }) => ({ topic, partition, errorCode }));
  }

  /**
   * Ends `producerId`'s transaction for offsets: on commit its pending offsets become the
   * groups' committed offsets; either way the pending entries are tombstoned.
   */
  async completeTxnOffsets(producerId: number, commit: boolean): Promise<void> {
    await this.applyChain;
    const pending = [...(this.pendingTxn.get(producerId)?.values() ?? [])];
    if (pending.length === 0) return;
    const entries: CommittedOffset[] = pending.map((e) => ({ ...e, offset: null }));
    if (commit) entries.push(...pending.map(({ producerId: _, ...e }) => e));
    const failure = await this.persistThenApply(entries, () => this.restoreOffsets(entries));
    if (failure) throw failure.error;
  }

  async deleteTopicOffsets(topic: string): Promise<void> {
    await this.applyChain; // commits issued before this call reach memory first
    const commitTimestamp = this.now();
    const tombstones: CommittedOffset[] = [];
    for (const { groupId, offsets } of this.groups.values()) {
      for (const partition of offsets.get(topic)?.keys() ?? []) {
        tombstones.push({ groupId, topic, partition, offset: null, metadata: '', commitTimestamp });
      }
    }
    if (tombstones.length === 0) return;
    const failure = await this.persistThenApply(tombstones, () => this.restoreOffsets(tombstones));
    if (failure) throw failure.error;
  }

  /** As Kafka's offset cleanup does, forget groups that are Empty and hold no offsets. */
  private dropUnusedGroups(): void {
    for (const g of this.groups.values()) if (g.isUnused()) this.groups.delete(g.groupId);
  }

  // ---------------------------------------------------------------- describe, list, close

  describeGroups(groupIds: string[]): {
    errorCode: number;
    groupId: string;
    state: string;
    protocolType: string;
    protocol: string;
    members: {
      memberId: string;
      groupInstanceId: string | null;
      clientId: string;
      clientHost: string;
      metadata: Buffer;
      assignment: Buffer;
    }[];
  }[] {
    return groupIds.map((groupId) => {
      const group = this.groups.get(groupId);
      const errorCode = this.closed ? COORDINATOR_NOT_AVAILABLE : NONE;
      if (this.closed || !group) {
        return {
          errorCode,
          groupId,
          state: this.closed ? '' : 'Dead',
          protocolType: '',
          protocol: '',
          members: [],
        };
      }
      // As in Kafka, the protocol, metadata and assignments are only reported for a Stable group.
      const stable = group.state === 'Stable';
      const members = [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: stable ? m.metadata(group.protocolName) : EMPTY,
        assignment: stable ? m.assignment : EMPTY,
      }));
      const protocol = stable ? (group.protocolName ?? '') : '';
      return {
        errorCode,
        groupId,
        state: group.state,
        protocolType: group.protocolType ?? '',
        protocol,
        members,
      };
    });
  }

  listGroups(): { groupId: string; protocolType: string }[] {
    return [...this.groups.values()].map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? '' }));
  }

  close(): void {
    this.closed = true;
    for (const group of this.groups.values()) {
      clearTimeout(group.joinTimer);
      clearTimeout(group.syncTimer);
      for (const timer of group.pendingMembers.values()) clearTimeout(timer);
      group.pendingMembers.clear();
      for (const m of group.members.values()) {
        clearTimeout(m.timer);
        this.answerJoin(m, joinError(m.memberId, COORDINATOR_NOT_AVAILABLE));
        this.answerSync(group, m, syncError(COORDINATOR_NOT_AVAILABLE));
      }
    }
  }

  private createGroup(groupId: string): Group {
    const group = new Group(groupId);
    this.groups.set(groupId, group);
    return group;
  }
}
