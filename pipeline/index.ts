/**
 * Sluice's own ML pipeline as the engine runs it (`sluice start`, `sluice projections ...`): a
 * user of engine/ like any other team's pipeline module would be.
 */
import { join } from 'node:path';
import { LocalBlobStore } from '../engine/blob/index.js';
import { selectBackend } from '../engine/ml/backend.js';
import type { Pipeline, PipelineServices } from '../engine/pipeline.js';
import { StreamsBuilder } from '../engine/topology/index.js';
import { catalogue, DEAD_LETTER_TOPIC, servedProjections } from '../projections/index.js';
import { imageFeatures } from '../topologies/images/features.js';
import { importCommand, importUsage } from '../topologies/images/importCommand.js';
import { Predictor } from '../topologies/images/inference.js';
import { imageInference } from '../topologies/images/inferenceTopology.js';
import { ImageIngest } from '../topologies/images/ingest.js';
import { PredictionPublisher } from '../topologies/images/predictionEvents.js';
import { registerPredictRoutes } from '../topologies/images/predictRoutes.js';
import { DEFAULT_RECIPE } from '../topologies/images/preprocess.js';
import { registerImageRoutes } from '../topologies/images/routes.js';
import { trainCommand, trainUsage } from '../topologies/images/trainCommand.js';
import { Trainer } from '../topologies/images/trainer.js';
import { registerTrainingRoutes, TrainingRequests } from '../topologies/images/trainingRoutes.js';
import { ModelRegistry } from '../topologies/models/modelRegistry.js';
import { RegistryModelSource } from '../topologies/models/registryModelSource.js';
import { registerModelRoutes } from '../topologies/models/routes.js';

/** Dead letters come from the catalogue's topic and every topic's `<topic>.dlq` (runners write there). */
const deadLetterTopics = () => [
  DEAD_LETTER_TOPIC,
  ...catalogue()
    .topics.filter((t) => t.name !== DEAD_LETTER_TOPIC)
    .map((t) => `${t.name}.dlq`),
];

/** The model the image topologies and POST /v1/predict serve by default. */
const IMAGE_MODEL = process.env.SLUICE_IMAGE_MODEL || 'images';
/** Side of the square RGB input images are resized to (224 for MobileNetV2; smaller for demos and tests). */
const IMAGE_SIZE = Number(process.env.SLUICE_IMAGE_SIZE || 224);
const FEATURE_SET = `image-${IMAGE_SIZE}x${IMAGE_SIZE}-rgb`;

interface Shared {
  /** One registry per cluster (a second with the same transactional id fences the first). */
  models: ModelRegistry;
  trainer: Trainer;
  source: RegistryModelSource;
  /** Shared by the inference topology and POST /v1/predict: one micro-batcher and cache per model version. */
  predictor: Predictor;
}

/** What the hooks of one `sluice start` share, made once per its context. */
const perStart = new WeakMap<PipelineServices, Promise<Shared>>();

function shared(ctx: PipelineServices): Promise<Shared> {
  let s = perStart.get(ctx);
  if (!s) {
    s = (async () => {
      const { kafka, registry, dataDir, blobDir } = ctx;
      // This thread's TensorFlow.js backend (evaluation after training, inference); SLUICE_TF_BACKEND forces one.
      await selectBackend();
      const modelsDir = join(dataDir, 'models');
      const models = await ModelRegistry.start({ kafka, registry, modelsDir });
      const trainer = await Trainer.start({
        kafka,
        registry,
        blobs: new LocalBlobStore(blobDir),
        modelsDir,
        defaultFeatureSet: FEATURE_SET,
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
      const source = await RegistryModelSource.start({ kafka, registry });
      const predictor = await Predictor.create({ source, redisUrl: process.env.REDIS_URL || undefined });
      return { models, trainer, source, predictor };
    })();
    perStart.set(ctx, s);
  }
  return s;
}

export const pipeline: Pipeline = {
  projections: ({ registry }) => servedProjections(registry, { deadLetters: { topics: deadLetterTopics() } }),
  streams: async (ctx) => {
    const { kafka, registry, dataDir, blobDir } = ctx;
    const blobs = new LocalBlobStore(blobDir);
    const features = new StreamsBuilder();
    imageFeatures(features, {
      registry,
      blobs,
      recipe: { ...DEFAULT_RECIPE, width: IMAGE_SIZE, height: IMAGE_SIZE },
    });
    const inference = new StreamsBuilder();
    imageInference(inference, {
      registry,
      blobs,
      predictor: (await shared(ctx)).predictor,
      modelName: IMAGE_MODEL,
    });
    const app = (applicationId: string, builder: StreamsBuilder) => ({
      applicationId,
      kafka,
      topology: builder.build(),
      stateDir: join(dataDir, 'streams'),
    });
    return [app('sluice-image-features', features), app('sluice-image-inference', inference)];
  },
  services: async (ctx) => {
    const { models, trainer, source, predictor } = await shared(ctx);
    // Closed in reverse: the predictor before the source it reads, the trainer before the registry.
    return [models, trainer, source, predictor];
  },
  ready: (ctx) => ({
    model: async () => {
      if (!(await shared(ctx)).source.champion(IMAGE_MODEL))
        throw new Error(`model ${IMAGE_MODEL} has no champion yet`);
    },
  }),
  http: async (app, ctx) => {
    const { kafka, registry, blobDir } = ctx;
    const ingest = await ImageIngest.start({ kafka, registry, blobs: new LocalBlobStore(blobDir) });
    app.addHook('onClose', () => ingest.close());
    await registerImageRoutes(app, ingest);
    const training = await TrainingRequests.start(kafka, registry);
    app.addHook('onClose', () => training.close());
    registerTrainingRoutes(app, training);
    const { models, predictor } = await shared(ctx);
    await registerModelRoutes(app, models);
    const publisher = await PredictionPublisher.start({ kafka, registry });
    app.addHook('onClose', () => publisher.close());
    await registerPredictRoutes(app, {
      predictor,
      modelName: IMAGE_MODEL,
      blobs: new LocalBlobStore(blobDir),
      publisher,
      lookupUpload: async (uploadId) => {
        const { rows } = await ctx.database.query<{ sha256: string; subject_id: string }>(
          'SELECT sha256, subject_id FROM uploads WHERE upload_id = $1 LIMIT 1',
          [uploadId],
        );
        return rows[0] ? { sha256: rows[0].sha256, subjectId: rows[0].subject_id } : null;
      },
    });
  },
  commands: {
    import: { usage: importUsage, run: importCommand },
    train: { usage: trainUsage, run: trainCommand },
  },
};
