/**
 * Sluice's own ML pipeline as the engine runs it (`sluice start`, `sluice projections ...`): a
 * user of engine/ like any other team's pipeline module would be.
 */
import { join } from 'node:path';
import { LocalBlobStore } from '../engine/blob/index.js';
import type { Pipeline } from '../engine/pipeline.js';
import { StreamsBuilder } from '../engine/topology/index.js';
import { catalogue, DEAD_LETTER_TOPIC, servedProjections } from '../projections/index.js';
import { imageFeatures } from '../topologies/images/features.js';
import { importCommand, importUsage } from '../topologies/images/importCommand.js';
import { ImageIngest } from '../topologies/images/ingest.js';
import { registerImageRoutes } from '../topologies/images/routes.js';
import { trainCommand, trainUsage } from '../topologies/images/trainCommand.js';
import { Trainer } from '../topologies/images/trainer.js';
import { registerTrainingRoutes, TrainingRequests } from '../topologies/images/trainingRoutes.js';
import { ModelRegistry } from '../topologies/models/modelRegistry.js';
import { registerModelRoutes } from '../topologies/models/routes.js';

/** Dead letters come from the catalogue's topic and every topic's `<topic>.dlq` (runners write there). */
const deadLetterTopics = () => [
  DEAD_LETTER_TOPIC,
  ...catalogue()
    .topics.filter((t) => t.name !== DEAD_LETTER_TOPIC)
    .map((t) => `${t.name}.dlq`),
];

export const pipeline: Pipeline = {
  projections: ({ registry }) => servedProjections(registry, { deadLetters: { topics: deadLetterTopics() } }),
  streams: ({ kafka, registry, dataDir, blobDir }) => {
    const features = new StreamsBuilder();
    imageFeatures(features, { registry, blobs: new LocalBlobStore(blobDir) });
    return [
      {
        applicationId: 'sluice-image-features',
        kafka,
        topology: features.build(),
        stateDir: join(dataDir, 'streams'),
      },
    ];
  },
  services: async ({ kafka, registry, dataDir, blobDir }) => [
    await Trainer.start({
      kafka,
      registry,
      blobs: new LocalBlobStore(blobDir),
      modelsDir: join(dataDir, 'models'),
    }),
  ],
  http: async (app, { kafka, registry, dataDir, blobDir }) => {
    const ingest = await ImageIngest.start({ kafka, registry, blobs: new LocalBlobStore(blobDir) });
    app.addHook('onClose', () => ingest.close());
    await registerImageRoutes(app, ingest);
    const training = await TrainingRequests.start(kafka, registry);
    app.addHook('onClose', () => training.close());
    registerTrainingRoutes(app, training);
    // One registry per cluster (a second with the same transactional id fences the first): pass
    // this instance to anything else in the process that registers or promotes versions.
    const models = await ModelRegistry.start({ kafka, registry, modelsDir: join(dataDir, 'models') });
    app.addHook('onClose', () => models.close());
    await registerModelRoutes(app, models);
  },
  commands: {
    import: { usage: importUsage, run: importCommand },
    train: { usage: trainUsage, run: trainCommand },
  },
};
