// Apollo Client 4's PersistedQueryLink against the live gateway (tests/e2e/test_apq_client.py):
// with APQ on, an unknown hash makes the link resend with the document, which registers it, and
// a fresh client then runs it by hash alone; with APQ off, the link stops sending hashes.
//   node apq.mjs <graphql url> <api key> allow|off
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import { ApolloClient, gql, HttpLink, InMemoryCache } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, apiKey, mode] = process.argv.slice(2);
const sent = [];

async function recordingFetch(input, init) {
  const body = JSON.parse(init.body);
  const response = await fetch(input, init);
  sent.push({ query: "query" in body, hash: !!body.extensions?.persistedQuery, status: response.status });
  return response;
}

function client() {
  const persisted = createPersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
  });
  const http = new HttpLink({ uri: url, fetch: recordingFetch, headers: { "X-API-Key": apiKey } });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

// A document of its own per run, so no earlier run registered it.
const nonce = `n${Date.now()}`;
const first = gql(`query Apq_${nonce} { providers { provider name } }`);
const second = gql(`query Apq2_${nonce} { providers { provider } }`);

const one = client();
const result = await one.query({ query: first });
assert.ok(result.data.providers.length > 0);
if (mode === "allow") {
  // Hash only (PersistedQueryNotFound), then hash and document: answered and registered.
  assert.deepEqual(sent.map((s) => [s.query, s.hash]), [[false, true], [true, true]]);
  const fresh = await client().query({ query: first });
  assert.deepEqual(fresh.data, result.data);
  assert.deepEqual(sent.slice(2).map((s) => [s.query, s.hash]), [[false, true]]);
} else {
  // PersistedQueryNotSupported: the link resends without the hash, and sends none after.
  assert.deepEqual(sent.map((s) => [s.query, s.hash, s.status]), [[false, true, 400], [true, false, 200]]);
  await one.query({ query: second, fetchPolicy: "network-only" });
  assert.deepEqual(sent.slice(2).map((s) => [s.query, s.hash]), [[true, false]]);
}
console.log(JSON.stringify({ ok: true, mode, requests: sent.length }));
