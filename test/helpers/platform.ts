import { type RunningRegistry, startRegistry } from '../../engine/registry/index.js';
import { withBroker } from './broker.js';

/** The embedded broker and a schema registry on it, both on free ports. */
export async function withPlatform(): Promise<{
  bootstrap: string;
  registryUrl: string;
  registry: RunningRegistry;
  stop(): Promise<void>;
}> {
  const env = await withBroker();
  const registry = await startRegistry({ port: 0, bootstrapServers: [env.bootstrap] });
  return {
    bootstrap: env.bootstrap,
    registryUrl: registry.url,
    registry,
    async stop() {
      await registry.close();
      await env.stop();
    },
  };
}
