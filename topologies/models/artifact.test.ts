import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '../../engine/ml/backend.js';
import { saveModel } from '../../engine/ml/modelIo.js';
import { smallCnn } from '../images/models.js';
import { artifactDigest, storeArtifact, verifyArtifact } from './artifact.js';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

let dir: string;
before(async () => {
  await selectBackend({ backend: 'cpu' });
  dir = await mkdtemp(join(tmpdir(), 'sluice-artifact-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('model artifacts', () => {
  test('the digest is sha256sum of model.json and weights.bin, hashed again', async () => {
    const model = smallCnn({ inputSize: 8, seed: 1 });
    const out = join(dir, 'plain');
    await saveModel(model, out);
    model.dispose();
    const json = await readFile(join(out, 'model.json'));
    const weights = await readFile(join(out, 'weights.bin'));
    const listing = `${sha256(json)}  model.json\n${sha256(weights)}  weights.bin\n`;
    assert.deepEqual(await artifactDigest(out), {
      sha256: sha256(listing),
      sizeBytes: json.byteLength + weights.byteLength,
    });
  });

  test('stores content-addressed, once per content, and verification catches a changed byte', async () => {
    const models = join(dir, 'models');
    const model = smallCnn({ inputSize: 8, seed: 2 });
    const a = await storeArtifact(models, 'cnn', { model });
    const b = await storeArtifact(models, 'cnn', { model });
    model.dispose();
    assert.equal(a.dir, join(models, 'cnn', a.sha256));
    assert.equal(fileURLToPath(a.uri), a.dir);
    assert.deepEqual(b, a);
    assert.deepEqual(await readdir(join(models, 'cnn')), [a.sha256], 'no staging directory left behind');
    // From a directory: loaded and saved again, so the same model gives the same artifact.
    const c = await storeArtifact(join(dir, 'other'), 'cnn', { artifactDir: a.dir });
    assert.equal(c.sha256, a.sha256);
    await verifyArtifact(a.dir, a.sha256);
    const weights = await readFile(join(a.dir, 'weights.bin'));
    weights[0] ^= 1;
    await writeFile(join(a.dir, 'weights.bin'), weights);
    await assert.rejects(verifyArtifact(a.dir, a.sha256), { code: 'SLUICE_MODEL_ARTIFACT_MISMATCH' });
    // Storing the model again repairs the damaged directory.
    const again = smallCnn({ inputSize: 8, seed: 2 });
    const d = await storeArtifact(models, 'cnn', { model: again });
    again.dispose();
    assert.equal(d.sha256, a.sha256);
    await verifyArtifact(a.dir, a.sha256);
  });
});
