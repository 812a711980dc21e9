export { type StreamOptions, StreamsBuilder, type TableOptions } from './builder.js';
export type {
  Cancellable,
  Headers,
  Processor,
  ProcessorContext,
  ProcessorSupplier,
  PunctuationType,
  RawRecord,
  RejectReason,
  Serde,
  SourcePosition,
  SourceTopicSpec,
  StoreHandle,
  StreamRecord,
  SubtopologyDescription,
  TaskIO,
} from './contracts.js';
export { RecordRejectedError, SerdeError, TopologyError } from './errors.js';
export { KGroupedStream, SessionWindowedKStream, TimeWindowedKStream } from './grouped.js';
export { type JoinableTable, KStream, type StreamStreamJoinOptions } from './kstream.js';
export { KTable, type MaybeMaterialized, WindowedKTable } from './ktable.js';
export type { Materialized, Named, RepartitionOptions, StoreDeclaration } from './options.js';
export type { KeyValue } from './processors/stateless.js';
export { type AvroSerdeOptions, avroSerde } from './runtime/avroSerde.js';
export { avroDeadLetterEncoder, type DeadLetterValue, toDeadLetterValue } from './runtime/deadLetters.js';
export {
  type DeadLetterFailure,
  type ProcessingGuarantee,
  StreamsApp,
  type StreamsAppOptions,
} from './runtime/streamsApp.js';
export { type StreamsAppFactory, StreamThreads, type StreamThreadsOptions } from './runtime/streamThreads.js';
export { Serdes } from './serdes.js';
export { Task, type TaskOptions } from './task.js';
export {
  type DeadLetter,
  type TestInputTopic,
  type TestOutputTopic,
  type TestRecord,
  TopologyTestDriver,
  type TopologyTestDriverOptions,
} from './testDriver.js';
export { Topology } from './topology.js';
export {
  JoinWindows,
  SessionWindows,
  SlidingWindows,
  TimeWindows,
  type Window,
  type Windowed,
} from './windows.js';
