"""The order in which dbt runs a build's nodes: when a thread is free, the ready node with the longest
chain of nodes still to run after it.

dbt hands every node to its thread pool as soon as the node's dependencies are done, in a queue the
pool's threads take in turn (`dbt.task.runnable.GraphRunnableTask.run_queue`); among nodes that become
ready together, the shallowest in the build's graph first (`dbt.graph.queue.GraphQueue._get_scores`).
So a node waits behind every node that became ready before it, and the build's deepest chain
(int_outcomes__* -> operators.funder_outcome_member_rows -> int_outcomes__member_counts ->
funder_outcomes, with their tests) waited behind dozens of quick tests: in a 1 % build at 10 M events its
last 3 to 4 s ran on one of the two threads while the other had nothing left to do (docs/benchmarks.md).
Here dbt takes a node from its queue only when one of its threads is free, and takes the one with the
most nodes still to run after it (a list scheduler's critical path first); the short nodes fill the other
thread beside the long chain.

Only the order among ready nodes changes: dbt still runs a node only once every node it depends on is
done, so a build computes exactly what it computed before (tests/test_dbt_order.py). This replaces
private parts of dbt-core 1.11 (pinned in pyproject.toml) in the pipeline's dbt process only
(`dbt_prestarted`); a dbt without them runs the build in its own order, with a warning."""

from __future__ import annotations

import logging

import networkx as nx

log = logging.getLogger(__name__)


def longest_chain_first(graph: nx.DiGraph) -> dict[str, int]:
    """Each node's score for dbt's priority queue (the lowest is taken first): minus the number of nodes
    on the longest path from it to the end of the build, itself included."""
    chain: dict[str, int] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        chain[node] = 1 + max((chain[child] for child in graph.successors(node)), default=0)
    return {node: -length for node, length in chain.items()}


def install() -> None:
    """In this process, make dbt run its builds longest chain first (before dbt builds its queue)."""
    from dbt.graph.queue import GraphQueue
    from dbt.task.runnable import GraphRunnableTask

    if not all(
        callable(getattr(cls, name, None))
        for cls, name in [
            (GraphQueue, "_get_scores"),
            (GraphQueue, "get"),
            (GraphRunnableTask, "run_queue"),
        ]
    ):
        log.warning("dbt's queue is not the one dbt_order knows: dbt runs the build in its own order")
        return
    GraphQueue._get_scores = lambda _queue, graph: longest_chain_first(graph)
    run_queue = GraphRunnableTask.run_queue

    def run_queue_taking_nodes_when_a_thread_is_free(task: GraphRunnableTask, pool) -> None:
        take_when_a_thread_is_free(task.job_queue, pool.max_threads)
        run_queue(task, pool)

    GraphRunnableTask.run_queue = run_queue_taking_nodes_when_a_thread_is_free


def take_when_a_thread_is_free(queue, threads: int) -> None:
    """Make `queue` (a dbt GraphQueue) hand out a node only while fewer than `threads` of the nodes it
    handed out are running: until then, a node that becomes ready can still go before the waiting ones.
    dbt marks each node done in its queue (`mark_done`, which wakes `some_task_done`) when it has run."""
    get = queue.get

    def get_when_a_thread_is_free(block: bool = True, timeout: float | None = None):
        with queue.lock:
            while len(queue.in_progress) >= threads:
                queue.some_task_done.wait()
        return get(block, timeout)

    queue.get = get_when_a_thread_is_free
