export { CatalogueError, type CatalogueErrorCode } from './catalogueError.js';
export {
  type Catalogue,
  catalogueFileName,
  type LoadCatalogueOptions,
  loadCatalogue,
} from './loadCatalogue.js';
export { fullNameOf, type LogicalTypes, type SchemaEntry } from './schemaFile.js';
export {
  type CleanupPolicy,
  cleanupPolicies,
  type SubjectStrategy,
  subjectName,
  subjectStrategies,
  type TopicKey,
  type TopicSpec,
  type TopicSubject,
} from './topicSpec.js';
