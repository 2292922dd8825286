// fastgw driven by the official openai npm package.
//
// Usage: FASTGW_BASE_URL=http://127.0.0.1:PORT/v1 FASTGW_API_KEY=... FASTGW_LIMITED_KEY=...
//        node tests/node/e2e.mjs
//
// Prints one JSON object describing what the SDK saw (tests/e2e/test_node.py asserts on it);
// exits non-zero with a message on stderr if a call that should succeed throws.

import OpenAI, {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
} from 'openai';

const baseURL = process.env.FASTGW_BASE_URL;
const apiKey = process.env.FASTGW_API_KEY;
const limitedKey = process.env.FASTGW_LIMITED_KEY;
if (!baseURL || !apiKey || !limitedKey) {
  console.error('e2e.mjs: set FASTGW_BASE_URL, FASTGW_API_KEY and FASTGW_LIMITED_KEY');
  process.exit(2);
}

const options = { baseURL, maxRetries: 0, timeout: 20_000 };
const client = new OpenAI({ ...options, apiKey });
const messages = [{ role: 'user', content: 'Say something deterministic.' }];

// The most specific SDK class an error is an instance of.
const ERROR_CLASSES = [
  ['NotFoundError', NotFoundError],
  ['AuthenticationError', AuthenticationError],
  ['PermissionDeniedError', PermissionDeniedError],
  ['BadRequestError', BadRequestError],
  ['InternalServerError', InternalServerError],
  ['APIError', APIError],
];

async function chat() {
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-test', messages }, { headers: { 'x-request-id': 'node-e2e-1' } })
    .withResponse();
  const choice = data.choices[0];
  return {
    content: choice.message.content,
    role: choice.message.role,
    finish_reason: choice.finish_reason,
    usage: data.usage,
    request_id: data._request_id,
    header_request_id: response.headers.get('x-request-id'),
  };
}

async function streamChat() {
  const stream = await client.chat.completions.create({
    model: 'gpt-test',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let role = null;
  let chunks = 0;
  let usage = null;
  const finishReasons = [];
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta.role) role = choice.delta.role;
      content += choice.delta.content ?? '';
      if (choice.finish_reason) finishReasons.push(choice.finish_reason);
    }
  }
  return { content, role, chunks, usage, finish_reasons: finishReasons };
}

async function embeddings() {
  // No encoding_format: the SDK asks for base64 and decodes it to a Float32Array.
  const result = await client.embeddings.create({ model: 'embed-test', input: 'hello world' });
  const vector = Array.from(result.data[0].embedding);
  const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));
  return { length: vector.length, norm, prompt_tokens: result.usage.prompt_tokens };
}

async function models() {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  return ids;
}

async function failure(call) {
  try {
    await call();
  } catch (err) {
    const match = ERROR_CLASSES.find(([, cls]) => err instanceof cls);
    return {
      class: match ? match[0] : err.constructor.name,
      status: err.status ?? null,
      type: err.type ?? null,
      code: err.code ?? null,
      param: err.param ?? null,
      error: err.error ?? null,
      request_id: err.requestID ?? null,
    };
  }
  return { class: null };
}

const limited = new OpenAI({ ...options, apiKey: limitedKey });
const wrong = new OpenAI({ ...options, apiKey: 'sk-not-a-real-key-abcdefghijklmnop' });

let result;
try {
  result = {
    chat: await chat(),
    stream: await streamChat(),
    embeddings: await embeddings(),
    models: await models(),
    errors: {
      not_found: await failure(() =>
        client.chat.completions.create({ model: 'no-such-model', messages }),
      ),
      not_found_stream: await failure(async () => {
        const stream = await client.chat.completions.create({
          model: 'no-such-model',
          messages,
          stream: true,
        });
        for await (const _ of stream);
      }),
      authentication: await failure(() =>
        wrong.chat.completions.create({ model: 'gpt-test', messages }),
      ),
      permission: await failure(() =>
        limited.chat.completions.create({ model: 'gpt-other', messages }),
      ),
      bad_request: await failure(() =>
        client.chat.completions.create({ model: 'gpt-test', messages, max_tokens: 'ten' }),
      ),
    },
  };
} catch (err) {
  console.error(`e2e.mjs: unexpected ${err?.constructor?.name ?? 'error'}: ${err?.message ?? err}`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(result) + '\n');
