import type {
  ModelPromoted,
  ModelRolledBack,
  ModelVersionRegistered,
} from '../../schemas/generated/events.js';

export const VERSIONS_TOPIC = 'models.version.registered';
export const CHAMPION_TOPIC = 'models.champion.changed';

export const CHAMPION = 'champion';
export const CHALLENGER = 'challenger';
export type ModelAlias = typeof CHAMPION | typeof CHALLENGER;

/** The latest event of models.champion.changed for a model: what compaction keeps. */
export type ChampionChange =
  | { readonly type: 'sluice.models.ModelPromoted'; readonly event: ModelPromoted }
  | { readonly type: 'sluice.models.ModelRolledBack'; readonly event: ModelRolledBack };

/** One model as its events describe it. */
export interface ModelRecord {
  readonly name: string;
  /** Every registered version, by number (the first registration of a number wins). */
  readonly versions: Map<number, ModelVersionRegistered>;
  /** The highest registered version; 0 before the first. */
  latest: number;
  /** The latest champion change, or null when there is none (or it was deleted by a tombstone). */
  lastChange: ChampionChange | null;
}

/**
 * The model registry folded from its two topics, a pure function of the events in log order:
 *
 * - versions from models.version.registered (never compacted, so every version is there);
 * - the champion from the latest event of models.champion.changed (compacted by model name).
 *
 * Every rule that reads the champion topic reads only the latest change per model, so the state
 * is the same before and after compaction (and agrees with the `models` read model):
 *
 * - champion: the `version` of the latest change;
 * - rollback target ("previous champion"): `previousVersion` of the latest change when it is a
 *   ModelPromoted; none after a ModelRolledBack (the history before it may be compacted away,
 *   so a second rollback in a row is refused rather than depending on what compaction left);
 * - challenger: there is no event for it in the catalogue, so it is derived (issue 8: "every new
 *   version starts as challenger"): the newest registered version, while it is newer than the
 *   champion and than the version the latest change replaced. A version that was champion and
 *   was replaced or rolled back therefore never comes back as challenger by itself.
 */
export class RegistryState {
  private readonly models = new Map<string, ModelRecord>();

  /** Applies a registration; false when the version was already registered (a duplicate is ignored). */
  applyRegistered(e: ModelVersionRegistered): boolean {
    const record = this.record(e.modelName);
    if (record.versions.has(e.version)) return false;
    record.versions.set(e.version, e);
    record.latest = Math.max(record.latest, e.version);
    return true;
  }

  applyChampionChange(change: ChampionChange): void {
    this.record(change.event.modelName).lastChange = change;
  }

  /** A tombstone on the compacted champion topic: the model has no champion on record any more. */
  applyChampionTombstone(modelName: string): void {
    const record = this.models.get(modelName);
    if (record) record.lastChange = null;
  }

  model(name: string): ModelRecord | undefined {
    return this.models.get(name);
  }

  names(): string[] {
    return [...this.models.keys()].sort();
  }

  champion(name: string): number | null {
    return this.models.get(name)?.lastChange?.event.version ?? null;
  }

  /** The version a rollback returns to, or null when there is none on record. */
  previousChampion(name: string): number | null {
    const change = this.models.get(name)?.lastChange;
    if (!change || change.type === 'sluice.models.ModelRolledBack') return null;
    return change.event.previousVersion;
  }

  challenger(name: string): number | null {
    const record = this.models.get(name);
    if (!record || record.latest === 0) return null;
    const change = record.lastChange;
    const champion = change?.event.version ?? 0;
    const replaced =
      change === null
        ? 0
        : change.type === 'sluice.models.ModelPromoted'
          ? (change.event.previousVersion ?? 0)
          : change.event.fromVersion;
    return record.latest > champion && record.latest > replaced ? record.latest : null;
  }

  /** The aliases pointing at `version` of `name`. */
  aliasesOf(name: string, version: number): ModelAlias[] {
    const out: ModelAlias[] = [];
    if (this.champion(name) === version) out.push(CHAMPION);
    if (this.challenger(name) === version) out.push(CHALLENGER);
    return out;
  }

  private record(name: string): ModelRecord {
    let record = this.models.get(name);
    if (!record) {
      record = { name, versions: new Map(), latest: 0, lastChange: null };
      this.models.set(name, record);
    }
    return record;
  }
}
