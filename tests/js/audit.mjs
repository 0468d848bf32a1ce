// Run the graphql-http server audits (GraphQL over HTTP draft conformance) against one endpoint.
//
// Usage: node audit.mjs [--json] URL
//   URL     the GraphQL endpoint, for example http://127.0.0.1:8000/graphql
//   --json  print the results as one JSON array on stdout instead of one line per audit
//
// Exit status: 0 when every audit is "ok", 1 when any audit reports an error, a warning or a
// notice, 2 on a usage error or when the audit itself could not run.

import { auditServer } from 'graphql-http';

function parseArguments(argv) {
  const json = argv.includes('--json');
  const positional = argv.filter((argument) => argument !== '--json');
  if (positional.length !== 1) {
    return { error: `expected exactly one URL argument, got ${positional.length}` };
  }
  let url;
  try {
    url = new URL(positional[0]);
  } catch {
    return { error: `'${positional[0]}' is not a URL; pass the endpoint, for example http://127.0.0.1:8000/graphql` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { error: `'${positional[0]}' is not an http or https URL` };
  }
  return { url: url.href, json };
}

// Reduce an audit result to plain values; a failed audit also carries the Response it checked.
function describe(result) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    entry.responseStatus = result.response?.status ?? null;
  }
  return entry;
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  if (options.error) {
    console.error(`audit.mjs: ${options.error}`);
    console.error('usage: node audit.mjs [--json] URL');
    return 2;
  }

  let results;
  try {
    results = await auditServer({ url: options.url });
  } catch (error) {
    console.error(`audit.mjs: the audit of ${options.url} failed to run: ${error?.stack ?? error}`);
    return 2;
  }

  const entries = results.map(describe);
  if (options.json) {
    console.log(JSON.stringify(entries, null, 2));
  } else {
    for (const entry of entries) {
      const detail = entry.status === 'ok' ? '' : ` (HTTP ${entry.responseStatus}): ${entry.reason}`;
      console.log(`${entry.status.toUpperCase().padEnd(6)} ${entry.id} ${entry.name}${detail}`);
    }
  }

  const failed = entries.filter((entry) => entry.status !== 'ok');
  console.error(`audit.mjs: ${entries.length - failed.length} of ${entries.length} audits ok against ${options.url}`);
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main();
