"""Blocking Redis calls that may poll for their reply (URL option ``busy_poll_us``) against ones that sleep for it.

Run from the repository root (about 1 minute):

    .venv/bin/python benchmarks/redis_poll.py [--repeats 5]

Two tables, both on a plain Redis 7.4 started by this script, the two ways taking turns (order alternating) and
medians over the repeats, once with the machine as it is and once with as many more processes spinning as it has
cores, at the lowest priority (they keep every core awake, and yield it to the benchmark and Redis). With
``busy_poll_us=100`` each connection times its exchanges polled and asleep and keeps to the faster way, which the
machine's state decides (`backends/redis/reply_wait.py`):

* round trips on one kept connection, written and read by lix's socket exchange (`backends/redis/sockets.py`)
  with ``busy_poll_us=0`` and ``100``: ``RPUSH`` of a 200-byte value, and ``EVALSHA`` of lix's chat append
  script (what a chat add sends);
* lix's sync chat adds (``LixChatStore.add_message``, one engine per way) from 1, 2, 4 and 16 threads at once:
  messages per second, and the process's CPU time per message (polling trades CPU for wake-ups).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts this script's folder first on sys.path, where benchmarks/redis.py would shadow the redis package:
# move the folder to the end, so ``import redis`` finds redis-py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from redis import Redis  # noqa: E402

from lix_integrations import Engine  # noqa: E402
from lix_integrations.backends.redis.list_scripts import APPEND  # noqa: E402
from lix_integrations.backends.redis.sockets import exchange  # noqa: E402
from lix_integrations.config import SessionConfig  # noqa: E402
from lix_integrations.testing.redis_servers import start_plain  # noqa: E402

POLLS = (0, 100)  # busy_poll_us of the two ways
CALLS = 2000
THREADS = (1, 2, 4, 16)
ADDS = 4000  # per way and thread count, spread over the threads


def round_trips(url: str, repeats: int) -> dict[tuple[str, int], float]:
    """Median microseconds per call, by (command, busy_poll_us)."""
    client = Redis.from_url(url, socket_timeout=2.0)
    sha = client.script_load(APPEND.text)
    conn = client.connection_pool.get_connection()
    conn.connect()
    value = "x" * 200
    commands: dict[str, Callable[[int], tuple[object, ...]]] = {
        "RPUSH": lambda i: ("RPUSH", f"poll:r{i % 100}", value),
        "EVALSHA append": lambda i: ("EVALSHA", sha, 1, f"poll:{{l/{i % 100}}}:meta", "1.0", 1, 0, value),
    }
    times: dict[tuple[str, int], list[float]] = {}
    for rep in range(repeats):
        for name, command in commands.items():
            for poll in POLLS if rep % 2 else POLLS[::-1]:
                began = time.perf_counter()
                for i in range(CALLS):
                    exchange(conn, [command(i)], poll / 1e6)
                times.setdefault((name, poll), []).append((time.perf_counter() - began) / CALLS * 1e6)
    client.connection_pool.release(conn)
    client.close()
    return {key: statistics.median(values) for key, values in times.items()}


def chat_adds(url: str, repeats: int) -> dict[tuple[int, int], tuple[float, float]]:
    """Median (messages/s, CPU us per message), by (threads, busy_poll_us)."""
    from llama_index.core.llms import ChatMessage

    from lix_integrations.llama_index.chat_store import LixChatStore

    archives = {poll: tempfile.TemporaryDirectory(prefix="lix-bench-poll-") for poll in POLLS}
    engines = {
        poll: Engine(
            f"{url}?prefix=poll{poll}&busy_poll_us={poll}",
            sessions=SessionConfig(
                archive_dir=archives[poll].name
            ),  # one each: archive names are session ids
        )
        for poll in POLLS
    }
    stores = {poll: LixChatStore(engine=engine) for poll, engine in engines.items()}
    message = ChatMessage(role="user", content="a message of about the size of a chat turn " + "x" * 60)
    rates: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def talk(store: LixChatStore, key: str, count: int) -> None:
        for i in range(count):
            store.add_message(f"{key}-{i % 20}", message)

    try:
        for rep in range(repeats):
            for threads in THREADS:
                for poll in POLLS if rep % 2 else POLLS[::-1]:
                    workers = [
                        threading.Thread(
                            target=talk, args=(stores[poll], f"r{rep}t{threads}w{w}", ADDS // threads)
                        )
                        for w in range(threads)
                    ]
                    cpu, began = time.process_time(), time.perf_counter()
                    for worker in workers:
                        worker.start()
                    for worker in workers:
                        worker.join()
                    done = ADDS // threads * threads
                    rates.setdefault((threads, poll), []).append(
                        (done / (time.perf_counter() - began), (time.process_time() - cpu) / done * 1e6)
                    )
    finally:
        for engine in engines.values():
            engine.close()
        for archive in archives.values():
            archive.cleanup()
    return {
        key: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
        for key, runs in rates.items()
    }


def _spin(parent: int) -> None:
    """A child's busy loop at the lowest priority: it keeps a core awake and yields it to any other work. It ends
    with its parent (killed, the parent's ``finally`` does not run)."""
    os.nice(19)
    while os.getppid() == parent:
        for _ in range(100_000):
            pass


def report(
    title: str, trips: dict[tuple[str, int], float], adds: dict[tuple[int, int], tuple[float, float]]
) -> None:
    print(f"\n{title}\n")
    print(
        "| round trip, one kept connection | us, sleeping (busy_poll_us=0) | us, busy_poll_us=100 | ratio of times |"
    )
    print("| --- | ---: | ---: | ---: |")
    for name in ("RPUSH", "EVALSHA append"):
        slept, polled = trips[(name, 0)], trips[(name, 100)]
        print(f"| {name} | {slept:.1f} | {polled:.1f} | {polled / slept:.2f} |")
    print()
    print(
        "| LixChatStore.add_message, threads | adds/s, sleeping | adds/s, busy_poll_us=100 | ratio | CPU us/add, sleeping | CPU us/add, busy_poll_us=100 |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for threads in THREADS:
        (slept, slept_cpu), (polled, polled_cpu) = adds[(threads, 0)], adds[(threads, 100)]
        print(
            f"| {threads} | {slept:,.0f} | {polled:,.0f} | {polled / slept:.2f} | {slept_cpu:.1f} | {polled_cpu:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    server = start_plain()
    busy = max(os.cpu_count() or 1, 1)
    try:
        for state in ("as it is", "busy"):
            spinners = [
                multiprocessing.Process(target=_spin, args=(os.getpid(),), daemon=True)
                for _ in range(busy if state == "busy" else 0)
            ]
            for spinner in spinners:
                spinner.start()
            try:
                trips = round_trips(server.url, args.repeats)
                adds = chat_adds(server.url, args.repeats)
            finally:
                for spinner in spinners:
                    spinner.kill()
                    spinner.join()
            load = os.getloadavg()[0]
            extra = f", {busy} more processes spinning at nice 19" if spinners else ""
            report(
                f"Machine {state}{extra} (load average {load:.1f} at the end), median of {args.repeats}",
                trips,
                adds,
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
