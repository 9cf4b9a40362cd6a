// Runs the graphql-http conformance audit (GraphQL over HTTP) against a running server
// and prints one JSON object per audit on standard output: {id, name, status, reason}.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs <graphql url>");
  process.exit(2);
}

const results = await auditServer({ url });
for (const result of results) {
  console.log(
    JSON.stringify({
      id: result.id,
      name: result.name,
      status: result.status,
      reason: result.status === "ok" ? null : result.reason,
    }),
  );
}
