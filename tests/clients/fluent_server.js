// A forward-protocol receiver for out_forward's tests: @fluent-org/logger's
// FluentServer (acks every message with a chunk option; optional shared key
// and TLS). Appends each record's "message" field as a line to OUT_FILE and
// prints "listening" once it accepts connections.
//
//   node fluent_server.js PORT OUT_FILE [SHARED_KEY|-] [TLS_KEY TLS_CERT]
'use strict';
const fs = require('fs');
const { FluentServer } = require('@fluent-org/logger');
const [port, outFile, sharedKey, tlsKey, tlsCert] = process.argv.slice(2);
const out = fs.createWriteStream(outFile, { flags: 'a' });

class CountingServer extends FluentServer {
  onEntry(tag, time, record) {
    out.write(`${tag} ${record.message}\n`);
  }
}

const opts = { listenOptions: { port: Number(port), host: '127.0.0.1' } };
if (sharedKey && sharedKey !== '-') {
  opts.security = { serverHostname: 'fluent-server', sharedKey, authorize: false, userDict: {} };
}
if (tlsKey) opts.tlsOptions = { key: fs.readFileSync(tlsKey), cert: fs.readFileSync(tlsCert) };
const server = new CountingServer(opts);
const stop = () => server.close().then(() => out.end(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
server.listen().then(() => console.log('listening'), (e) => {
  console.error(e);
  process.exit(1);
});
