"""Times Celery on no-op tasks, publish and consume together, for
`scripts/bench.sh celery` (called by crates/dorafleet/benches/fleet.rs, which
runs dorafleet on the same RabbitMQ in the same run and prints the ratio).

Starts Celery worker nodes on a fresh quorum queue, waits until each one
consumes, then publishes N tasks with publisher confirms while the workers
run them (acks_late), and reports, as one JSON line prefixed `celery-bench:`,
the time from the first publish to the last confirm and to the last task run.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))


def celery_url(url):
    # dorafleet writes the default vhost as %2f; Celery (kombu) as //.
    for suffix in ("/%2f", "/%2F"):
        if url.endswith(suffix):
            return url[: -len(suffix)] + "//"
    return url


def consumers(conn, queue):
    channel = conn.channel()
    try:
        _, _, count = channel.queue_declare(queue=queue, passive=True)
        return count
    except Exception:
        return 0
    finally:
        try:
            channel.close()
        except Exception:
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--body-bytes", type=int, default=400)
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--workers", type=int, default=1, help="worker nodes (processes)")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1,
                        help="prefork children per node")
    args = parser.parse_args()

    queue = "celery-bench-" + uuid.uuid4().hex
    work = tempfile.mkdtemp(prefix="celery-bench-")
    counter = os.path.join(work, "done")
    env = dict(os.environ, BENCH_QUEUE=queue, BENCH_COUNTER=counter,
               BENCH_AMQP=celery_url(args.amqp), PYTHONPATH=HERE)
    os.environ.update(env)
    sys.path.insert(0, HERE)
    from noop_app import app, noop  # noqa: E402 (configured by the environment above)

    nodes = []
    try:
        for i in range(args.workers):
            log = open(os.path.join(work, f"worker-{i}.log"), "w")
            nodes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "noop_app", "worker",
                 "--pool", "prefork", "--concurrency", str(args.concurrency),
                 "--queues", queue, "--hostname", f"bench{i}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "--loglevel", "WARNING"],
                cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT))
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=3)
            deadline = time.monotonic() + 120
            while consumers(conn, queue) < args.workers:
                if time.monotonic() > deadline:
                    raise SystemExit("celery workers did not start consuming within 120 s")
                if any(n.poll() is not None for n in nodes):
                    raise SystemExit("a celery worker exited; see " + work)
                time.sleep(0.05)

        body = "x" * args.body_bytes
        start = time.monotonic()
        with app.producer_or_acquire() as producer:
            for _ in range(args.tasks):
                noop.apply_async((body,), producer=producer)
        published = time.monotonic() - start
        deadline = time.monotonic() + 900
        while (os.path.getsize(counter) if os.path.exists(counter) else 0) < args.tasks:
            if time.monotonic() > deadline:
                raise SystemExit("celery did not run every task within 15 minutes")
            time.sleep(0.005)
        total = time.monotonic() - start
        print("celery-bench: " + json.dumps({
            "tasks": args.tasks,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "published_s": published,
            "total_s": total,
            "tasks_per_sec": args.tasks / total,
            "celery": __import__("celery").__version__,
            "kombu": __import__("kombu").__version__,
        }), flush=True)
    finally:
        for node in nodes:
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()
        try:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue=queue)
        except Exception as e:  # leave the queue rather than hide the figures
            print(f"(could not delete {queue}: {e})", file=sys.stderr)


if __name__ == "__main__":
    main()
