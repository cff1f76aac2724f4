// WebSocket broadcast backend for tests/integration/test_woh_libs.py: the GRIP libraries'
// WebSocket-over-HTTP broadcast example, as their documentation shows it, on express +
// @fanoutio/serve-grip + @fanoutio/grip. The proxy turns each client WebSocket into POSTs
// of WebSocket events; the app accepts each new connection, subscribes it to "all", and
// republishes every message it receives to "all". It keeps no state, so it can be
// killed and started again while clients stay connected.
//
// Configuration from the environment (set by the test):
//   PORT              port to listen on (127.0.0.1), fixed so that a restart reuses it
//   GRIP_CONTROL_URI  publish API base, e.g. http://127.0.0.1:5561
//   GRIP_VERIFY_KEY   the proxy's sig_key (Grip-Sig is verified); GRIP_VERIFY_ISS its sig_iss
//   GRIP_CONTROL_ISS, GRIP_PUBLISH_KEY  optional: publish with a JWT (thumbtack publish_key)
// Prints "listening <port>" once ready.
import express from 'express';
import { ServeGrip } from '@fanoutio/serve-grip';
import { WebSocketMessageFormat } from '@fanoutio/grip';

const env = process.env;
const grip = { control_uri: env.GRIP_CONTROL_URI, verify_key: env.GRIP_VERIFY_KEY };
if (env.GRIP_VERIFY_ISS) {
    grip.verify_iss = env.GRIP_VERIFY_ISS;
}
if (env.GRIP_CONTROL_ISS) {
    grip.control_iss = env.GRIP_CONTROL_ISS;
    grip.key = env.GRIP_PUBLISH_KEY;
}
const serveGrip = new ServeGrip({ grip });

const app = express();
app.use(serveGrip);

// WebSocket-over-HTTP arrives as POSTs.
app.post('/api/websocket', async (req, res) => {
    const { wsContext } = req.grip;
    if (wsContext == null) {
        res.statusCode = 400;
        res.end('[not a websocket request]\n');
        return;
    }

    // A new connection: accept it and put it on the broadcast channel.
    if (wsContext.isOpening()) {
        wsContext.accept();
        wsContext.subscribe('all');
    }

    while (wsContext.canRecv()) {
        const message = wsContext.recv();
        if (message == null) {
            // The client closed: close our side too.
            wsContext.close();
            break;
        }
        // Everyone on "all" gets it, the sender included.
        const publisher = serveGrip.getPublisher();
        await publisher.publishFormats('all', new WebSocketMessageFormat(message));
    }

    res.end();
});

const server = app.listen(Number(env.PORT), '127.0.0.1', () => {
    console.log('listening ' + server.address().port);
});
