// Hive Gateway for bench/run: the supergraph bench/run composed, defaults otherwise.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  supergraph: './build/supergraph.graphql',
  logging: 'warn',
});
