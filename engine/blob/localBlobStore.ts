import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertSha256, BlobNotFoundError, type BlobStore, type StoredBlob } from './blobStore.js';

const isCode = (err: unknown, ...codes: string[]) => codes.includes((err as { code?: string }).code ?? '');

/**
 * Blobs in a local directory, content-addressed: `<root>/ab/cd/<sha256>` (the address's first two
 * byte pairs fan the files out over 65,536 directories). A blob appears whole or not at all: the
 * bytes go to a temporary file in the target directory, are fsynced, and are then linked into
 * place, so two writers of the same bytes never clobber each other and exactly one reports
 * `created: true`. The directory is fsynced after, so a stored blob survives a crash.
 */
export class LocalBlobStore implements BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The file of a blob; the address is validated before it reaches a path. */
  pathOf(sha256: string): string {
    assertSha256(sha256);
    return join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  uriOf(sha256: string): string {
    return pathToFileURL(this.pathOf(sha256)).href;
  }

  async put(bytes: Uint8Array): Promise<StoredBlob> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const path = this.pathOf(sha256);
    const found = await this.sizeOf(path);
    const stored = { sha256, uri: this.uriOf(sha256), sizeBytes: bytes.byteLength };
    // Same address, same bytes: a file of another size is a torn write from outside, and is replaced.
    if (found === bytes.byteLength) return { ...stored, created: false };
    const dir = join(this.root, sha256.slice(0, 2), sha256.slice(2, 4));
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${sha256}.${randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await fh.close();
    let created = true;
    try {
      if (found === null) await linkOrRename(tmp, path);
      else await rename(tmp, path);
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw err;
      created = false;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    await fsyncDir(dir);
    return { ...stored, created };
  }

  async get(sha256: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(sha256));
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new BlobNotFoundError(sha256);
      throw err;
    }
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.sizeOf(this.pathOf(sha256))) !== null;
  }

  private async sizeOf(path: string): Promise<number | null> {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return null;
      throw err;
    }
  }
}

/** `link` refuses to replace an existing file (EEXIST); file systems without hard links get a rename. */
async function linkOrRename(tmp: string, path: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (err) {
    if (!isCode(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK')) throw err;
    await rename(tmp, path);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some platforms cannot fsync a directory; the rename itself is still atomic there.
    if (!isCode(err, 'EINVAL', 'EISDIR', 'EPERM')) throw err;
  } finally {
    await fh.close();
  }
}
