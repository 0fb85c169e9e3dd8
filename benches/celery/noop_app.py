"""The Celery side of `scripts/bench.sh celery`: a no-op task on the same
local RabbitMQ, configured the way a careful Celery deployment runs —
persistent messages on a durable quorum queue, publisher confirms
(`confirm_publish`), and `acks_late` (a task is acked after it ran, so a
worker crash redelivers it, as dorafleet does).

Each finished task appends one byte to a counter file, so the driver
(`run.py`) knows when the last one ran without a result backend.
"""

import os

from celery import Celery
from kombu import Queue

QUEUE = os.environ.get("BENCH_QUEUE", "celery-bench")
COUNTER = os.environ.get("BENCH_COUNTER", "/tmp/celery-bench.count")

app = Celery("dorafleet_bench", broker=os.environ.get("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    task_acks_late=True,
    task_ignore_result=True,
    task_default_delivery_mode="persistent",
    task_default_queue=QUEUE,
    task_queues=[
        Queue(QUEUE, durable=True, queue_arguments={"x-queue-type": "quorum"}),
    ],
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)

_fd = None


@app.task(name="noop")
def noop(body):
    """Does nothing but count itself: the body is as large as a dorafleet
    task envelope, so both move messages of the same size."""
    global _fd
    if _fd is None:
        _fd = os.open(COUNTER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_fd, b".")
