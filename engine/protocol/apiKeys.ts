/** Kafka API keys this protocol layer knows, and the version ranges the broker serves. */
export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  DeleteRecords: 21,
  InitProducerId: 22,
  AddPartitionsToTxn: 24,
  AddOffsetsToTxn: 25,
  EndTxn: 26,
  TxnOffsetCommit: 28,
  DescribeConfigs: 32,
  CreatePartitions: 37,
} as const;
export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];

export interface VersionRange {
  min: number;
  max: number;
}

/**
 * Only non-flexible versions: the broker speaks the classic header and encodings. Every
 * range starts at 0 because librdkafka turns off compression codecs when Produce v0 is
 * missing from the advertised range.
 */
export const supportedVersions: Readonly<Record<number, VersionRange>> = {
  [ApiKey.Produce]: { min: 0, max: 7 },
  [ApiKey.Fetch]: { min: 0, max: 11 },
  [ApiKey.ListOffsets]: { min: 0, max: 2 },
  [ApiKey.Metadata]: { min: 0, max: 8 },
  [ApiKey.OffsetCommit]: { min: 0, max: 5 },
  [ApiKey.OffsetFetch]: { min: 0, max: 4 },
  [ApiKey.FindCoordinator]: { min: 0, max: 2 },
  [ApiKey.JoinGroup]: { min: 0, max: 5 },
  [ApiKey.Heartbeat]: { min: 0, max: 3 },
  [ApiKey.LeaveGroup]: { min: 0, max: 1 },
  [ApiKey.SyncGroup]: { min: 0, max: 3 },
  [ApiKey.DescribeGroups]: { min: 0, max: 2 },
  [ApiKey.ListGroups]: { min: 0, max: 2 },
  [ApiKey.ApiVersions]: { min: 0, max: 2 },
  [ApiKey.CreateTopics]: { min: 0, max: 3 },
  [ApiKey.DeleteTopics]: { min: 0, max: 1 },
  [ApiKey.DeleteRecords]: { min: 0, max: 1 },
  [ApiKey.DescribeConfigs]: { min: 0, max: 1 },
  [ApiKey.CreatePartitions]: { min: 0, max: 1 },
  [ApiKey.InitProducerId]: { min: 0, max: 1 },
  [ApiKey.AddPartitionsToTxn]: { min: 0, max: 1 },
  [ApiKey.AddOffsetsToTxn]: { min: 0, max: 1 },
  [ApiKey.EndTxn]: { min: 0, max: 1 },
  [ApiKey.TxnOffsetCommit]: { min: 0, max: 1 },
};

export const apiName: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ApiKey).map(([name, key]) => [key, name]),
);
