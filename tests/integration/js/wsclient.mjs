// Integration test client: the npm `ws` package, used as its README shows, through
// thumbtack. Opens CLIENTS connections to URL, checks that a text and a binary message
// are echoed, prints "ready <i>", then prints every message it receives as a JSON line
// and its close code/reason; exits 0 once every connection has closed.
// env: URL, CLIENTS (default 1), DEFLATE ("1": offer permessage-deflate).
import WebSocket from 'ws';

const url = process.env.URL;
const n = parseInt(process.env.CLIENTS || '1', 10);
const deflate = process.env.DEFLATE === '1';
let open = n;

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: deflate });
  let stage = 0;
  ws.on('open', () => {
    out({ ev: 'open', i, extensions: ws.extensions });
    ws.send('hello ' + i);
  });
  ws.on('message', (data, isBinary) => {
    if (stage === 0) {
      if (isBinary || data.toString() !== 'hello ' + i) {
        out({ ev: 'error', i, what: 'bad text echo', data: data.toString() });
        process.exit(2);
      }
      stage = 1;
      ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
      return;
    }
    if (stage === 1) {
      if (!isBinary || !data.equals(Buffer.from([0, 1, 2, 255]))) {
        out({ ev: 'error', i, what: 'bad binary echo' });
        process.exit(2);
      }
      stage = 2;
      out({ ev: 'ready', i });
      return;
    }
    out({ ev: 'message', i, binary: isBinary, data: data.toString() });
  });
  ws.on('ping', (data) => out({ ev: 'ping', i, data: data.toString() }));
  ws.on('error', (err) => {
    out({ ev: 'error', i, what: String(err) });
    process.exit(3);
  });
  ws.on('close', (code, reason) => {
    out({ ev: 'close', i, code, reason: reason.toString() });
    if (--open === 0) process.exit(0);
  });
}
