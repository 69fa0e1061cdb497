// Subscribes with a real client and prints what arrives as JSON lines on stdout:
//   {"kind":"open"} once connected, {"kind":"next","payload":{...}} per result,
//   {"kind":"error","error":...} and {"kind":"complete"} at the end.
// Usage: node subscribe.mjs '<json options>'
//   options: transport ("sse" | "ws"), url, query, headers (SSE request headers),
//   connectionParams (graphql-ws connection_init payload), lastEventId (SSE resume).
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

const options = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');

const sink = {
  next: (payload) => print({ kind: 'next', payload }),
  error: (error) => {
    const shown = error instanceof Error ? { message: error.message } : error;
    // graphql-ws reports a close as a CloseEvent-like object.
    print({ kind: 'error', error: shown?.code ? { code: shown.code, reason: shown.reason } : shown });
    process.exit(0);
  },
  complete: () => {
    print({ kind: 'complete' });
    process.exit(0);
  },
};

if (options.transport === 'sse') {
  const client = createSseClient({
    url: options.url,
    retryAttempts: 0,
    headers: () => ({
      ...(options.headers ?? {}),
      ...(options.lastEventId ? { 'Last-Event-ID': options.lastEventId } : {}),
    }),
    on: { connected: () => print({ kind: 'open' }) },
  });
  client.subscribe({ query: options.query }, sink);
} else {
  const client = createWsClient({
    url: options.url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: options.connectionParams ?? {},
    on: {
      connected: () => print({ kind: 'open' }),
      closed: (event) => {
        if (event?.code && event.code !== 1000) print({ kind: 'closed', code: event.code, reason: event.reason });
      },
    },
    onNonLazyError: (error) => sink.error(error),
  });
  client.subscribe({ query: options.query }, sink);
}
