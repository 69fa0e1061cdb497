// The graphql-http server audits (GraphQL over HTTP conformance) against the gateway at argv[2].
// Prints one JSON line: counts per status and each audit that was not "ok".
import { auditServer } from "graphql-http";

const results = await auditServer({ url: process.argv[2] });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const failed = [];
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== "ok") {
    const response = result.response ? `${result.response.status}` : "";
    failed.push({ id: result.id, status: result.status, name: result.name, reason: result.reason, response });
  }
}
console.log(JSON.stringify({ counts, failed }));
