// Composes a Federation 2 supergraph with The Guild's composition library (MIT).
//   node compose.mjs OUT NAME=URL=SDL_FILE...
// Each subgraph: its name, the URL the router will call, and its SDL (for the sessions
// gateway: schema.subgraph.graphql, or `session-gateway export-schema --federation`).
import { readFileSync, writeFileSync } from 'node:fs';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import { parse } from 'graphql';

const [out, ...specs] = process.argv.slice(2);
if (!out || specs.length === 0) {
  console.error('usage: node compose.mjs OUT NAME=URL=SDL_FILE...');
  process.exit(2);
}
const services = specs.map((spec) => {
  const first = spec.indexOf('='), last = spec.lastIndexOf('=');
  const [name, url, file] = [spec.slice(0, first), spec.slice(first + 1, last), spec.slice(last + 1)];
  if (!name || !url || !file) {
    console.error(`not NAME=URL=SDL_FILE: ${spec}`);
    process.exit(2);
  }
  return { name, url, typeDefs: parse(readFileSync(file, 'utf8')) };
});
const result = composeServices(services);
if (compositionHasErrors(result)) {
  for (const error of result.errors) console.error(error.message);
  process.exit(1);
}
writeFileSync(out, result.supergraphSdl);
