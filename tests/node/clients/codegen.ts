// tests/node/clients/codegen.ts: GraphQL Code Generator for session-gateway (docs/clients.md).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  // `session-gateway export-schema > schema.graphql` (or the gateway's URL: introspection).
  schema: process.env.GATEWAY_SCHEMA ?? "../../../schema.graphql",
  documents: ["typed/*.graphql"],
  generates: {
    "typed/generated.ts": {
      plugins: ["typescript-operations"],
      config: {
        // DateTime is an RFC 3339 string (see its @specifiedBy): `new Date(value)` reads it.
        scalars: { DateTime: "string" },
        // Fail on a scalar without a mapping instead of typing it `any`.
        strictScalars: true,
        enumsAsTypes: true,
        avoidOptionals: { field: true },
      },
    },
  },
};

export default config;
