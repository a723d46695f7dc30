"""An OpenAI-compatible chat endpoint, asked for moderation's second opinion
(`moderation/opinion.py`). Not a group's connector: it receives nothing and acts on no group.

Hosted services (DeepSeek, Qwen through DashScope's compatible mode, OpenAI) and local servers
(Ollama, vLLM, llama.cpp) all take `POST {url}/chat/completions` with a model name and the chat,
and answer with `choices[0].message.content`; a local one keeps members' messages on the
operator's machines. Called from the engine's opinion threads, one call at a time per thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

MAX_TOKENS = 600  # a JSON answer is under 100; reasoning models think first
# Busy (429: hosted services limit calls a minute) or failing for a moment (5xx): worth one
# more try, after the wait the service asks for (Retry-After, in seconds) or a second. A
# service that asks for longer than RETRY_WAIT_MAX_S is not waited for: the decision stands.
RETRIED = frozenset({429, 500, 502, 503, 504})
RETRY_WAIT_S = 1.0
RETRY_WAIT_MAX_S = 10.0


class EndpointError(Exception):
    """The endpoint gave no answer: unreachable, too slow, refused the call or answered
    something other than a chat completion. The message says which, in one line."""


class ChatEndpoint:
    """`endpoint(messages)` is the model's reply to the chat, as text."""

    def __init__(
        self,
        url: str,
        model: str,
        key: str | None = None,
        timeout_s: float = 20.0,
        extra: Mapping[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.extra = dict(extra or {})  # more fields of the body, as the service asks
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    def __call__(self, messages: list[dict[str, str]]) -> str:
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": MAX_TOKENS,
            "stream": False,
            **self.extra,
        }
        response = self._post(body)
        if response.status_code in RETRIED and (wait := _retry_after(response)) is not None:
            time.sleep(wait)
            response = self._post(body)
        if response.status_code != 200:
            said = " ".join(response.text.split())[:200]
            raise EndpointError(f"HTTP {response.status_code}: {said}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EndpointError("the answer is not a chat completion") from None
        if not isinstance(content, str):
            raise EndpointError("the answer is not a chat completion")
        return content

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        try:
            return self._client.post("/chat/completions", json=body)
        except httpx.TimeoutException:
            raise EndpointError(f"no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise EndpointError(f"cannot reach {self._client.base_url}: {exc}") from None

    def close(self) -> None:
        self._client.close()


def _retry_after(response: httpx.Response) -> float | None:
    """How long to wait before trying again, None where the service asks for too long."""
    asked = response.headers.get("Retry-After", "")
    try:
        wait = float(asked) if asked else RETRY_WAIT_S
    except ValueError:  # an HTTP date: rare from these services, a second will do
        wait = RETRY_WAIT_S
    return max(wait, 0.0) if wait <= RETRY_WAIT_MAX_S else None
