export { assertSha256, BlobNotFoundError, type BlobStore, type StoredBlob } from './blobStore.js';
export { LocalBlobStore } from './localBlobStore.js';
