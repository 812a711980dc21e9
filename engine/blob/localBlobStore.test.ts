import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BlobNotFoundError, LocalBlobStore } from './index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
    )
    .sort();
}

describe('LocalBlobStore', () => {
  let root: string;
  let store: LocalBlobStore;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'sluice-blobs-'));
    store = new LocalBlobStore(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('stores bytes at <root>/ab/cd/<sha256> and answers a file:// URI to them', async () => {
    const bytes = Buffer.from('hello, blob');
    const h = sha(bytes);
    const stored = await store.put(bytes);
    assert.deepEqual(stored, {
      sha256: h,
      uri: `file://${root}/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`,
      sizeBytes: bytes.length,
      created: true,
    });
    assert.equal(stored.uri, store.uriOf(h));
    assert.deepEqual(readFileSync(fileURLToPath(stored.uri)), bytes);
    assert.deepEqual(filesUnder(root), [`${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`]);
    assert.deepEqual(await store.get(h), bytes);
    assert.equal(await store.has(h), true);
  });

  it('deduplicates: the same bytes again are not written again and say created: false', async () => {
    const bytes = Buffer.from([1, 2, 3, 4]);
    const first = await store.put(bytes);
    const mtime = statSync(fileURLToPath(first.uri)).mtimeMs;
    const second = await store.put(Uint8Array.from(bytes));
    assert.equal(first.created, true);
    assert.deepEqual(second, { ...first, created: false });
    assert.equal(statSync(fileURLToPath(first.uri)).mtimeMs, mtime);
    assert.equal(filesUnder(root).length, 1);
  });

  it('concurrent puts of the same bytes store one file and exactly one says created', async () => {
    const bytes = Buffer.alloc(256 * 1024, 7);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.put(bytes)));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.deepEqual(filesUnder(root), [`${sha(bytes).slice(0, 2)}/${sha(bytes).slice(2, 4)}/${sha(bytes)}`]);
    assert.deepEqual(await store.get(sha(bytes)), bytes);
  });

  it('leaves no temporary file behind and stores the empty blob too', async () => {
    await store.put(Buffer.alloc(0));
    await store.put(Buffer.from('x'));
    const files = filesUnder(root);
    assert.equal(files.length, 2);
    assert.ok(
      files.every((f) => !f.split('/').pop()!.startsWith('.')),
      files.join(),
    );
    assert.deepEqual(await store.get(sha(Buffer.alloc(0))), Buffer.alloc(0));
  });

  it('replaces a blob file whose size does not match its address (a torn copy from outside)', async () => {
    const bytes = Buffer.from('the real content');
    const h = sha(bytes);
    const { uri } = await store.put(bytes);
    writeFileSync(fileURLToPath(uri), 'torn');
    const again = await store.put(bytes);
    assert.equal(again.created, true);
    assert.deepEqual(await store.get(h), bytes);
  });

  it('get of a missing blob rejects with BlobNotFoundError; has answers false', async () => {
    const h = sha(Buffer.from('never stored'));
    await assert.rejects(store.get(h), (err: unknown) => {
      assert.ok(err instanceof BlobNotFoundError);
      assert.equal(err.code, 'SLUICE_BLOB_NOT_FOUND');
      assert.equal(err.sha256, h);
      return true;
    });
    assert.equal(await store.has(h), false);
  });

  it('refuses addresses that are not lowercase hex SHA-256 before they reach a path', async () => {
    for (const bad of [
      '../../etc/passwd',
      'A'.repeat(64),
      'ab',
      `${'a'.repeat(63)}/`,
      `${'0'.repeat(64)}\n`,
    ]) {
      await assert.rejects(store.get(bad), TypeError, bad);
      await assert.rejects(store.has(bad), TypeError, bad);
      assert.throws(() => store.uriOf(bad), TypeError, bad);
    }
  });
});
