// Subscribe to the gateway with the graphql-ws client (graphql-transport-ws protocol) and print
// each message as one JSON line on stdout, so a test can read them as they arrive.
//
// Usage: node subscribe.mjs URL QUERY VARIABLES_JSON COUNT
//   URL    the WebSocket endpoint, for example ws://127.0.0.1:8000/graphql
//   COUNT  exit after this many results; 0 waits until the server completes or closes
//
// Lines: {"connected":true} once acknowledged, {"next":RESULT} per result, then one of
// {"complete":true}, {"error":ERRORS} or {"closed":{"code":N,"reason":"..."}}.
// Exit status: 0 after COUNT results or completion, 1 on an error or close, 2 on a usage error.

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const [url, query, variablesText, countText] = process.argv.slice(2);
if (!url || !query || variablesText === undefined || countText === undefined) {
  process.stderr.write('usage: node subscribe.mjs URL QUERY VARIABLES_JSON COUNT\n');
  process.exit(2);
}
const wanted = Number.parseInt(countText, 10);
let variables;
try {
  variables = JSON.parse(variablesText);
} catch (error) {
  process.stderr.write(`VARIABLES_JSON is not valid JSON: ${error.message}\n`);
  process.exit(2);
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  lazy: false,
  on: {
    connected: () => emit({ connected: true }),
    closed: (event) => {
      if (event && typeof event.code === 'number' && event.code !== 1000) {
        emit({ closed: { code: event.code, reason: event.reason } });
        process.exit(1);
      }
    },
  },
});

let received = 0;
client.subscribe(
  { query, variables },
  {
    next: (result) => {
      emit({ next: result });
      received += 1;
      if (wanted > 0 && received >= wanted) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (error) => {
      if (Array.isArray(error)) {
        emit({ error });
      } else if (error && typeof error.code === 'number') {
        emit({ closed: { code: error.code, reason: error.reason } });
      } else {
        emit({ error: [{ message: String(error && error.message ? error.message : error) }] });
      }
      process.exit(1);
    },
    complete: () => {
      emit({ complete: true });
      client.dispose();
      process.exit(0);
    },
  },
);
