import type { Message, ProducerBatch, TopicMessages } from 'kafkajs';

/**
 * Bytes of records per sendBatch. kafkajs puts all of a request's records for one partition in
 * one record batch, and a broker refuses batches over message.max.bytes (1 MiB by default), so
 * a commit of a fast task, or a burst of outputs, must go in several requests.
 */
export const MAX_REQUEST_BYTES = 512 * 1024;
/** Framing of a record in a batch, roughly: length, attributes, deltas, key and value lengths. */
const RECORD_OVERHEAD = 24;

/**
 * Splits topicMessages into sendBatch calls of at most `maxBytes` of records each (a record
 * larger than that goes alone), keeping the order of every topic's messages.
 */
export function inRequests(topicMessages: TopicMessages[], maxBytes = MAX_REQUEST_BYTES): TopicMessages[][] {
  const requests: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let bytes = 0;
  const close = () => {
    const nonEmpty = current.filter((t) => t.messages.length > 0);
    if (nonEmpty.length > 0) requests.push(nonEmpty);
    current = [];
    bytes = 0;
  };
  for (const { topic, messages } of topicMessages) {
    let part: Message[] = [];
    current.push({ topic, messages: part });
    for (const m of messages) {
      const size = recordBytes(m);
      if (bytes > 0 && bytes + size > maxBytes) {
        close();
        part = [];
        current.push({ topic, messages: part });
      }
      part.push(m);
      bytes += size;
    }
  }
  close();
  return requests;
}

function byteLength(v: Buffer | string | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

/** A record's size in a batch, roughly (headers included). */
export function recordBytes(m: Message): number {
  let size = RECORD_OVERHEAD + byteLength(m.key) + byteLength(m.value);
  for (const k in m.headers) {
    const v = m.headers[k];
    size +=
      Buffer.byteLength(k) + (Array.isArray(v) ? v.reduce((n, x) => n + byteLength(x), 0) : byteLength(v));
  }
  return size;
}

/** Sends topicMessages (acks=all) through a producer or a transaction, in requests of inRequests. */
export async function sendInRequests(
  sender: { sendBatch(batch: ProducerBatch): Promise<unknown> },
  topicMessages: TopicMessages[],
): Promise<void> {
  for (const chunk of inRequests(topicMessages)) await sender.sendBatch({ topicMessages: chunk, acks: -1 });
}
