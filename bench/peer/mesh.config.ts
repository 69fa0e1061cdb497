// GraphQL Mesh composition of the four mock upstreams, for bench/run. The upstream origins and
// credentials come from the environment bench/run sets (BENCH_*), baked into the supergraph.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadOpenAPISubgraph('privx', {
        source: './openapi/privx.yaml',
        endpoint: env('BENCH_PRIVX_URL'),
        operationHeaders: { Authorization: `Bearer ${env('BENCH_PRIVX_TOKEN')}` },
        // A search is a read: a Query field, not the Mutation POST would give.
        selectQueryOrMutationField: [{ type: 'Query', fieldName: 'privx_search_sessions' }],
      }),
    },
    {
      sourceHandler: loadOpenAPISubgraph('prefactor', {
        source: './openapi/prefactor.yaml',
        endpoint: env('BENCH_PREFACTOR_URL'),
        operationHeaders: { Authorization: `Bearer ${env('BENCH_PREFACTOR_TOKEN')}` },
      }),
    },
    {
      sourceHandler: loadOpenAPISubgraph('zitadel', {
        source: './openapi/zitadel.yaml',
        endpoint: env('BENCH_ZITADEL_URL'),
        operationHeaders: { Authorization: `Bearer ${env('BENCH_ZITADEL_TOKEN')}` },
        selectQueryOrMutationField: [{ type: 'Query', fieldName: 'zitadel_list_sessions' }],
      }),
    },
    {
      sourceHandler: loadOpenAPISubgraph('hyperid', {
        source: './openapi/hyperid.yaml',
        endpoint: env('BENCH_HYPERID_URL'),
        operationHeaders: { Cookie: env('BENCH_HYPERID_COOKIE') },
      }),
    },
  ],
});
