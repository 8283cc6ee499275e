// Package jobs turns typed commands into asynq tasks on Redis and runs
// them: one handler per action, progress events published back through
// Redis, schedules, retries where a retry is safe.
package jobs
