// What the Apollo and urql scenarios share: the gateway's own answers to compare against,
// a counting fetch, captured warnings, and waiting for a watched result to satisfy a check.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { SESSIONS } from "./operations.mjs";

// The gateway's URL, and files from `session-gateway export-schema [--possible-types]`.
export const [url, possibleTypesFile, schemaFile] = process.argv.slice(2);
export const possibleTypes = JSON.parse(readFileSync(possibleTypesFile, "utf8"));
export const ZITADEL = { providers: ["ZITADEL"] };
export const ZITADEL_ACTIVE = { providers: ["ZITADEL"], statuses: ["ACTIVE"] };

// Every console warning or error a client library prints (cache data lost, missing keys, ...).
export const warnings = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => warnings.push(`${level}: ${args.map(String).join(" ")}`);
}

// fetch, counting the requests that reach the gateway.
export const network = { requests: 0 };
export const countingFetch = (...args) => {
  network.requests += 1;
  return fetch(...args);
};

// The gateway's answer without any client, as the truth to compare the caches against.
export async function direct(query, variables) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

export async function firstSessions(filter, first) {
  return (await direct(SESSIONS, { filter, first })).sessions;
}

export const idsOf = (connection) => connection.edges.map((edge) => edge.node.id);
export const statusOf = (connection, id) =>
  connection.edges.find((edge) => edge.node.id === id)?.node.status;

// The latest value a watched query delivered, and a wait for one that satisfies `check`.
export class Watched {
  constructor(name) {
    this.name = name;
    this.latest = undefined;
    this.waiters = [];
  }

  push(data) {
    if (!data) return;
    this.latest = data;
    this.waiters = this.waiters.filter(({ check, resolve }) => !(check(data) && (resolve(data), true)));
  }

  until(check, what, seconds = 20) {
    if (this.latest && check(this.latest)) return Promise.resolve(this.latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no result where ${what} within ${seconds} s; latest ${JSON.stringify(this.latest)?.slice(0, 400)}`)),
        seconds * 1000,
      );
      this.waiters.push({ check, resolve: (data) => (clearTimeout(timer), resolve(data)) });
    });
  }
}

// Pick, from the first ten sessions, one ACTIVE session to revoke and the user of another.
export function targets(first10, active) {
  const activeIds = new Set(idsOf(active));
  const open = first10.edges.map((e) => e.node).filter((n) => activeIds.has(n.id) && n.user);
  assert.ok(open.length >= 2, "the mock data has two active ZITADEL sessions among the newest 10");
  const session = open[0].id;
  const user = open.find((n) => n.user.id !== open[0].user.id)?.user.id;
  assert.ok(user, "two users among the newest active sessions");
  const userOpen = active.edges.map((e) => e.node).filter((n) => n.user?.id === user).map((n) => n.id);
  return { session, user, userOpen };
}

export function done(client) {
  assert.deepEqual(warnings, [], `${client} printed warnings`);
  console.log(JSON.stringify({ client, ok: true, requests: network.requests }));
}
