#!/usr/bin/env node
// gen.js — OTLP/JSON traces produced by the real OpenTelemetry JS SDK
// (@opentelemetry/sdk-trace-base spans, @opentelemetry/otlp-transformer's
// JSON serializer), for obsfs tests. Runs offline; deterministic for a seed.
//
//   node gen.js [--traces N] [--seed S] [--error-every K] [--slow-every M]
//               [--base-ms MS] [--batch B] [--known] [--manifest FILE]
//
// Writes ExportTraceServiceRequest documents to stdout, one per line, B
// traces per document (default 10). Each trace: frontend "GET /checkout"
// (SERVER) -> cart "load cart" -> redis "GET"; frontend -> payment
// "charge". Every K-th trace has an error in payment (status ERROR), every
// M-th takes 1.5 s; the others 40..200 ms. --manifest writes one line per
// trace: TRACE_ID KIND SPANS (KIND normal, error or slow). --known writes
// the single trace 4bf92f3577b34da6a3ce929d0e0e4736 with fixed times.
'use strict';
const fs = require('fs');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');

const args = { traces: 100, seed: 1, 'error-every': 10, 'slow-every': 7, 'base-ms': Date.now() - 120000, batch: 10 };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i].replace(/^--/, '');
  if (k === 'known') { args.known = true; continue; }
  args[k] = process.argv[++i];
}
const N = +args.traces, EE = +args['error-every'], SE = +args['slow-every'], BASE = +args['base-ms'];

// deterministic ids: xorshift64 from the seed
let st = BigInt(args.seed) * 0x9E3779B97F4A7C15n + 1n;
function rnd64() {
  st ^= (st << 13n) & 0xFFFFFFFFFFFFFFFFn; st ^= st >> 7n; st ^= (st << 17n) & 0xFFFFFFFFFFFFFFFFn;
  return st & 0xFFFFFFFFFFFFFFFFn;
}
const hex = (v, n) => v.toString(16).padStart(n, '0');
let fixed = null;   // ids queue for --known
const idGenerator = {
  generateTraceId: () => fixed ? fixed.trace : hex(rnd64(), 16) + hex(rnd64(), 16),
  generateSpanId: () => fixed ? fixed.spans.shift() : hex(rnd64(), 16),
};

const exporter = new InMemorySpanExporter();
const tracers = {};
for (const svc of ['frontend', 'cart', 'redis', 'payment']) {
  const p = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': svc, 'host.name': 'test-host' }),
    idGenerator,
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  tracers[svc] = p.getTracer('obsfs-traces-gen', '1.0.0');
}

function span(svc, name, kind, parent, start, end, attrs, error) {
  const ctx = parent ? api.trace.setSpan(api.context.active(), parent) : api.ROOT_CONTEXT;
  const s = tracers[svc].startSpan(name, { kind, startTime: start, attributes: attrs }, ctx);
  if (error) {
    s.setStatus({ code: api.SpanStatusCode.ERROR, message: error });
    s.addEvent('exception', { 'exception.message': error }, start + 1);
  }
  return s;
}

// one trace; times in ms from t0; returns the trace id
function trace(t0, kind, d) {
  const root = span('frontend', 'GET /checkout', api.SpanKind.SERVER, null, t0, 0,
    { 'http.request.method': 'GET', 'http.route': '/checkout', 'http.response.status_code': kind === 'error' ? 500 : 200 });
  const cart = span('cart', 'load cart', api.SpanKind.SERVER, root, t0 + d.cart[0], 0, { 'cart.items': 3 });
  const redis = span('redis', 'GET', api.SpanKind.CLIENT, cart, t0 + d.redis[0], 0, { 'db.system': 'redis', 'cache.hit': true });
  redis.end(t0 + d.redis[1]);
  cart.end(t0 + d.cart[1]);
  const pay = span('payment', 'charge', api.SpanKind.SERVER, root, t0 + d.pay[0], 0,
    { 'payment.amount': 12.5, 'payment.card': 'visa' }, kind === 'error' ? 'card declined' : null);
  pay.end(t0 + d.pay[1]);
  if (kind === 'error')
    root.setStatus({ code: api.SpanStatusCode.ERROR, message: 'payment failed' });
  root.end(t0 + d.total);
  return root.spanContext().traceId;
}

const out = [];
const manifest = [];
function flush() {
  const spans = exporter.getFinishedSpans();
  if (!spans.length) return;
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  out.push(Buffer.from(bytes).toString('utf8'));
  exporter.reset();
}

if (args.known) {
  fixed = { trace: '4bf92f3577b34da6a3ce929d0e0e4736',
            spans: ['00f067aa0ba902b1', '00f067aa0ba902b2', '00f067aa0ba902b3', '00f067aa0ba902b4'] };
  const id = trace(BASE, 'error', { cart: [10, 100], redis: [20, 20.25], pay: [200, 350.5], total: 400 });
  manifest.push(`${id} error 4`);
  flush();
} else {
  for (let i = 1; i <= N; i++) {
    const kind = i % EE === 0 ? 'error' : i % SE === 0 ? 'slow' : 'normal';
    const total = kind === 'slow' ? 1500 : 40 + Number(rnd64() % 160n);
    const d = { cart: [2, 2 + total / 4], redis: [3, 3 + total / 10], pay: [total / 2, total - 5], total };
    const id = trace(BASE + i * 10, kind, d);
    manifest.push(`${id} ${kind} 4`);
    if (i % +args.batch === 0) flush();
  }
  flush();
}
process.stdout.write(out.join('\n') + '\n');
if (args.manifest) fs.writeFileSync(args.manifest, manifest.join('\n') + '\n');
