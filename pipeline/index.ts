/**
 * Sluice's own ML pipeline as the engine runs it (`sluice start`, `sluice projections ...`): a
 * user of engine/ like any other team's pipeline module would be.
 */
import { join } from 'node:path';
import { LocalBlobStore } from '../engine/blob/index.js';
import type { Pipeline, PipelineServices } from '../engine/pipeline.js';
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

interface Shared {
  /** One registry per cluster (a second with the same transactional id fences the first). */
  models: ModelRegistry;
  trainer: Trainer;
}

/** What the hooks of one `sluice start` share, made once per its context. */
const perStart = new WeakMap<PipelineServices, Promise<Shared>>();

function shared(ctx: PipelineServices): Promise<Shared> {
  let s = perStart.get(ctx);
  if (!s) {
    s = (async () => {
      const { kafka, registry, dataDir, blobDir } = ctx;
      const modelsDir = join(dataDir, 'models');
      const models = await ModelRegistry.start({ kafka, registry, modelsDir });
      const trainer = await Trainer.start({
        kafka,
        registry,
        blobs: new LocalBlobStore(blobDir),
        modelsDir,
        // Every completed run becomes a version; the first of a model becomes its champion.
        onCompleted: (run, artifactDir, inputShape, featureSet) =>
          models.register({
            modelName: run.modelName,
            artifactDir,
            classLabels: run.classLabels,
            featureSet,
            inputShape,
            metrics: run.metrics,
            runId: run.runId,
            registeredBy: 'trainer',
          }),
      });
      return { models, trainer };
    })();
    perStart.set(ctx, s);
  }
  return s;
}

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
  services: async (ctx) => {
    const { models, trainer } = await shared(ctx);
    return [trainer, models];
  },
  http: async (app, ctx) => {
    const { kafka, registry, blobDir } = ctx;
    const ingest = await ImageIngest.start({ kafka, registry, blobs: new LocalBlobStore(blobDir) });
    app.addHook('onClose', () => ingest.close());
    await registerImageRoutes(app, ingest);
    const training = await TrainingRequests.start(kafka, registry);
    app.addHook('onClose', () => training.close());
    registerTrainingRoutes(app, training);
    await registerModelRoutes(app, (await shared(ctx)).models);
  },
  commands: {
    import: { usage: importUsage, run: importCommand },
    train: { usage: trainUsage, run: trainCommand },
  },
};
