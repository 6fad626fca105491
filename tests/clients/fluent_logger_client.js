// Sends numbered events to an in_forward listener with npm's fluent-logger
// (requireAckResponse: each send waits for its ack) or @fluent-org/logger
// (ack mode), and exits 0 once every event was acknowledged.
//
//   node fluent_logger_client.js LIB HOST PORT FIRST COUNT [SHARED_KEY]
//
// LIB: fluent-logger | fluent-org. Records: {"message": "seq=N LIB"}.
// With FLUENT_TLS_CA=FILE in the environment, fluent-org connects over TLS.
'use strict';
const [lib, host, port, first, count, sharedKey] = process.argv.slice(2);
const N0 = Number(first), N = Number(count);
const fail = (e) => { console.error(`${lib}: ${e && e.stack ? e.stack : e}`); process.exit(1); };
const deadline = setTimeout(() => fail('timed out'), 120000);

async function viaFluentLogger() {
  const logger = require('fluent-logger');
  const opts = { host, port: Number(port), timeout: 10.0, reconnectInterval: 500,
                 requireAckResponse: true, ackResponseTimeout: 10000 };
  if (sharedKey) opts.security = { clientHostname: 'npm-client', sharedKey };
  const sender = logger.createFluentSender('npm', opts);
  sender.on('error', fail);
  for (let n = N0; n < N0 + N; n++) {
    await new Promise((resolve, reject) =>
      sender.emit('app', { message: `seq=${n} ${lib}` }, (err) => (err ? reject(err) : resolve())));
  }
  sender.end();
}

async function viaFluentOrg() {
  const { FluentClient } = require('@fluent-org/logger');
  const opts = { socket: { host, port: Number(port) }, ack: { ackTimeout: 10000 } };
  // FLUENT_TLS_CA: connect over TLS, trusting that CA file only.
  if (process.env.FLUENT_TLS_CA) {
    opts.socket.tls = { ca: require('fs').readFileSync(process.env.FLUENT_TLS_CA) };
  }
  if (sharedKey) opts.security = { clientHostname: 'org-client', sharedKey };
  const client = new FluentClient('org', opts);
  const pending = [];
  for (let n = N0; n < N0 + N; n++) pending.push(client.emit('app', { message: `seq=${n} ${lib}` }));
  await Promise.all(pending);
  await client.shutdown();
}

(lib === 'fluent-logger' ? viaFluentLogger() : viaFluentOrg())
  .then(() => { clearTimeout(deadline); process.exit(0); })
  .catch(fail);
