// Follows one messageStream with the graphql-sse client in "distinct connections" mode
// (its default) and prints each result as one JSON line, then {"complete": true}; an
// operation error prints {"errors": [...]}. Usage: node sse_stream.mjs URL TOKEN ID
import { createClient } from "graphql-sse";

const [url, token, messageId] = process.argv.slice(2);

const client = createClient({
  url,
  headers: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

const query = `subscription ($id: ID!) {
  messageStream(messageId: $id) { messageId delta reasoningDelta status done error }
}`;

try {
  for await (const result of client.iterate({ query, variables: { id: messageId } })) {
    console.log(JSON.stringify(result));
  }
  console.log(JSON.stringify({ complete: true }));
} catch (error) {
  const errors = Array.isArray(error) ? error : [{ message: String(error) }];
  console.log(JSON.stringify({ errors }));
} finally {
  client.dispose();
}
