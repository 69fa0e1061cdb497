// The account page in Apollo Client 4 or urql against the live gateway, as a person whose token
// names its users and its current session: it lists where the person is signed in, signs out
// the other sessions, and checks the watched page shows them ended with no refetch and no
// update logic beyond the configurations docs/clients.md quotes. Run by tests/e2e/test_clients.py
// as `node account.mjs URL POSSIBLE_TYPES SCHEMA apollo|urql TOKEN`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { gql as apolloGql } from "@apollo/client";
import { gql as urqlGql } from "@urql/core";
import { buildSchema, introspectionFromSchema } from "graphql";
import { pipe, subscribe } from "wonka";

import { sessionGatewayClient as apolloClient } from "./apollo-config.mjs";
import { ACCOUNT, SIGN_OUT_OTHERS } from "./operations.mjs";
import { countingFetch, done, network, possibleTypes, schemaFile, url, Watched } from "./scenario.mjs";
import { sessionGatewayClient as urqlClient } from "./urql-config.mjs";

const [which, token] = process.argv.slice(5);
const headers = { authorization: `Bearer ${token}` };
const ENDED = new Set(["REVOKED", "LOGGED_OUT"]);

// The gateway's own answer, without a client.
const response = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify({ query: ACCOUNT }),
});
const truth = (await response.json()).data.viewer;
const nodes = (viewer) => viewer.sessions.edges.map((edge) => edge.node);
const open = nodes(truth).filter((n) => n.status === "ACTIVE" || n.status === "PENDING");
assert.ok(new Set(open.map((n) => n.provider)).size >= 3, "signed in at three providers");
assert.deepEqual(nodes(truth).filter((n) => n.current).map((n) => n.id), [truth.currentSession.id]);

const page = new Watched("account");
let signOut;
if (which === "apollo") {
  const apollo = apolloClient({ uri: url, headers, possibleTypes, fetch: countingFetch });
  apollo.watchQuery({ query: apolloGql(ACCOUNT) }).subscribe({
    next: (result) => page.push(result.data?.viewer),
  });
  signOut = async () =>
    (await apollo.mutate({ mutation: apolloGql(SIGN_OUT_OTHERS) })).data.signOutOtherSessions;
} else {
  const schema = introspectionFromSchema(buildSchema(readFileSync(schemaFile, "utf8")));
  const urql = urqlClient({ url, headers, schema, fetch: countingFetch });
  pipe(
    urql.query(urqlGql(ACCOUNT), {}),
    subscribe((result) => page.push(result.error ? undefined : result.data?.viewer)),
  );
  signOut = async () => {
    const result = await urql.mutation(urqlGql(SIGN_OUT_OTHERS), {}).toPromise();
    assert.equal(result.error, undefined, String(result.error));
    return result.data.signOutOtherSessions;
  };
}

const shown = await page.until((v) => v.sessions.edges.length > 0, "the page is shown");
assert.deepEqual(nodes(shown).map((n) => n.id), nodes(truth).map((n) => n.id));

const result = await signOut();
assert.deepEqual(result.failed, []);
const others = open.filter((n) => !n.current).map((n) => n.id).sort();
assert.deepEqual(result.ended.map((s) => s.id).sort(), others);

// The page follows from the mutation's answer alone: the others ended, this one still open.
await page.until(
  (v) => others.every((id) => ENDED.has(nodes(v).find((n) => n.id === id)?.status)),
  "every other session shows ended",
);
const after = page.latest;
assert.equal(nodes(after).find((n) => n.current).status, "ACTIVE");
assert.equal(network.requests, 2, "one page and one mutation: no refetch");
done(which);
process.exit(0);
