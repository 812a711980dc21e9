import { TopologyError } from './errors.js';

/**
 * Windows and the pure rules that assign records to them. Conventions follow Kafka Streams:
 * time windows are [start, end) (end exclusive); sliding windows and sessions are
 * [start, end] (both inclusive). Every window type answers one question the operators need:
 * `closesAt(window)`, the stream time from which no record can change the window any more —
 * a window is closed once stream time >= closesAt, and suppression emits it then.
 */
export interface Window {
  start: number;
  end: number;
}

/** A key of a windowed table: the grouping key and the window. */
export interface Windowed<K> extends Window {
  key: K;
}

function checkMs(what: string, ms: number, min: number): number {
  if (!Number.isSafeInteger(ms) || ms < min) {
    throw new TopologyError([`${what} must be an integer >= ${min} ms, got ${ms}`]);
  }
  return ms;
}

/** Tumbling (advance = size) or hopping (advance < size) windows: [start, start + size). */
export class TimeWindows {
  readonly kind = 'time' as const;

  private constructor(
    readonly sizeMs: number,
    readonly advanceMs: number,
    readonly graceMs: number,
  ) {}

  /** Tumbling windows of `sizeMs`, no grace. */
  static ofSize(sizeMs: number): TimeWindows {
    checkMs('window size', sizeMs, 1);
    return new TimeWindows(sizeMs, sizeMs, 0);
  }

  /** Hopping windows: a new window every `advanceMs` (0 < advance <= size). */
  advanceBy(advanceMs: number): TimeWindows {
    checkMs('window advance', advanceMs, 1);
    if (advanceMs > this.sizeMs) {
      throw new TopologyError([
        `window advance (${advanceMs} ms) must not exceed the size (${this.sizeMs} ms)`,
      ]);
    }
    return new TimeWindows(this.sizeMs, advanceMs, this.graceMs);
  }

  /** How long after a window's end out-of-order records are still admitted. */
  grace(graceMs: number): TimeWindows {
    return new TimeWindows(this.sizeMs, this.advanceMs, checkMs('grace', graceMs, 0));
  }

  /** The windows containing `timestamp`, ascending by start; starts are multiples of the advance, >= 0. */
  windowsFor(timestamp: number): Window[] {
    const out: Window[] = [];
    const last = Math.floor(timestamp / this.advanceMs) * this.advanceMs;
    for (let start = last; start > timestamp - this.sizeMs && start >= 0; start -= this.advanceMs) {
      out.push({ start, end: start + this.sizeMs });
    }
    return out.reverse();
  }

  closesAt(window: Window): number {
    return window.end + this.graceMs;
  }

  toString(): string {
    return this.advanceMs === this.sizeMs
      ? `TumblingWindows(size=${this.sizeMs}ms, grace=${this.graceMs}ms)`
      : `HoppingWindows(size=${this.sizeMs}ms, advance=${this.advanceMs}ms, grace=${this.graceMs}ms)`;
  }
}

/**
 * Sliding windows (KIP-450): windows of `timeDifferenceMs`, inclusive at both ends, created as
 * records arrive. For a record at t: its left window [t - d, t], and its right window
 * [t + 1, t + 1 + d] when some record falls in it. Together these are exactly the distinct
 * record sets any window of size d can hold. Unlike Kafka there is no special "early" window
 * for t < d: such left windows start before 0.
 */
export class SlidingWindows {
  readonly kind = 'sliding' as const;

  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifference(timeDifferenceMs: number): SlidingWindows {
    return new SlidingWindows(checkMs('sliding window time difference', timeDifferenceMs, 1), 0);
  }

  grace(graceMs: number): SlidingWindows {
    return new SlidingWindows(this.timeDifferenceMs, checkMs('grace', graceMs, 0));
  }

  leftWindow(timestamp: number): Window {
    return { start: timestamp - this.timeDifferenceMs, end: timestamp };
  }

  rightWindow(timestamp: number): Window {
    return { start: timestamp + 1, end: timestamp + 1 + this.timeDifferenceMs };
  }

  /** The windows a set of record timestamps defines, ascending by start. */
  windowsFor(timestamps: Iterable<number>): Window[] {
    const ts = [...new Set(timestamps)].sort((a, b) => a - b);
    const starts = new Set<number>();
    ts.forEach((t, i) => {
      starts.add(t - this.timeDifferenceMs);
      const next = ts[i + 1];
      if (next !== undefined && next <= t + 1 + this.timeDifferenceMs) starts.add(t + 1);
    });
    return [...starts].sort((a, b) => a - b).map((start) => ({ start, end: start + this.timeDifferenceMs }));
  }

  closesAt(window: Window): number {
    return window.end + 1 + this.graceMs;
  }

  /** A record is late when its own (left) window has closed. */
  isLate(timestamp: number, streamTime: number): boolean {
    return timestamp + this.graceMs < streamTime;
  }

  toString(): string {
    return `SlidingWindows(timeDifference=${this.timeDifferenceMs}ms, grace=${this.graceMs}ms)`;
  }
}

/**
 * Session windows: records of a key closer than the inactivity gap belong to one session
 * [first, last]; a record between two sessions merges them.
 */
export class SessionWindows {
  readonly kind = 'session' as const;

  private constructor(
    readonly inactivityGapMs: number,
    readonly graceMs: number,
  ) {}

  static withInactivityGap(inactivityGapMs: number): SessionWindows {
    return new SessionWindows(checkMs('inactivity gap', inactivityGapMs, 1), 0);
  }

  grace(graceMs: number): SessionWindows {
    return new SessionWindows(this.inactivityGapMs, checkMs('grace', graceMs, 0));
  }

  /** Sessions of a set of record timestamps, ascending. */
  sessionsFor(timestamps: Iterable<number>): Window[] {
    const ts = [...timestamps].sort((a, b) => a - b);
    const out: Window[] = [];
    for (const t of ts) {
      const last = out[out.length - 1];
      if (last && t - last.end <= this.inactivityGapMs) last.end = t;
      else out.push({ start: t, end: t });
    }
    return out;
  }

  /** Whether a record at `timestamp` joins the session `window`. */
  merges(window: Window, timestamp: number): boolean {
    return timestamp >= window.start - this.inactivityGapMs && timestamp <= window.end + this.inactivityGapMs;
  }

  /** Closed once no admissible record (timestamp >= stream time - grace) can reach it within the gap. */
  closesAt(window: Window): number {
    return window.end + this.inactivityGapMs + this.graceMs + 1;
  }

  isLate(timestamp: number, streamTime: number): boolean {
    return timestamp + this.graceMs < streamTime;
  }

  toString(): string {
    return `SessionWindows(inactivityGap=${this.inactivityGapMs}ms, grace=${this.graceMs}ms)`;
  }
}

/** Stream-stream join windows: records join when their timestamps differ by at most d. */
export class JoinWindows {
  readonly kind = 'join' as const;

  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifference(timeDifferenceMs: number): JoinWindows {
    return new JoinWindows(checkMs('join window time difference', timeDifferenceMs, 0), 0);
  }

  grace(graceMs: number): JoinWindows {
    return new JoinWindows(this.timeDifferenceMs, checkMs('grace', graceMs, 0));
  }

  /** The window of other-side timestamps a record at `timestamp` joins with (inclusive). */
  windowFor(timestamp: number): Window {
    return { start: timestamp - this.timeDifferenceMs, end: timestamp + this.timeDifferenceMs };
  }

  /** Stream time from which no admissible record can join a record at `timestamp`. */
  closesAt(timestamp: number): number {
    return timestamp + this.timeDifferenceMs + this.graceMs + 1;
  }

  isLate(timestamp: number, streamTime: number): boolean {
    return timestamp + this.graceMs < streamTime;
  }

  toString(): string {
    return `JoinWindows(timeDifference=${this.timeDifferenceMs}ms, grace=${this.graceMs}ms)`;
  }
}
