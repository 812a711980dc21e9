import { ApiKey } from '../protocol/apiKeys.js';
import * as m from '../protocol/messages/index.js';
import type { Reader } from '../protocol/reader.js';
import type { Writer } from '../protocol/writer.js';
import {
  handleCreatePartitions,
  handleCreateTopics,
  handleDeleteTopics,
  handleDescribeConfigs,
} from './handlers/admin.js';
import type { BrokerState, Handled, RequestContext } from './handlers/context.js';
import { handleFetch } from './handlers/fetch.js';
import {
  handleDescribeGroups,
  handleHeartbeat,
  handleJoinGroup,
  handleLeaveGroup,
  handleListGroups,
  handleOffsetCommit,
  handleOffsetFetch,
  handleSyncGroup,
} from './handlers/groups.js';
import { apiVersionsResponse, handleFindCoordinator, handleMetadata } from './handlers/metadata.js';
import { handleDeleteRecords, handleListOffsets } from './handlers/offsets.js';
import { handleProduce } from './handlers/produce.js';
import {
  handleAddOffsetsToTxn,
  handleAddPartitionsToTxn,
  handleEndTxn,
  handleInitProducerId,
  handleTxnOffsetCommit,
} from './handlers/transactions.js';

/** One served API: its codec pair and its handler, typed together. */
export interface Api<Req = unknown, Res = unknown> {
  decode(r: Reader, version: number): Req;
  encode(w: Writer, version: number, res: Res): void;
  handle(b: BrokerState, req: Req, version: number, ctx: RequestContext): Handled<Res>;
}

function api<Req, Res>(
  decode: (r: Reader, version: number) => Req,
  encode: (w: Writer, version: number, res: Res) => void,
  handle: (b: BrokerState, req: Req, version: number, ctx: RequestContext) => Handled<Res>,
): Api {
  return { decode, encode, handle } as Api;
}

export const apis: Readonly<Record<number, Api>> = {
  [ApiKey.Produce]: api(m.decodeProduceRequest, m.encodeProduceResponse, handleProduce),
  [ApiKey.Fetch]: api(m.decodeFetchRequest, m.encodeFetchResponse, handleFetch),
  [ApiKey.ListOffsets]: api(m.decodeListOffsetsRequest, m.encodeListOffsetsResponse, handleListOffsets),
  [ApiKey.Metadata]: api(m.decodeMetadataRequest, m.encodeMetadataResponse, handleMetadata),
  [ApiKey.OffsetCommit]: api(m.decodeOffsetCommitRequest, m.encodeOffsetCommitResponse, handleOffsetCommit),
  [ApiKey.OffsetFetch]: api(m.decodeOffsetFetchRequest, m.encodeOffsetFetchResponse, handleOffsetFetch),
  [ApiKey.FindCoordinator]: api(
    m.decodeFindCoordinatorRequest,
    m.encodeFindCoordinatorResponse,
    handleFindCoordinator,
  ),
  [ApiKey.JoinGroup]: api(m.decodeJoinGroupRequest, m.encodeJoinGroupResponse, handleJoinGroup),
  [ApiKey.Heartbeat]: api(m.decodeHeartbeatRequest, m.encodeHeartbeatResponse, handleHeartbeat),
  [ApiKey.LeaveGroup]: api(m.decodeLeaveGroupRequest, m.encodeLeaveGroupResponse, handleLeaveGroup),
  [ApiKey.SyncGroup]: api(m.decodeSyncGroupRequest, m.encodeSyncGroupResponse, handleSyncGroup),
  [ApiKey.DescribeGroups]: api(
    m.decodeDescribeGroupsRequest,
    m.encodeDescribeGroupsResponse,
    handleDescribeGroups,
  ),
  [ApiKey.ListGroups]: api(m.decodeListGroupsRequest, m.encodeListGroupsResponse, handleListGroups),
  [ApiKey.ApiVersions]: api(m.decodeApiVersionsRequest, m.encodeApiVersionsResponse, () =>
    apiVersionsResponse(),
  ),
  [ApiKey.CreateTopics]: api(m.decodeCreateTopicsRequest, m.encodeCreateTopicsResponse, handleCreateTopics),
  [ApiKey.DeleteTopics]: api(m.decodeDeleteTopicsRequest, m.encodeDeleteTopicsResponse, handleDeleteTopics),
  [ApiKey.DeleteRecords]: api(
    m.decodeDeleteRecordsRequest,
    m.encodeDeleteRecordsResponse,
    handleDeleteRecords,
  ),
  [ApiKey.DescribeConfigs]: api(
    m.decodeDescribeConfigsRequest,
    m.encodeDescribeConfigsResponse,
    handleDescribeConfigs,
  ),
  [ApiKey.InitProducerId]: api(
    m.decodeInitProducerIdRequest,
    m.encodeInitProducerIdResponse,
    handleInitProducerId,
  ),
  [ApiKey.AddPartitionsToTxn]: api(
    m.decodeAddPartitionsToTxnRequest,
    m.encodeAddPartitionsToTxnResponse,
    handleAddPartitionsToTxn,
  ),
  [ApiKey.AddOffsetsToTxn]: api(
    m.decodeAddOffsetsToTxnRequest,
    m.encodeAddOffsetsToTxnResponse,
    handleAddOffsetsToTxn,
  ),
  [ApiKey.EndTxn]: api(m.decodeEndTxnRequest, m.encodeEndTxnResponse, handleEndTxn),
  [ApiKey.TxnOffsetCommit]: api(
    m.decodeTxnOffsetCommitRequest,
    m.encodeTxnOffsetCommitResponse,
    handleTxnOffsetCommit,
  ),
  [ApiKey.CreatePartitions]: api(
    m.decodeCreatePartitionsRequest,
    m.encodeCreatePartitionsResponse,
    handleCreatePartitions,
  ),
};
