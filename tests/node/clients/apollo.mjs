// Apollo Client 4 against the live gateway: pages forward and back, reads `node` from the cache,
// revokes a session and a user's sessions, and checks the watched lists follow by themselves
// (beyond `dropStatusFilteredLists`, which docs/clients.md shows). Run by tests/e2e/test_clients.py.
import assert from "node:assert/strict";

import { gql } from "@apollo/client";

import { dropStatusFilteredLists, sessionGatewayClient } from "./apollo-config.mjs";
import { NODE, NODE_AGENT, REVOKE, REVOKE_USER, SESSIONS } from "./operations.mjs";
import {
  countingFetch, done, firstSessions, idsOf, network, possibleTypes, statusOf, targets, url,
  Watched, ZITADEL, ZITADEL_ACTIVE,
} from "./scenario.mjs";

const client = () => sessionGatewayClient({ uri: url, possibleTypes, fetch: countingFetch });
const sessions = gql(SESSIONS);

function watch(apollo, name, variables) {
  const watched = new Watched(name);
  const query = apollo.watchQuery({ query: sessions, variables });
  query.subscribe({ next: (result) => watched.push(result.data?.sessions) });
  return { watched, query };
}

const truth = await firstSessions(ZITADEL, 10);
const active = await firstSessions(ZITADEL_ACTIVE, 100);
const apollo = client();

// Forward: the first page, then `fetchMore` with `after`; relayStylePagination appends.
const list = watch(apollo, "list", { filter: ZITADEL, first: 5 });
const page = await list.watched.until((c) => c.edges.length === 5, "5 edges");
await list.query.fetchMore({ variables: { after: page.pageInfo.endCursor } });
let seen = await list.watched.until((c) => c.edges.length === 10, "10 edges");
assert.deepEqual(idsOf(seen), idsOf(truth));
assert.equal(seen.totalCount, truth.totalCount);

// Backward, in a fresh cache: from the middle, then `last/before`; the page goes in front.
const back = watch(client(), "back", { filter: ZITADEL, first: 5, after: truth.edges[4].cursor });
const middle = await back.watched.until((c) => c.edges.length === 5, "5 edges");
assert.deepEqual(idsOf(middle), idsOf(truth).slice(5));
await back.query.fetchMore({
  variables: { first: null, after: null, last: 5, before: middle.pageInfo.startCursor },
});
const whole = await back.watched.until((c) => c.edges.length === 10, "10 edges");
assert.deepEqual(idsOf(whole), idsOf(truth));

// `node(id:)` of a listed session is read from the cache; a field more goes to the network
// and merges into the cached UserAgent (no "cache data may be lost" warning).
const id = truth.edges[2].node.id;
const before = network.requests;
const cached = await apollo.query({ query: gql(NODE), variables: { id } });
assert.equal(cached.data.node.status, truth.edges[2].node.status);
assert.equal(network.requests, before, "node(id:) was answered from the cache");
const agent = await apollo.query({ query: gql(NODE_AGENT), variables: { id } });
assert.equal(network.requests, before + 1);
assert.ok("osName" in agent.data.node.userAgent);
seen = list.watched.latest;
assert.equal(seen.edges[2].node.userAgent.browserName, truth.edges[2].node.userAgent.browserName);

// Revoke one session: its status changes in the list by id; the ACTIVE list fetches again.
const { session, user, userOpen } = targets(truth, active);
const activeList = watch(apollo, "active", { filter: ZITADEL_ACTIVE, first: 100 });
await activeList.watched.until((c) => c.edges.length === active.edges.length, "all active");
const revoked = await apollo.mutate({
  mutation: gql(REVOKE),
  variables: { id: session },
  update: dropStatusFilteredLists,
});
assert.equal(revoked.data.revokeSession.__typename, "SessionRevoked");
assert.deepEqual(revoked.data.revokeSession.session, { __typename: "Session", id: session, status: "REVOKED" });
await list.watched.until((c) => statusOf(c, session) === "REVOKED", "the session is REVOKED");
await activeList.watched.until(
  (c) => !idsOf(c).includes(session) && c.totalCount === active.totalCount - 1,
  "the ACTIVE list lost it",
);

// Revoke a user's sessions: each comes back by id with its ended status.
const ended = await apollo.mutate({
  mutation: gql(REVOKE_USER),
  variables: { userId: user },
  update: dropStatusFilteredLists,
});
const endedIds = ended.data.revokeUserSessions.sessions.map((s) => s.id);
// The open ones at least (ZITADEL also deletes the user's expired and pending sessions).
assert.ok(userOpen.every((i) => endedIds.includes(i)), "every active session ended");
assert.ok(ended.data.revokeUserSessions.sessions.every((s) => s.status === "REVOKED"));
const listed = idsOf(truth).filter((i) => endedIds.includes(i));
assert.ok(listed.length >= 1);
await list.watched.until((c) => listed.every((i) => statusOf(c, i) === "REVOKED"), "the user's sessions are REVOKED");
await activeList.watched.until(
  (c) => userOpen.every((i) => !idsOf(c).includes(i)) && c.totalCount === active.totalCount - 1 - userOpen.length,
  "the ACTIVE list lost the user's sessions",
);

done("apollo");
process.exit(0);
