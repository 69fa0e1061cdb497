// Hive Gateway serving a supergraph with the sessions gateway as one subgraph:
//   hive-gateway supergraph supergraph.graphql -c gateway.config.mjs
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  // The sessions subgraph authenticates every call: forward the caller's credentials.
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      return {
        'x-api-key': request.headers.get('x-api-key'),
        authorization: request.headers.get('authorization'),
      };
    },
  },
});
