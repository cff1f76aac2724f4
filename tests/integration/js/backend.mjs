// Test backend for tests/integration/test_grip_libs.py: an ordinary Express app using the
// unmodified GRIP libraries users already have (@fanoutio/serve-grip, @fanoutio/grip), so
// the test shows thumbtack works with them as Pushpin does.
//
// Configuration comes from the environment (set by the test):
//   GRIP_CONTROL_URI  publish API base, e.g. http://127.0.0.1:5561
//   GRIP_VERIFY_KEY   the key thumbtack signs Grip-Sig with (its sig_key)
//   GRIP_VERIFY_ISS   the issuer thumbtack puts in Grip-Sig (its sig_iss)
//   GRIP_CONTROL_ISS, GRIP_PUBLISH_KEY  optional: publish with a JWT (thumbtack publish_key)
// Listens on 127.0.0.1 on an ephemeral port and prints "listening <port>" once ready.
//
// Routes:
//   GET  /stream?channel=C    serve-grip stream hold on C
//   GET  /longpoll?channel=C  serve-grip response hold on C (Grip-Timeout from ?timeout=)
//   POST /publish-it          JSON {channel, kind: "stream"|"close"|"response", content, code}
//                             published through @fanoutio/grip's Publisher
//   GET  /seen                JSON list of what the GRIP routes observed per request
import express from 'express';
import { ServeGrip } from '@fanoutio/serve-grip';
import { Publisher, HttpStreamFormat, HttpResponseFormat, validateSig } from '@fanoutio/grip';

const env = process.env;
const controlUri = env.GRIP_CONTROL_URI;
const verifyKey = env.GRIP_VERIFY_KEY;
const verifyIss = env.GRIP_VERIFY_ISS || undefined;
if (!controlUri || !verifyKey) {
    console.error('GRIP_CONTROL_URI and GRIP_VERIFY_KEY are required');
    process.exit(2);
}

const gripConfig = { control_uri: controlUri, verify_key: verifyKey };
if (verifyIss) {
    gripConfig.verify_iss = verifyIss;
}
if (env.GRIP_CONTROL_ISS) {
    gripConfig.control_iss = env.GRIP_CONTROL_ISS;
    gripConfig.key = env.GRIP_PUBLISH_KEY;
}

// gripProxyRequired: a request that does not come signed through the proxy gets 501, so
// serve-grip's proxy detection is exercised on every GRIP route.
const serveGrip = new ServeGrip({ grip: gripConfig, gripProxyRequired: true });
// Publishing goes through a Publisher of @fanoutio/grip built directly, as an app that
// publishes from elsewhere (a worker, a cron job) would.
const publisher = new Publisher(gripConfig);

const seen = [];

async function record(req) {
    const sig = req.headers['grip-sig'];
    // serve-grip 2.0.0 computes req.grip.isSigned from an un-awaited promise (always
    // truthy), so the signature is also checked here with the awaited APIs.
    const viaPublisher = await serveGrip.getPublisher().validateGripSig(sig ?? null);
    const direct = sig ? await validateSig(sig, verifyKey, verifyIss) : false;
    seen.push({
        path: req.path,
        query: req.query,
        isProxied: req.grip.isProxied,
        isSigned: req.grip.isSigned,
        needsSigned: req.grip.needsSigned,
        publisherIsSigned: viaPublisher.isSigned,
        sigValid: direct,
        gripSig: sig ?? null,
    });
}

const app = express();

app.get('/stream', serveGrip, async (req, res) => {
    await record(req);
    const inst = res.grip.startInstruct();
    inst.addChannel(String(req.query.channel));
    inst.setHoldStream();
    res.setHeader('Content-Type', 'text/plain');
    res.end('[stream open]\n');
});

app.get('/longpoll', serveGrip, async (req, res) => {
    await record(req);
    const inst = res.grip.startInstruct();
    inst.addChannel(String(req.query.channel));
    inst.setHoldLongPoll(Number(req.query.timeout || 20));
    res.setHeader('Content-Type', 'text/plain');
    res.end('[long-poll timed out]\n');
});

app.post('/publish-it', express.json(), async (req, res) => {
    const { channel, kind, content, code } = req.body;
    try {
        if (kind === 'stream') {
            await publisher.publishHttpStream(channel, content);
        } else if (kind === 'close') {
            await publisher.publishHttpStream(channel, new HttpStreamFormat(null, true));
        } else if (kind === 'response') {
            await publisher.publishHttpResponse(channel, new HttpResponseFormat({
                // the typings declare code a string; pass what the test sends
                code: code ?? null,
                headers: { 'Content-Type': 'text/plain', 'X-Published': 'yes' },
                body: content,
            }));
        } else {
            res.status(400).type('text/plain').send('bad kind\n');
            return;
        }
        res.type('text/plain').send('published\n');
    } catch (e) {
        // Surface the publish API's answer so a failing test shows what thumbtack said.
        const ctx = e.context ? { status: e.context.statusCode, body: e.context.httpBody } : {};
        res.status(502).json({ error: String(e.message ?? e), ...ctx });
    }
});

app.get('/seen', (req, res) => {
    res.json(seen);
});

const server = app.listen(0, '127.0.0.1', () => {
    console.log('listening ' + server.address().port);
});

process.on('SIGTERM', () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
});
