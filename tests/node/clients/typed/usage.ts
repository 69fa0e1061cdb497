// tests/node/clients/typed/usage.ts: typed use of the generated types; `tsc --noEmit` checks it.
import type { RevokeUserSessionsMutation, SessionStatus, SessionsPageQuery } from "./generated.js";

export type Row = { id: string; created: Date; expires: Date | null; status: SessionStatus };

export function rows(data: SessionsPageQuery): Row[] {
  return data.sessions.edges.map(({ node }) => ({
    id: node.id,
    // DateTime is typed `string`, so this compiles (with `unknown` it would not).
    created: new Date(node.createdAt),
    expires: node.expiresAt === null ? null : new Date(node.expiresAt),
    status: node.status,
  }));
}

export function endedIds(data: RevokeUserSessionsMutation): string[] {
  const ended: SessionStatus[] = ["REVOKED", "LOGGED_OUT"];
  return data.revokeUserSessions.sessions.filter((s) => ended.includes(s.status)).map((s) => s.id);
}
