/**
 * The Alertmanager -> GitHub relay: a small HTTP service that turns Alertmanager webhook
 * notifications into repository_dispatch events for alert-to-issue. Configured from the
 * environment (see --help and platform/relay/README.md).
 */
import { ConfigError, ENV_DOC, loadConfig, type RelayConfig } from './config.js';
import { Dispatcher } from './dispatch.js';
import { createLogger, type Logger } from './log.js';
import { RelayMetrics } from './metrics.js';
import { createRelay, type Relay } from './server.js';

const USAGE = [
  'usage: node dist/relay/index.js [--help]',
  '',
  'Receives Alertmanager webhooks on POST /alertmanager (Authorization: Bearer <RELAY_BEARER_TOKEN>)',
  'and sends each as a repository_dispatch event {event_type, client_payload: {alertmanager, relay}}',
  'to GitHub, within its 10-key / 64 KB limits (any number of alerts; the rest are counted in',
  'truncatedAlerts). Answers 200 once GitHub accepted it, 4xx for a request that can never succeed',
  '(415 for a Content-Type other than application/json, 422 when GitHub refused the dispatch as',
  'invalid), 5xx when delivery failed (Alertmanager retries). Also serves',
  'GET /healthz and GET /metrics (Prometheus). Logs JSON lines to stdout. SIGTERM drains in-flight',
  'deliveries before exiting.',
  '',
  'Environment:',
  ...ENV_DOC.map(([name, text]) => `  ${name}\n      ${text}`),
].join('\n');

/** The configuration, or exit 2 with the variable that is wrong (logged, never its value). */
function configOrExit(): RelayConfig {
  try {
    // A service, not an action: the environment (its Secret as env or files) is its only input,
    // read here once, by the entry, and handed to everything else as a RelayConfig.
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    createLogger('info').error('invalid configuration', { error: err.message, variable: err.variable });
    process.exit(2);
  }
}

function listen(relay: Relay, config: RelayConfig, log: Logger): void {
  relay.server.listen(config.port, config.host, () => {
    const addr = relay.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    log.info('listening', {
      host: config.host,
      port,
      repository: `${config.owner}/${config.repo}`,
      apiUrl: config.apiUrl,
      auth: config.auth.kind,
      eventType: config.eventType,
    });
  });
  relay.server.on('error', (err) => {
    log.error('server error', { error: err.message });
    process.exit(1);
  });
}

/** SIGTERM or SIGINT drains in-flight deliveries once, then exits: 0 when all finished, else 1. */
function stopOnSignals(relay: Relay, log: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal, inFlight: relay.inFlight });
    relay
      .shutdown()
      .then(({ drained, abandoned }) => {
        if (drained) log.info('stopped', { signal });
        else log.error('stopped with deliveries in flight; Alertmanager will retry them', { abandoned });
        process.exit(drained ? 0 : 1);
      })
      .catch((err: Error) => {
        log.error('shutdown failed', { error: err.message });
        process.exit(1);
      });
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal));
}

function start(): void {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    process.exit(0);
  }
  const config = configOrExit();
  const secrets = [
    config.bearerToken,
    config.auth.kind === 'token' ? config.auth.token : config.auth.privateKey,
  ];
  const log = createLogger(config.logLevel, secrets);
  const metrics = new RelayMetrics();
  const relay = createRelay(config, new Dispatcher(config, metrics, log), metrics, log);
  listen(relay, config, log);
  stopOnSignals(relay, log);
}

start();
