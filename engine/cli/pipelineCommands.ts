import { config } from '../config.js';
import { loadPipeline, type PipelineCommand } from '../pipeline.js';
import { UsageError } from './usage.js';

/**
 * The command `name` of the pipeline module (SLUICE_PIPELINE), for names the engine does not
 * know: the engine never imports a pipeline, it asks the configured one for its `commands`.
 */
export async function pipelineCommand(name: string): Promise<PipelineCommand> {
  const path = config().SLUICE_PIPELINE;
  if (!path) throw new UsageError(`unknown command "${name}"`);
  let commands: Record<string, PipelineCommand>;
  try {
    commands = (await loadPipeline(path)).commands ?? {};
  } catch (err) {
    throw new UsageError(`unknown command "${name}" (pipeline not loaded: ${(err as Error).message})`);
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) throw new UsageError(`unknown command "${name}"`);
  return command;
}

/** The usage lines of the pipeline's commands for `sluice help`; empty when there are none. */
export async function pipelineUsage(): Promise<string> {
  const path = config().SLUICE_PIPELINE;
  if (!path) return '';
  try {
    const commands = Object.values((await loadPipeline(path)).commands ?? {});
    return commands.length === 0
      ? ''
      : `\nCommands of the pipeline (${path}):\n${commands.map((c) => c.usage).join('\n')}\n`;
  } catch {
    return '';
  }
}
