// urql with graphcache against the live gateway: the same scenario as apollo.mjs, with the
// updates of urql-config.mjs (quoted by docs/clients.md). Run by tests/e2e/test_clients.py.
import assert from "node:assert/strict";

import { readFileSync } from "node:fs";

import { gql } from "@urql/core";
import { buildSchema, introspectionFromSchema } from "graphql";
import { pipe, subscribe } from "wonka";

import { sessionGatewayClient } from "./urql-config.mjs";
import { NODE, NODE_AGENT, REVOKE, REVOKE_USER, SESSIONS } from "./operations.mjs";
import {
  countingFetch, done, firstSessions, idsOf, network, schemaFile, statusOf, targets, url,
  Watched, ZITADEL, ZITADEL_ACTIVE,
} from "./scenario.mjs";

const schema = introspectionFromSchema(buildSchema(readFileSync(schemaFile, "utf8")));
const client = () => sessionGatewayClient({ url, schema, fetch: countingFetch });
const sessions = gql(SESSIONS);

function watch(urql, name, variables) {
  const watched = new Watched(name);
  pipe(
    urql.query(sessions, variables),
    subscribe((result) => {
      if (result.error) watched.push(undefined);
      else watched.push(result.data?.sessions);
    }),
  );
  return watched;
}

async function run(urql, query, variables) {
  const result = await urql.query(query, variables).toPromise();
  assert.equal(result.error, undefined, String(result.error));
  return result.data;
}

const truth = await firstSessions(ZITADEL, 10);
const active = await firstSessions(ZITADEL_ACTIVE, 100);
const urql = client();

// Forward: the watched first page grows when the next page is fetched (relayPagination).
const list = watch(urql, "list", { filter: ZITADEL, first: 5 });
const page = await list.until((c) => c.edges.length === 5, "5 edges");
await run(urql, sessions, { filter: ZITADEL, first: 5, after: page.pageInfo.endCursor });
let seen = await list.until((c) => c.edges.length === 10, "10 edges");
assert.deepEqual(idsOf(seen), idsOf(truth));
assert.equal(seen.totalCount, truth.totalCount);

// Backward, in a fresh cache: from the middle, then `last/before` goes in front ("outwards").
const other = client();
const back = watch(other, "back", { filter: ZITADEL, first: 5, after: truth.edges[4].cursor });
const middle = await back.until((c) => c.edges.length === 5, "5 edges");
assert.deepEqual(idsOf(middle), idsOf(truth).slice(5));
// relayPagination reports a null startCursor for a list opened past its start: page back from
// the first edge's cursor instead (docs/clients.md).
await run(other, sessions, { filter: ZITADEL, last: 5, before: middle.edges[0].cursor });
const whole = await back.until((c) => c.edges.length === 10, "10 edges");
assert.deepEqual(idsOf(whole), idsOf(truth));

// `node(id:)` of a listed session comes from the cache; a field more from the network.
const id = truth.edges[2].node.id;
const before = network.requests;
const cached = await run(urql, gql(NODE), { id });
assert.equal(cached.node.status, truth.edges[2].node.status);
assert.equal(network.requests, before, "node(id:) was answered from the cache");
const agent = await run(urql, gql(NODE_AGENT), { id });
assert.equal(network.requests, before + 1);
assert.ok("osName" in agent.node.userAgent);

// Revoke one session: its status changes in the list by id; the ACTIVE list fetches again.
const { session, user, userOpen } = targets(truth, active);
const activeList = watch(urql, "active", { filter: ZITADEL_ACTIVE, first: 100 });
await activeList.until((c) => c.edges.length === active.edges.length, "all active");
const revoked = await urql.mutation(gql(REVOKE), { id: session }).toPromise();
assert.equal(revoked.data.revokeSession.__typename, "SessionRevoked");
assert.equal(revoked.data.revokeSession.session.status, "REVOKED");
await list.until((c) => statusOf(c, session) === "REVOKED", "the session is REVOKED");
await activeList.until(
  (c) => !idsOf(c).includes(session) && c.totalCount === active.totalCount - 1,
  "the ACTIVE list lost it",
);

// Revoke a user's sessions: each comes back by id with its ended status.
const ended = await urql.mutation(gql(REVOKE_USER), { userId: user }).toPromise();
const endedIds = ended.data.revokeUserSessions.sessions.map((s) => s.id);
assert.ok(userOpen.every((i) => endedIds.includes(i)), "every active session ended");
const listed = idsOf(truth).filter((i) => endedIds.includes(i));
assert.ok(listed.length >= 1);
await list.until((c) => listed.every((i) => statusOf(c, i) === "REVOKED"), "the user's sessions are REVOKED");
await activeList.until(
  (c) => userOpen.every((i) => !idsOf(c).includes(i)) && c.totalCount === active.totalCount - 1 - userOpen.length,
  "the ACTIVE list lost the user's sessions",
);

done("urql");
process.exit(0);
