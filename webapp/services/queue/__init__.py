"""The queue: submitting links, batching the writes, waking the workers, changing jobs from
outside the worker (cancel, retry, pause, reorder), listing the queue, the events every change
writes, the queue-wide pause and the worker's heartbeat."""
