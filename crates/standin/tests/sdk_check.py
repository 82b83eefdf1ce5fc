#!/usr/bin/env python3
"""Checks that the official `openai` and `anthropic` Python SDKs parse the stand-in's answers.

Run by `crates/standin/tests/standin.rs` (test `official_sdks_parse_the_standin`) with
STANDIN_URL, STANDIN_OPENAI_KEY and STANDIN_ANTHROPIC_KEY set. Both clients use strict response
validation, so every answer must match the SDKs' pydantic models. Exits non-zero on the first
failed check.
"""

import json
import math
import os
import sys

import anthropic
import openai

URL = os.environ["STANDIN_URL"].rstrip("/")
OPENAI_KEY = os.environ["STANDIN_OPENAI_KEY"]
ANTHROPIC_KEY = os.environ["STANDIN_ANTHROPIC_KEY"]

OUTPUT_TOKENS = 12
PROMPT = "What is the weather in Paris today?"
TEXT = f"stand-in reply to a {len(PROMPT)}-character prompt"
THINKING = f"stand-in thinking about a {len(PROMPT)}-character prompt"
INPUT_TOKENS = math.ceil(len(PROMPT) / 4)
MESSAGES = [{"role": "user", "content": PROMPT}]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}
WEATHER_ARGS = {"city": "stand-in", "unit": "celsius"}

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


def expect_cut(fn, what):
    """A stream whose connection drops mid-body: the SDKs raise their APIConnectionError or
    let the HTTP library's protocol error through (anthropic does, mid-stream)."""
    try:
        fn()
    except Exception as err:
        names = {c.__name__ for c in type(err).__mro__}
        check(
            bool(names & {"APIConnectionError", "RemoteProtocolError", "TransportError"}),
            f"{what}: unexpected {type(err).__name__}: {err}",
        )
        return
    raise AssertionError(f"check failed: {what}: the stream did not fail")


def openai_checks():
    client = openai.OpenAI(
        api_key=OPENAI_KEY,
        base_url=URL + "/v1",
        max_retries=0,
        _strict_response_validation=True,
    )

    # Chat completions, JSON.
    c = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    check(c.object == "chat.completion", "chat object")
    check(c.choices[0].message.content == TEXT, f"chat text: {c.choices[0].message.content!r}")
    check(c.choices[0].finish_reason == "stop", "chat finish_reason")
    check(c.usage.prompt_tokens == INPUT_TOKENS, "chat prompt_tokens")
    check(c.usage.completion_tokens == OUTPUT_TOKENS, "chat completion_tokens")
    check(c.usage.total_tokens == INPUT_TOKENS + OUTPUT_TOKENS, "chat total_tokens")
    check(c.model == "gpt-4o-mini", "chat model echoed")

    # Chat completions, streaming with include_usage.
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, chunks = "", None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        else:
            usage = chunk.usage
    check(chunks > 3, "chat stream has several chunks")
    check(text == TEXT, f"chat stream text: {text!r}")
    check(finish == "stop", "chat stream finish_reason")
    check(usage is not None and usage.prompt_tokens == INPUT_TOKENS, "chat stream usage chunk")
    check(usage.completion_tokens == OUTPUT_TOKENS, "chat stream completion_tokens")

    # Chat completions with tools: JSON, then the streaming helper accumulating argument deltas.
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER_SCHEMA,
            },
        }
    ]
    c = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=tools)
    call = c.choices[0].message.tool_calls[0]
    check(c.choices[0].finish_reason == "tool_calls", "tool finish_reason")
    check(call.type == "function" and call.function.name == "get_weather", "tool call name")
    check(json.loads(call.function.arguments) == WEATHER_ARGS, "tool call arguments")
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=MESSAGES,
        tools=tools,
        stream_options={"include_usage": True},
    ) as s:
        arg_deltas = sum(1 for e in s if e.type == "tool_calls.function.arguments.delta")
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    check(arg_deltas > 1, "tool arguments streamed in several deltas")
    check(call.function.name == "get_weather", "streamed tool call name")
    check(json.loads(call.function.arguments) == WEATHER_ARGS, "streamed tool call arguments")
    check(final.choices[0].finish_reason == "tool_calls", "streamed tool finish_reason")
    check(final.usage.prompt_tokens == INPUT_TOKENS, "streamed tool usage")

    # Responses API, JSON and streaming.
    r = client.responses.create(model="gpt-4.1", input=PROMPT)
    check(r.status == "completed", "response status")
    check(r.output_text == TEXT, f"response text: {r.output_text!r}")
    check(r.usage.input_tokens == INPUT_TOKENS, "response input_tokens")
    check(r.usage.output_tokens == OUTPUT_TOKENS, "response output_tokens")
    with client.responses.stream(model="gpt-4.1", input=PROMPT) as s:
        kinds = []
        deltas = []
        for event in s:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = s.get_final_response()
    check(kinds[0] == "response.created", "responses stream starts with response.created")
    check(kinds[-1] == "response.completed", "responses stream ends with response.completed")
    check(len(deltas) > 1 and "".join(deltas) == TEXT, "responses stream text deltas")
    check(final.output_text == TEXT, "responses stream final text")
    check(final.usage.total_tokens == INPUT_TOKENS + OUTPUT_TOKENS, "responses stream usage")
    r = client.responses.create(
        model="gpt-4.1",
        input=PROMPT,
        tools=[{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}],
    )
    check(r.output[0].type == "function_call", "responses function_call item")
    check(r.output[0].name == "get_weather", "responses function_call name")
    check(json.loads(r.output[0].arguments) == WEATHER_ARGS, "responses function_call arguments")

    # Embeddings. By default the SDK asks for base64 and decodes it (after validation, so that
    # call goes through a non-strict client); explicit floats must match the decoded vectors.
    default = openai.OpenAI(api_key=OPENAI_KEY, base_url=URL + "/v1", max_retries=0)
    e = default.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"], dimensions=16)
    check(len(e.data) == 2 and len(e.data[0].embedding) == 16, "embedding count and size")
    check(all(isinstance(v, float) for v in e.data[0].embedding), "embedding floats")
    check(e.usage.prompt_tokens == math.ceil(5 / 4) + math.ceil(4 / 4), "embedding usage")
    check(e.data[0].embedding != e.data[1].embedding, "embeddings differ by input")
    f = client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"], dimensions=16, encoding_format="float"
    )
    for got, want in zip(f.data, e.data):
        check(all(abs(x - y) < 1e-6 for x, y in zip(got.embedding, want.embedding)), "float = base64")
    again = client.embeddings.create(
        model="text-embedding-3-small", input="beta", dimensions=16, encoding_format="float"
    )
    check(again.data[0].embedding == f.data[1].embedding, "embeddings deterministic")
    check(len(client.embeddings.create(model="text-embedding-3-small", input="x", encoding_format="float")
              .data[0].embedding) == 1536, "default dimensions")

    # Models.
    ids = [m.id for m in client.models.list()]
    check("gpt-4o" in ids and "text-embedding-3-small" in ids, f"models list: {ids}")
    check(client.models.retrieve("gpt-4o").id == "gpt-4o", "models retrieve")

    # Errors and faults surface as the SDK's exception types.
    bad = openai.OpenAI(api_key="wrong", base_url=URL + "/v1", max_retries=0)
    err = expect_error(
        openai.AuthenticationError,
        lambda: bad.chat.completions.create(model="gpt-4o", messages=MESSAGES),
        "openai 401",
    )
    check(err.code == "invalid_api_key", "openai 401 code")
    err = expect_error(
        openai.RateLimitError,
        lambda: client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"x-standin-fault": "status=429"}
        ),
        "openai 429 fault",
    )
    check(err.status_code == 429, "openai 429 status")

    received = []

    def cut_stream():
        for chunk in client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            extra_headers={"x-standin-fault": "cut-after=2"},
        ):
            received.append(chunk)

    expect_cut(cut_stream, "openai cut stream")
    check(len(received) == 2, f"openai cut stream delivered 2 chunks, not {len(received)}")


def anthropic_checks():
    client = anthropic.Anthropic(
        api_key=ANTHROPIC_KEY,
        base_url=URL,
        max_retries=0,
        _strict_response_validation=True,
    )

    # Messages, JSON.
    m = client.messages.create(model="claude-sonnet-4-6", max_tokens=256, messages=MESSAGES)
    check(m.type == "message" and m.role == "assistant", "message type")
    check([b.type for b in m.content] == ["text"], "message blocks")
    check(m.content[0].text == TEXT, f"message text: {m.content[0].text!r}")
    check(m.stop_reason == "end_turn", "message stop_reason")
    check(m.usage.input_tokens == INPUT_TOKENS, "message input_tokens")
    check(m.usage.output_tokens == OUTPUT_TOKENS, "message output_tokens")

    # Messages, streaming with thinking and a tool, through the SDK's accumulating helper.
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}],
        messages=MESSAGES,
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    check(text == TEXT, f"stream text: {text!r}")
    check([b.type for b in final.content] == ["thinking", "text", "tool_use"], "stream blocks")
    check(final.content[0].thinking == THINKING, "stream thinking text")
    check(len(final.content[0].signature) > 0, "stream thinking signature")
    check(final.content[1].text == TEXT, "stream text block")
    check(final.content[2].name == "get_weather", "stream tool name")
    check(final.content[2].input == WEATHER_ARGS, f"stream tool input: {final.content[2].input}")
    check(final.stop_reason == "tool_use", "stream stop_reason")
    check(final.usage.input_tokens == INPUT_TOKENS, "stream input_tokens")
    check(final.usage.output_tokens == OUTPUT_TOKENS, "stream output_tokens")

    # Raw event order.
    kinds = [
        e.type
        for e in client.messages.create(
            model="claude-haiku-4-5-20251001", max_tokens=64, messages=MESSAGES, stream=True
        )
    ]
    check(kinds[0] == "message_start" and kinds[-1] == "message_stop", f"event order: {kinds}")
    check("content_block_delta" in kinds and kinds[-2] == "message_delta", "delta events")

    # count_tokens.
    count = client.messages.count_tokens(model="claude-sonnet-4-6", system="Be brief.", messages=MESSAGES)
    check(count.input_tokens == math.ceil((len(PROMPT) + len("Be brief.")) / 4), "count_tokens")

    # Models.
    ids = [m.id for m in client.models.list()]
    check("claude-sonnet-4-6" in ids, f"anthropic models: {ids}")

    # Errors and faults.
    bad = anthropic.Anthropic(api_key="wrong", base_url=URL, max_retries=0)
    expect_error(
        anthropic.AuthenticationError,
        lambda: bad.messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=MESSAGES),
        "anthropic 401",
    )
    err = expect_error(
        anthropic.APIStatusError,
        lambda: client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=8,
            messages=MESSAGES,
            extra_headers={"x-standin-fault": "status=529"},
        ),
        "anthropic 529 fault",
    )
    check(err.status_code == 529, "anthropic 529 status")
    check(err.body["error"]["type"] == "overloaded_error", f"anthropic 529 body: {err.body}")

    received = []

    def cut_stream():
        with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=MESSAGES,
            extra_headers={"x-standin-fault": "cut-after=4"},
        ) as s:
            for event in s:
                received.append(event.type)

    expect_cut(cut_stream, "anthropic cut stream")
    # message_start, content_block_start, (ping, skipped by the SDK), one text delta.
    check(received[:2] == ["message_start", "content_block_start"], f"cut events: {received}")
    check("message_stop" not in received, "cut stream has no message_stop")


def main():
    print(f"sdk_check: openai {openai.__version__}, anthropic {anthropic.__version__}")
    openai_checks()
    anthropic_checks()
    print(f"sdk_check: {checks} checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # report, then fail the test
        import traceback

        traceback.print_exc()
        print(f"sdk_check: FAILED after {checks} checks: {err}", file=sys.stderr)
        sys.exit(1)
