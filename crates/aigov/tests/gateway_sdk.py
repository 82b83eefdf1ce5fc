#!/usr/bin/env python3
"""Drives `aigov serve`'s gateway with the official `openai` and `anthropic` Python SDKs.

Run by `crates/aigov/tests/cli/gateway.rs` with AIGOV_URL (the gateway), AIGOV_KEY (a
developer key of `lena`, default repository `acme/storefront`), and AIGOV_RATE_KEY and
AIGOV_TOKENS_KEY (keys of `omar` and `dana`, whom the test bundle's budgets limit); the upstream
is the stand-in. Exits non-zero on the first failed check.
"""

import os
import time
from datetime import datetime, timezone

import anthropic
import openai

URL = os.environ["AIGOV_URL"].rstrip("/")
KEY = os.environ["AIGOV_KEY"]
checks = 0


def check(ok, what):
    global checks
    if not ok:
        raise AssertionError(f"check failed: {what}")
    checks += 1


def expect_error(exc_type, fn, what):
    try:
        fn()
    except exc_type as err:
        check(True, what)
        return err
    raise AssertionError(f"check failed: {what}: no {exc_type.__name__} raised")


oa = openai.OpenAI(
    base_url=f"{URL}/v1",
    api_key=KEY,
    default_headers={"x-aigov-tool": "aider"},
    max_retries=0,
)
ASK = [{"role": "user", "content": "Explain what this function does."}]

r = oa.chat.completions.create(model="local-coder", messages=ASK)
check("stand-in" in r.choices[0].message.content, "openai: JSON answer text")
check(r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0, "openai: usage")

chunks = list(
    oa.chat.completions.create(
        model="local-coder",
        messages=ASK,
        stream=True,
        stream_options={"include_usage": True},
    )
)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check("stand-in" in text, "openai: streamed text")
check(any(c.usage and c.usage.completion_tokens > 0 for c in chunks), "openai: stream usage")

tools = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
r = oa.chat.completions.create(model="local-coder", messages=ASK, tools=tools)
call = r.choices[0].message.tool_calls[0]
check(call.function.name == "get_weather", "openai: tool call passes through")

err = expect_error(
    openai.PermissionDeniedError,
    lambda: oa.chat.completions.create(
        model="local-coder",
        messages=[
            {"role": "user", "content": "debug: AKIAZ3MKQ7T2X4PLW5NB wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq9Xk2Lw8V"}
        ],
    ),
    "openai: a prompt with secrets is denied",
)
check("the prompt contains secrets" in str(err), f"openai: denial says why: {err}")

# The Responses API, JSON and streamed.
r = oa.responses.create(model="local-coder", instructions="be brief", input="Explain retries.")
check(r.output_text and r.usage.output_tokens > 0, "openai: responses JSON")
events = list(oa.responses.create(model="local-coder", input="Explain retries.", stream=True))
check(events[-1].type == "response.completed", f"openai: responses stream ends: {events[-1].type}")

e = oa.embeddings.create(model="local-coder", input=["fn main() {}", "retry loop"])
check(len(e.data) == 2 and len(e.data[0].embedding) > 0, "openai: embeddings")

# Only the models this developer may use here, with this tool.
ids = [m.id for m in oa.models.list()]
check(ids == ["local-coder", "claude-sonnet-4", "gpt-4o"], f"openai: models: {ids}")

# A confidential repository: secrets and personal data are replaced before sending.
r = oa.chat.completions.with_raw_response.create(
    model="local-coder",
    messages=[{"role": "user", "content": "mail jane.doe@northwind-mail.com, key AKIAZ3MKQ7T2X4PLW5NB"}],
    extra_headers={"x-aigov-repo": "acme/data-pipeline"},
)
check(r.headers.get("x-aigov-redacted") == "2", "openai: redacted findings are counted")
check(r.parse().choices[0].message.content, "openai: a redacted request is answered")

# An upstream that refuses connections: a clear 5xx in the SDK's format.
err = expect_error(
    openai.InternalServerError,
    lambda: oa.chat.completions.create(model="gpt-4o", messages=ASK),
    "openai: an unreachable upstream is a server error",
)
check("upstream `dead`" in str(err), f"openai: the failure names the upstream: {err}")

expect_error(
    openai.AuthenticationError,
    lambda: openai.OpenAI(base_url=f"{URL}/v1", api_key="aigov_dev_wrong", max_retries=0)
    .chat.completions.create(model="local-coder", messages=ASK),
    "openai: an unknown key is refused",
)

an = anthropic.Anthropic(
    base_url=URL,
    api_key=KEY,
    default_headers={"x-aigov-tool": "claude-code"},
    max_retries=0,
)
m = an.messages.create(model="claude-sonnet-4", max_tokens=128, messages=ASK)
check(m.content[0].type == "text" and "stand-in" in m.content[0].text, "anthropic: JSON text")
check(m.usage.input_tokens > 0, "anthropic: usage")

with an.messages.stream(
    model="claude-sonnet-4",
    max_tokens=512,
    thinking={"type": "enabled", "budget_tokens": 256},
    messages=ASK,
) as stream:
    final = stream.get_final_message()
kinds = [b.type for b in final.content]
check("thinking" in kinds and "text" in kinds, f"anthropic: thinking and text blocks: {kinds}")
check(final.stop_reason is not None, "anthropic: stream finished")

n = an.messages.count_tokens(model="claude-sonnet-4", messages=ASK)
check(n.input_tokens > 0, "anthropic: count_tokens")

err = expect_error(
    anthropic.PermissionDeniedError,
    lambda: an.messages.create(
        model="claude-sonnet-4",
        max_tokens=64,
        messages=ASK,
        extra_headers={"x-aigov-repo": "acme/payments-api"},
    ),
    "anthropic: a vendor model on a restricted repository is denied",
)
check("restricted" in str(err), f"anthropic: denial says why: {err}")

# Budgets (the test bundle's budgets.yaml, see BUDGETS in gateway.rs): hourly windows. Windows
# are calendar hours in UTC; a test started just before the hour turns waits for it, so the
# counts cannot reset half-way and the reset time is known.
HOUR = 3600
if HOUR - time.time() % HOUR < 30:
    time.sleep(HOUR - time.time() % HOUR + 1)
next_hour = (int(time.time()) // HOUR + 1) * HOUR
RESETS = datetime.fromtimestamp(next_hour, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
HI = [{"role": "user", "content": "hi"}]


def clients(key):
    return (
        openai.OpenAI(
            base_url=f"{URL}/v1", api_key=key, default_headers={"x-aigov-tool": "aider"}, max_retries=0
        ),
        anthropic.Anthropic(
            base_url=URL, api_key=key, default_headers={"x-aigov-tool": "claude-code"}, max_retries=0
        ),
    )


def refused(exc_type, fn, what, expected):
    """The SDK's rate-limit error (429) whose message names the budget, its use and the reset."""
    err = expect_error(exc_type, fn, f"{what}: refused over the budget")
    check(err.status_code == 429, f"{what}: status {err.status_code}")
    check(f"denied by aigov: {expected}; resets {RESETS}" in str(err), f"{what}: message: {err}")


# Rate limit: omar may send 3 requests an hour, whatever the API; the fourth and later are
# refused before the upstream.
oa_rate, an_rate = clients(os.environ["AIGOV_RATE_KEY"])
oa_rate.chat.completions.create(model="local-coder", messages=HI)
list(
    oa_rate.chat.completions.create(
        model="local-coder", messages=HI, stream=True, stream_options={"include_usage": True}
    )
)
an_rate.messages.create(model="claude-sonnet-4", max_tokens=64, messages=HI)
RATE = "budget `sdk-rate` (3 requests per hour, developer=omar) is spent: 3 requests used"
refused(
    openai.RateLimitError,
    lambda: oa_rate.chat.completions.create(model="local-coder", messages=HI),
    "openai rate limit",
    RATE,
)
refused(
    openai.RateLimitError,
    lambda: oa_rate.chat.completions.create(model="local-coder", messages=HI, stream=True),
    "openai rate limit (stream)",
    RATE,
)
refused(
    anthropic.RateLimitError,
    lambda: an_rate.messages.create(model="claude-sonnet-4", max_tokens=64, messages=HI),
    "anthropic rate limit",
    RATE,
)

# Token budgets: dana may use 10 tokens an hour with each tool. The prompt's estimate (1 token)
# lets the first request through; the usage the upstream reports in the stream (13 tokens) is
# counted, so the next request is refused: only reported usage can spend the budget.
oa_tok, an_tok = clients(os.environ["AIGOV_TOKENS_KEY"])
chunks = list(
    oa_tok.chat.completions.create(
        model="local-coder", messages=HI, stream=True, stream_options={"include_usage": True}
    )
)
usage = [c.usage for c in chunks if c.usage][-1]
used = usage.prompt_tokens + usage.completion_tokens
check(used > 10, f"openai: the stream's reported usage exceeds the budget: {usage}")
# The SDK stops reading at `[DONE]` and closes the connection; the gateway settles the usage
# when the upstream's stream ends, an instant later.
time.sleep(0.25)
refused(
    openai.RateLimitError,
    lambda: oa_tok.chat.completions.create(model="local-coder", messages=HI),
    "openai token budget",
    f"budget `sdk-tokens-aider` (10 tokens per hour, developer=dana) is spent: {used} tokens used",
)

with an_tok.messages.stream(model="claude-sonnet-4", max_tokens=64, messages=HI) as stream:
    final = stream.get_final_message()
u = final.usage
used = (
    u.input_tokens
    + u.output_tokens
    + (u.cache_read_input_tokens or 0)
    + (u.cache_creation_input_tokens or 0)
)
check(used > 10, f"anthropic: the stream's reported usage exceeds the budget: {u}")
refused(
    anthropic.RateLimitError,
    lambda: an_tok.messages.create(model="claude-sonnet-4", max_tokens=64, messages=HI),
    "anthropic token budget",
    f"budget `sdk-tokens-claude-code` (10 tokens per hour, developer=dana) is spent: {used} tokens used",
)

print(f"ok: {checks} checks")
