/**
 * Sluice's own ML pipeline as the engine runs it (`sluice start`, `sluice projections ...`): a
 * user of engine/ like any other team's pipeline module would be.
 */
import type { Pipeline } from '../engine/pipeline.js';
import { catalogue, DEAD_LETTER_TOPIC, servedProjections } from '../projections/index.js';
import { importCommand, importUsage } from '../topologies/images/importCommand.js';

/** Dead letters come from the catalogue's topic and every topic's `<topic>.dlq` (runners write there). */
const deadLetterTopics = () => [
  DEAD_LETTER_TOPIC,
  ...catalogue()
    .topics.filter((t) => t.name !== DEAD_LETTER_TOPIC)
    .map((t) => `${t.name}.dlq`),
];

export const pipeline: Pipeline = {
  projections: ({ registry }) => servedProjections(registry, { deadLetters: { topics: deadLetterTopics() } }),
  commands: { import: { usage: importUsage, run: importCommand } },
};
