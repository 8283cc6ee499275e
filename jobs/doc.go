// Package jobs turns typed commands into asynq tasks on Redis and runs
// them: one handler per action, progress events published back through
// Redis, status and cancel, schedules, retries where a retry is safe.
//
// # Shape
//
// The router enqueues with a Client (Enqueue returns the job id at once);
// workers (Worker.Run, any number of processes sharing one Redis) run the
// jobs; adapters follow them with Subscribe. Handlers look like asynq's
// (and net/http's): a Handler per action, HandlerFunc, Middleware. Every
// job runs through Recover (a panic fails the job, not the worker) and
// Recheck (the policy is asked again with the stored requester, so a
// queued job of someone who lost the role does not run), then the
// action's handler, which does the work through storage/engine.
//
// # Tasks and queues
//
// One task type per action, "backup:<action>", carrying Meta and the typed
// command as JSON (commands.MarshalCommand), never file data; the job id is
// the asynq TaskID. Queues, served with strict priority: critical
// (restores), default (chat commands), scheduled (backups fired by a
// schedule). Per action:
//
//	action    timeout  retries  why
//	create    12h      3        idempotent by job id: a retry returns the snapshot an earlier attempt made
//	restore   12h      2        converges: temp name + rename, a rerun ends in the same state
//	verify    12h      2        read-only (--fix rebuilds the index, harmless to repeat)
//	list      10m      2        read-only
//	test      5m       1        writes and deletes only its probe object
//	analyze   1h       1        read-only
//	snapshot  2h       2        each snapshot is a backup idempotent by job id
//	cleanup   6h       0        deletes data: never retried behind the user's back
//	export    6h       0        writes outside the repository
//	schedule  1m       0        a quick Redis update
//
// Retries wait 10 s, 30 s, 90 s... (capped at 10 min, with jitter).
// Failures a retry cannot fix (unknown target or storage, wrong password,
// missing snapshot, policy refusal, a panic) are marked Permanent and fail
// at once. --target all makes one snapshot per configured target, each
// with JobID "<job>/<target>", so a retried create makes only what is
// missing.
//
// # Events and status
//
// Workers publish queued, started, progress (at most one per second per
// job, plus one at each phase change, with rate and ETA computed from the
// bytes), retrying, succeeded, failed and canceled events to the capped
// Redis stream "backupbot:events" (and the pub/sub channel of the same
// name, for watchers). Subscribe reads the stream, so a subscriber that
// loses Redis for a while resumes where it was and misses nothing. A job's
// "queued" event is published before Enqueue returns. The latest status of
// each job is the hash "backupbot:job:<id>" (kept 7 days after the end);
// "backupbot:jobs:live" lists the unfinished ones for Running.
//
// # Cancel
//
// Cancel removes a queued job from the queue at once. For a running one it
// sets the flag "backupbot:job:<id>:cancel", which the running handler
// polls (every 250 ms); its context is cancelled, the engine stops at its
// next safe point, and the job ends "canceled" and is not retried. (asynq's
// CancelProcessing is not used: in asynq v0.26 the processor then races
// the handler's result against the cancelled context and may schedule a
// retry.)
//
// # Crashes and shutdown
//
// A stopping worker (Run's context done) takes no new job, cancels its
// running ones, which stop at a safe point and go back to the queue
// without counting as a failure, and returns. A worker that dies (SIGKILL,
// power loss) leaves its jobs "active" under an asynq lease that the dead
// worker no longer extends. asynq's lease is 30 s, extended every 5 s,
// and its own recoverer only looks every minute with 30 s of slack, so a
// dead worker's job would wait 60-120 s. Every Worker therefore also runs
// a small recoverer that, every 2 s, moves jobs whose lease ran out more
// than 5 s ago back to pending (the same atomic move as asynq's Requeue).
// Another worker picks the job up 30-40 s after the kill (measured: 35 s);
// the new attempt publishes "retrying" (saying another worker took over)
// before "started". A worker cut off from Redis stops the job itself when
// its own copy of the lease runs out, so two workers never run a job at
// once.
//
// # Latency
//
// An idle worker polls the queues every ~25 ms (asynq sleeps half to one
// and a half TaskCheckInterval after finding them empty), so a job starts
// about 25 ms after Enqueue (BenchmarkEnqueueToStart). On the embedded
// miniredis everything here works the same (TestJobsWorkOnEmbeddedMiniredis).
package jobs
