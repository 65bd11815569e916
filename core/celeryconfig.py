"""Celery configuration for at-least-once delivery on Redis, built from settings. Pure.

Every process that publishes or consumes upload tasks uses it, so the transport options (visibility
timeout, priority steps) are the same everywhere, as kombu requires.
"""

from __future__ import annotations

from typing import Any

from core.contract import PRIORITY_LIVE, PRIORITY_STEPS, UPLOAD_PART_TASK, UPLOAD_TASK
from core.settings import Settings


def celery_config(settings: Settings, publish_forever: bool) -> dict[str, Any]:
    """The Celery settings every process shares; ``publish_forever`` makes publishing wait for Redis.

    Workers publish their own retries and must never drop one (``publish_forever``); the encoder and
    the CLI keep going when Redis is down, because the journal and the reconciler will publish later.
    """
    queue = settings.worker.queue
    publish_policy = (
        {"max_retries": None, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 5.0}
        if publish_forever
        else {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
    )
    return {
        "broker_url": settings.redis.url.get_secret_value(),
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # Sweep for tasks of dead workers often enough that they return soon after the timeout.
            "unacked_restore_interval": max(1, min(30, settings.visibility_timeout // 10)),
            "unacked_restore_throttle": 1,
            "queue_order_strategy": "priority",
            "priority_steps": PRIORITY_STEPS,
            "socket_keepalive": True,
            "health_check_interval": 10,
            "socket_connect_timeout": 5,
            "socket_timeout": 30,
            "retry_on_timeout": True,
        },
        "broker_connection_retry": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_channel_error_retry": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.upload.soft_time_limit,
        "task_time_limit": settings.upload.time_limit,
        "task_default_queue": queue,
        "task_routes": {UPLOAD_TASK: {"queue": queue}, UPLOAD_PART_TASK: {"queue": queue}},
        "task_default_priority": PRIORITY_LIVE,
        "task_publish_retry": True,
        "task_publish_retry_policy": publish_policy,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_pool_limit": 10,
    }
