// tests/node/clients/apollo-config.mjs: Apollo Client 4 for session-gateway (docs/clients.md).
import { ApolloClient, HttpLink, InMemoryCache } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";

// Global ids are unique across types, so objects with one are keyed by it alone: that lets
// `node(id:)` and `session(id:)` find a cached object without knowing its type.
const byGlobalId = (object) => object.id;
// Objects without an id belong to the object holding them: merge what two queries selected.
const embedded = { merge: true };

export function sessionGatewayCache(possibleTypes) {
  return new InMemoryCache({
    // `session-gateway export-schema --possible-types`: fragments on Node, SessionExtras and
    // RevokeSessionResult match without guessing.
    possibleTypes,
    typePolicies: {
      Query: {
        fields: {
          // One list per filter and order; `first/after/last/before` page through it.
          sessions: relayStylePagination(["filter", "orderBy"]),
          node: { read: (_, { args, toReference }) => toReference(args.id) },
          session: { read: (_, { args, toReference }) => toReference(args.id) },
        },
      },
      Session: {
        keyFields: byGlobalId,
        fields: { authorizations: relayStylePagination() },
      },
      SessionUser: { keyFields: byGlobalId },
      // The caller's person and its sessions (the account page): one list per filter and order.
      Person: {
        keyFields: byGlobalId,
        fields: { sessions: relayStylePagination(["filter", "orderBy"]) },
      },
      Viewer: { merge: true, fields: { sessions: relayStylePagination(["filter", "orderBy"]) } },
      Authorization: { keyFields: byGlobalId },
      UserAgent: embedded,
      Factors: embedded,
      Factor: embedded,
      WebAuthNFactor: embedded,
      Interaction: embedded,
      PrivxSessionExtras: embedded,
      PrefactorSessionExtras: embedded,
      ZitadelSessionExtras: embedded,
      HyperIdSessionExtras: embedded,
      KratosSessionExtras: embedded,
    },
  });
}

export function sessionGatewayClient({ uri, headers, possibleTypes, fetch }) {
  return new ApolloClient({
    link: new HttpLink({ uri, headers, fetch }),
    cache: sessionGatewayCache(possibleTypes),
    // A provider that fails leaves an error and a partial page: keep the healthy providers'
    // data instead of throwing it away (Apollo's default is "none").
    defaultOptions: {
      watchQuery: { errorPolicy: "all" },
      query: { errorPolicy: "all" },
      mutate: { errorPolicy: "all" },
    },
  });
}

// A revoke changes the ended sessions' status in every cached list by itself (the mutation
// answers them by id). Lists filtered by status would still hold them and count them: drop
// those lists, and the queries watching them fetch again.
export function dropStatusFilteredLists(cache) {
  cache.modify({
    id: "ROOT_QUERY",
    fields: {
      sessions: (existing, { storeFieldName, DELETE }) =>
        storeFieldName.includes('"statuses"') ? DELETE : existing,
    },
  });
}
