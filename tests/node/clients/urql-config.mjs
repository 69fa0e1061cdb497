// tests/node/clients/urql-config.mjs: urql with graphcache for session-gateway (docs/clients.md).
import { Client, fetchExchange } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";
import { relayPagination } from "@urql/exchange-graphcache/extras";

// Objects without an id are embedded in the object holding them (no warning per object).
const EMBEDDED = [
  "AuthorizationConnection", "AuthorizationEdge", "Factor", "Factors", "Header",
  "HyperIdSessionExtras", "Interaction", "KratosDevice", "KratosMethod", "KratosSessionExtras",
  "Metadata", "PageInfo", "PrefactorSessionExtras", "PrivxSessionExtras", "ProviderInfo",
  "SessionConnection", "SessionEdge", "UserAgent", "UserSessionsRevoked", "WebAuthNFactor",
  "ZitadelSessionExtras", "Viewer", "SignOutResult", "SignOutFailure", "BulkRevokeResult",
];

// Lists filtered by status hold sessions a revoke ended (and count them): drop them, and the
// queries watching them fetch again. Other lists see the new status by id, by themselves.
function dropStatusFilteredLists(cache) {
  for (const field of cache.inspectFields("Query")) {
    if (field.fieldName === "sessions" && field.arguments?.filter?.statuses) {
      cache.invalidate("Query", field.fieldName, field.arguments);
    }
  }
}

// `schema`: the gateway's introspection result, e.g.
//   introspectionFromSchema(buildSchema(readFileSync("schema.graphql", "utf8")))
// from `session-gateway export-schema`. With possibleTypes alone, graphcache matches fragments
// when reading but warns about every other member of a union when writing a mutation result.
export function sessionGatewayCache(schema) {
  const nodeTypes = schema.__schema.types
    .find((type) => type.name === "Node")
    .possibleTypes.map((type) => type.name);
  return cacheExchange({
    schema,
    keys: Object.fromEntries(EMBEDDED.map((name) => [name, () => null])),
    resolvers: {
      Query: {
        // "outwards": a page fetched with `last/before` goes in front of those fetched with
        // `first/after`, so a list opened in the middle pages back in order.
        sessions: relayPagination({ mergeMode: "outwards" }),
        // A cached object by global id, whichever Node type it is; else the network.
        node: (_, { id }, cache) =>
          nodeTypes.map((__typename) => cache.keyOfEntity({ __typename, id })).find(
            (key) => cache.resolve(key, "id") === id,
          ),
        session: (_, { id }, cache) => cache.keyOfEntity({ __typename: "Session", id }),
      },
      Session: { authorizations: relayPagination() },
      // The caller's person and its sessions (the account page).
      Person: { sessions: relayPagination() },
      Viewer: { sessions: relayPagination() },
    },
    updates: {
      Mutation: {
        revokeSession: (_result, _args, cache) => dropStatusFilteredLists(cache),
        revokeUserSessions: (_result, _args, cache) => dropStatusFilteredLists(cache),
        signOutOtherSessions: (_result, _args, cache) => dropStatusFilteredLists(cache),
      },
    },
  });
}

export function sessionGatewayClient({ url, headers, schema, fetch }) {
  return new Client({
    url,
    fetch,
    fetchOptions: { headers },
    exchanges: [sessionGatewayCache(schema), fetchExchange],
  });
}
