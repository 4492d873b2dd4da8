"""Celery tasks: thin. They take ids, and call one service each.

Every task is idempotent (work is claimed with conditional updates), so acks_late with
reject_on_worker_lost (settings) is safe: a task whose worker died runs again.
"""

import logging
import os

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from .services import generation, generation_engine, judging, judging_engine, prerender

logger = logging.getLogger(__name__)


def _hand_over_if_more(task, outcome: dict, *args) -> dict:
    """A drain's outcome, after queueing `task` again with the same `args` when the drain says
    rows are left that nobody else will take (`more`: it stopped after GENERATION_TASK_SECONDS,
    or rows became pending after its last claim): a fresh task takes over rather than this one
    running into Celery's time limits."""
    if outcome["more"]:
        task.apply_async(args=args)
    return outcome


@shared_task(bind=True, name="arena.tasks.generation_run_contestant")
def generation_run_contestant(self, contestant_id: int) -> dict:
    return _hand_over_if_more(self, generation_engine.generation_drain(contestant_id=contestant_id), contestant_id)


@shared_task(name="arena.tasks.generation_sweep_stuck")
def generation_sweep_stuck() -> int:
    # Judging runs on generation's engine and heartbeats, so the same sweep takes its claims back.
    return generation.generation_sweep_stuck() + judging.judging_sweep_stuck()


@shared_task(bind=True, name="arena.tasks.judging_run_judge")
def judging_run_judge(self, judge_id: int) -> dict:
    return _hand_over_if_more(self, judging_engine.judging_drain(judge_id=judge_id), judge_id)


@shared_task(name="arena.tasks.html_prerender")
def html_prerender(campaign_id: int) -> int:
    return prerender.html_prerender(campaign_id=campaign_id)


@worker_ready.connect
def sweep_when_a_worker_starts(sender=None, **kwargs):
    # A worker that starts after the others were killed gives their contestants a drain at
    # once when their heartbeats are already dead, and sweeps again as soon as the heartbeats
    # of a worker killed just now would be: recovery does not wait for beat (which sweeps every
    # GENERATION_SWEEP_SECONDS as well), nor for the broker to redeliver the killed tasks.
    generation_sweep_stuck.delay()
    generation_sweep_stuck.apply_async(
        countdown=settings.GENERATION_STUCK_AFTER_SECONDS + settings.GENERATION_HEARTBEAT_SECONDS
    )


@worker_process_init.connect
def load_the_model_client_when_a_pool_process_starts(**kwargs):
    # Importing openai (~0.5 s, ~40 MB) and building the HTTP client happen when a pool process
    # starts, not in the first generation task: lazily, they delayed the first call of a fresh
    # worker by up to 2 s on a busy machine. The main process, which never calls a model and
    # forks the pool before this runs, does not import openai at all.
    from . import llm

    llm.warm_up()
    logger.info("pool process %s ready (model client loaded)", os.getpid())
