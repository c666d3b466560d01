"""The LLM backend against a small fake OpenAI-compatible chat server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import Config, load_config
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.digest.llm import LLMSummarizer
from newsletter.digest.summarizer import build_summarizer
from newsletter.model import Digest
from newsletter.pipeline import post_json

REPO = Path(__file__).resolve().parents[1]
Reply = Callable[[dict[str, Any]], tuple[int, str, float]]  # body -> status, content, delay


class FakeChat:
    def __init__(self) -> None:
        self.reply: Reply = lambda body: (200, "", 0.0)
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []


@pytest.fixture
def chat() -> Iterator[tuple[FakeChat, str]]:
    fake = FakeChat()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append((dict(self.headers), body))
            status, content, delay = fake.reply(body)
            time.sleep(delay)
            payload = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": content}}]}
            ).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(REPO / "newsletter.toml")


def seed_articles() -> list[Any]:
    from newsletter.sources.seeds import read_seed

    return [read_seed(REPO / "seeds" / "us-peace-plan-ukraine-russia.txt")]


def make(config: Config, url: str, warnings: list[str], timeout: float = 5.0) -> LLMSummarizer:
    settings = config.summary.model_copy(
        update={
            "backend": "llm",
            "llm_url": url,
            "llm_model": "fake-model",
            "llm_timeout": timeout,
            "llm_api_key_env": "FAKE_LLM_KEY",
        }
    )
    env = {"FAKE_LLM_KEY": "sekret"}
    built = build_summarizer(settings, warnings.append, env=env, post=post_json)
    assert isinstance(built, LLMSummarizer)
    return built


def extractive(config: Config) -> Digest:
    return ExtractiveSummarizer(config.summary)(seed_articles(), config.sections, "en")


def test_a_supported_rewrite_is_used_and_keeps_its_sources(
    chat: tuple[FakeChat, str], config: Config
) -> None:
    fake, url = chat

    def reply(body: dict[str, Any]) -> tuple[int, str, float]:
        if "Russia's demands" in body["messages"][0]["content"]:
            return (
                200,
                "- Moscow demands Kyiv renounce NATO ambitions and withdraw from four provinces.",
                0,
            )
        return 200, "", 0

    fake.reply = reply
    warnings: list[str] = []
    digest = make(config, url, warnings)(seed_articles(), config.sections, "en")
    russia = next(s for s in digest.sections if s.id == "russia-demands")
    assert [i.text for i in russia.items] == [
        "Moscow demands Kyiv renounce NATO ambitions and withdraw from four provinces."
    ]
    assert russia.items[0].sources[0].title.startswith("US pushes Ukraine")
    # An empty answer for a section keeps its extractive items.
    plan = next(s for s in digest.sections if s.id == "us-plan")
    assert plan.items == next(s for s in extractive(config).sections if s.id == "us-plan").items
    headers, body = fake.requests[0]
    assert headers["Authorization"] == "Bearer sekret"
    assert body["model"] == "fake-model"
    assert warnings == []


def test_an_unsupported_sentence_is_dropped(chat: tuple[FakeChat, str], config: Config) -> None:
    fake, url = chat
    fake.reply = lambda body: (
        200,
        "Moscow demands Kyiv renounce NATO ambitions and withdraw from four provinces.\n"
        "Analysts expect a ceasefire to be signed in Geneva before Christmas.",
        0,
    )
    digest = make(config, url, [])(seed_articles(), config.sections, "en")
    shown = " ".join(i.text for s in digest.sections for i in s.items)
    shown += " ".join(i.text for i in digest.lead)
    assert "renounce NATO" in shown
    assert "Geneva" not in shown and "Christmas" not in shown


@pytest.mark.parametrize(
    ("status", "delay", "expected"), [(500, 0.0, "HTTP 500"), (200, 2.0, "no answer within")]
)
def test_errors_and_timeouts_fall_back_to_the_extractive_digest(
    chat: tuple[FakeChat, str], config: Config, status: int, delay: float, expected: str
) -> None:
    fake, url = chat
    fake.reply = lambda body: (status, "Moscow renounces everything, the model says.", delay)
    warnings: list[str] = []
    digest = make(config, url, warnings, timeout=0.5)(seed_articles(), config.sections, "en")
    assert digest == extractive(config)
    assert len(warnings) == 1 and expected in warnings[0] and "extractive" in warnings[0]


def test_an_unreachable_server_falls_back(config: Config) -> None:
    warnings: list[str] = []
    digest = make(config, "http://127.0.0.1:9/v1", warnings, timeout=1.0)(
        seed_articles(), config.sections, "en"
    )
    assert digest == extractive(config)
    assert len(warnings) == 1


def test_the_pipeline_builds_the_llm_backend_from_config(
    chat: tuple[FakeChat, str], project: Path
) -> None:
    from datetime import UTC, datetime

    from newsletter.pipeline import run

    fake, url = chat
    fake.reply = lambda body: (
        200,
        "Moscow demands Kyiv renounce NATO ambitions and withdraw from four provinces."
        if "Russia's demands" in body["messages"][0]["content"]
        else "",
        0,
    )
    toml = project / "newsletter.toml"
    toml.write_text(
        toml.read_text().replace(
            "[summary]\n", f'[summary]\nbackend = "llm"\nllm_url = "{url}"\nllm_model = "m"\n'
        )
    )
    warnings: list[str] = []
    result = run(load_config(toml), now=datetime(2025, 11, 20, 8, tzinfo=UTC), warn=warnings.append)
    assert result.status == "written" and result.path is not None, result
    data = json.loads((result.path / "issue.json").read_text())
    russia = next(s for s in data["sections"] if s["id"] == "russia-demands")
    assert [i["text"] for i in russia["items"]] == [
        "Moscow demands Kyiv renounce NATO ambitions and withdraw from four provinces."
    ]
    assert russia["items"][0]["sources"][0]["title"].startswith("US pushes Ukraine")
    assert fake.requests and warnings == []
