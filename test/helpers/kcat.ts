import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * kcat (librdkafka) as a black-box client for the broker tests. Processes are always spawned
 * with an argument vector (never through a shell); payloads go in through stdin.
 */
export const KCAT = process.env.KCAT ?? 'kcat';

/** `kcat -V`'s librdkafka version, e.g. "2.0.2". */
export function librdkafkaVersion(): string {
  const out = spawnSync(KCAT, ['-V'], { encoding: 'utf8', timeout: 10_000 });
  const m = /librdkafka ([\d.]+)/.exec(out.stdout ?? '');
  if (!m) throw new Error(`cannot read librdkafka version from kcat -V: ${out.stdout} ${out.stderr}`);
  return m[1];
}

export interface KcatRecord {
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
}

/**
 * Consumer output format: a text header with the key and value lengths (-1 for null), then
 * the raw key and value bytes. Unlike `%k\t%s\n` or -J it is exact for any binary content.
 */
export const RECORD_FORMAT = '%p %o %K %S:%k%s\n';

/** Incremental parser of RECORD_FORMAT output (records may straddle stdout chunks). */
export class RecordParser {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): KcatRecord[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: KcatRecord[] = [];
    let pos = 0;
    for (;;) {
      const colon = this.buf.indexOf(0x3a, pos);
      if (colon < 0) break;
      const header = this.buf.toString('latin1', pos, colon);
      const m = /^(\d+) (\d+) (-?\d+) (-?\d+)$/.exec(header);
      if (!m)
        throw new Error(`unexpected kcat output at byte ${pos}: ${JSON.stringify(header.slice(0, 80))}`);
      const keyLen = Number(m[3]);
      const valueLen = Number(m[4]);
      const end = colon + 1 + Math.max(keyLen, 0) + Math.max(valueLen, 0);
      if (end + 1 > this.buf.length) break;
      if (this.buf[end] !== 0x0a) throw new Error(`kcat record at byte ${pos} is not newline-terminated`);
      const keyStart = colon + 1;
      const valueStart = keyStart + Math.max(keyLen, 0);
      out.push({
        partition: Number(m[1]),
        offset: Number(m[2]),
        key: keyLen < 0 ? null : Buffer.from(this.buf.subarray(keyStart, valueStart)),
        value: valueLen < 0 ? null : Buffer.from(this.buf.subarray(valueStart, end)),
      });
      pos = end + 1;
    }
    this.buf = this.buf.subarray(pos);
    return out;
  }

  /** Bytes of an incomplete trailing record. */
  get pendingBytes(): number {
    return this.buf.length;
  }
}

export interface KcatResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs kcat to completion; killed (and rejected) if it takes longer than `timeoutMs`. */
export function runKcat(
  args: string[],
  opts: { input?: Buffer; timeoutMs?: number } = {},
): Promise<KcatResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const proc = spawn(KCAT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => out.push(d));
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`kcat ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr });
    });
    proc.stdin.on('error', () => {}); // EPIPE if kcat dies early: the exit code tells
    proc.stdin.end(opts.input ?? Buffer.alloc(0));
  });
}

/** Producer input for `-K '\t'` with the default newline message delimiter. */
export function producerInput(records: { key: Buffer; value: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const tab = Buffer.from('\t');
  const nl = Buffer.from('\n');
  for (const r of records) {
    if (r.key.includes(0x09) || r.key.includes(0x0a) || r.value.includes(0x0a)) {
      throw new Error('producer input: keys may hold neither tab nor newline, values no newline');
    }
    parts.push(r.key, tab, r.value, nl);
  }
  return Buffer.concat(parts);
}

/** `kcat -P`: produces every record (key TAB value per line) and fails unless all were delivered. */
export async function kcatProduce(
  bootstrap: string,
  topic: string,
  records: { key: Buffer; value: Buffer }[],
  extra: string[] = [],
  timeoutMs = 60_000,
): Promise<void> {
  const res = await runKcat(['-b', bootstrap, '-P', '-t', topic, '-K', '\t', '-X', 'acks=all', ...extra], {
    input: producerInput(records),
    timeoutMs,
  });
  if (res.code !== 0 || /fail|error/i.test(res.stderr)) {
    throw new Error(`kcat -P exited ${res.code}: ${res.stderr}`);
  }
}

/** `kcat -C -e -o beginning`: every record of the topic (all partitions) up to the current end. */
export function kcatConsumeAll(bootstrap: string, topic: string, timeoutMs = 60_000): Promise<KcatRecord[]> {
  return kcatConsume(bootstrap, topic, ['-o', 'beginning'], timeoutMs);
}

/** `kcat -C -p <partition> -o <offset> -e`: one partition's records from `offset` to the current end. */
export function kcatConsumePartition(
  bootstrap: string,
  topic: string,
  partition: number,
  offset: number,
  timeoutMs = 60_000,
): Promise<KcatRecord[]> {
  return kcatConsume(bootstrap, topic, ['-p', String(partition), '-o', String(offset)], timeoutMs);
}

async function kcatConsume(
  bootstrap: string,
  topic: string,
  where: string[],
  timeoutMs: number,
): Promise<KcatRecord[]> {
  // -e ends on a fetch that finds nothing new, which the broker holds for fetch.wait.max.ms
  // (500 ms by default) as Kafka does; 50 ms keeps the many reads of these tests quick.
  const res = await runKcat(
    [
      '-b',
      bootstrap,
      '-C',
      '-t',
      topic,
      ...where,
      '-e',
      '-q',
      '-X',
      'fetch.wait.max.ms=50',
      '-f',
      RECORD_FORMAT,
    ],
    { timeoutMs },
  );
  if (res.code !== 0) throw new Error(`kcat -C exited ${res.code}: ${res.stderr}`);
  const parser = new RecordParser();
  const records = parser.push(res.stdout);
  if (parser.pendingBytes !== 0)
    throw new Error(`kcat -C output ends with ${parser.pendingBytes} stray bytes`);
  return records;
}

export interface KcatMetadata {
  originating_broker: { id: number; name: string };
  query: { topic: string };
  controllerid: number;
  brokers: { id: number; name: string }[];
  topics: {
    topic: string;
    error?: string;
    partitions: {
      partition: number;
      leader: number;
      replicas: { id: number }[];
      isrs: { id: number }[];
      error?: string;
    }[];
  }[];
}

/** `kcat -L -J` (optionally for one topic), parsed. */
export async function kcatMetadata(bootstrap: string, topic?: string): Promise<KcatMetadata> {
  const res = await runKcat(['-b', bootstrap, '-L', '-J', ...(topic ? ['-t', topic] : [])], {
    timeoutMs: 20_000,
  });
  if (res.code !== 0) throw new Error(`kcat -L exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout.toString('utf8')) as KcatMetadata;
}

/** A long-running kcat (e.g. a `-G` group consumer) whose records and stderr lines are collected live. */
export class KcatProcess {
  readonly proc: ChildProcess;
  readonly records: KcatRecord[] = [];
  readonly stderrLines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly parser = new RecordParser();
  private stderrRest = '';
  private listeners = new Set<() => void>();
  parseError: Error | null = null;

  constructor(args: string[]) {
    this.proc = spawn(KCAT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.proc.once('close', (code, signal) => {
        resolve({ code, signal });
        this.notify();
      });
    });
    this.proc.stdout?.on('data', (d: Buffer) => {
      try {
        this.records.push(...this.parser.push(d));
      } catch (err) {
        this.parseError = err as Error;
      }
      this.notify();
    });
    this.proc.stderr?.on('data', (d: Buffer) => {
      const lines = (this.stderrRest + d.toString('utf8')).split('\n');
      this.stderrRest = lines.pop() ?? '';
      this.stderrLines.push(...lines);
      this.notify();
    });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /**
   * Resolves once `predicate` holds; rejects after `timeoutMs`. Checked on every output event
   * and every 100 ms, since a predicate may depend on other processes' output.
   */
  waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.parseError) {
          finish();
          reject(this.parseError);
        } else if (predicate()) {
          finish();
          resolve();
        } else if (!this.running) {
          finish();
          reject(new Error(`kcat exited while waiting for ${what}; stderr:\n${this.stderrLines.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; stderr:\n${this.stderrLines.join('\n')}`,
          ),
        );
      }, timeoutMs);
      const poll = setInterval(check, 100);
      const finish = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL (and an error) if it does not exit in time. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 15_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const res = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (res === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`kcat did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return res;
  }
}

/**
 * Group assignment as kcat reports it on stderr, for both rebalance protocols:
 *   eager:       "% Group g rebalanced (memberid m): assigned: t [0], t [1]" / "...: revoked: ..."
 *   cooperative: "% Group g rebalanced: incremental assignment of 2 partition(s) (...): t [0], t [1]"
 *                "% Group g rebalanced: incremental revoke of 1 partition(s) (...): t [0]"
 */
export function currentAssignment(stderrLines: string[]): Set<number> {
  const owned = new Set<number>();
  for (const line of stderrLines) {
    if (!/^% Group \S+ rebalanced/.test(line)) continue;
    const parts = [...line.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
    if (line.includes('incremental assignment')) for (const p of parts) owned.add(p);
    else if (line.includes('incremental revoke')) for (const p of parts) owned.delete(p);
    else if (line.includes(': assigned:')) {
      owned.clear();
      for (const p of parts) owned.add(p);
    } else if (line.includes(': revoked:')) owned.clear();
  }
  return owned;
}

// ------------------------------------------------------------------ on-disk log inspection

export interface StoredBatch {
  file: string;
  position: number;
  size: number;
  baseOffset: number;
  lastOffset: number;
  codec: number;
  recordCount: number;
}

/** Segment files (`<20-digit base offset>.log`) of one partition directory, in offset order. */
export function segmentFiles(partitionDir: string): string[] {
  return readdirSync(partitionDir)
    .filter((n) => /^\d{20}\.log$/.test(n))
    .sort()
    .map((n) => join(partitionDir, n));
}

/**
 * Walks a segment file's record batches by their length fields (magic 2 layout) and stops at
 * the first one that does not fit; `validBytes` is where that walk ended.
 */
export function readSegment(file: string): { batches: StoredBatch[]; validBytes: number; size: number } {
  const buf = readFileSync(file);
  const batches: StoredBatch[] = [];
  let pos = 0;
  while (pos + 61 <= buf.length) {
    const size = 12 + buf.readInt32BE(pos + 8);
    if (buf[pos + 16] !== 2 || size < 61 || pos + size > buf.length) break;
    const baseOffset = Number(buf.readBigInt64BE(pos));
    batches.push({
      file,
      position: pos,
      size,
      baseOffset,
      lastOffset: baseOffset + buf.readInt32BE(pos + 23),
      codec: buf.readInt16BE(pos + 21) & 0x07,
      recordCount: buf.readInt32BE(pos + 57),
    });
    pos += size;
  }
  return { batches, validBytes: pos, size: buf.length };
}
