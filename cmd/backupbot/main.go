// Command backupbot is the service: chat adapters, HTTP endpoints, job
// workers and the scheduler (serve), or just the workers (worker), or just
// the adapters and HTTP endpoints (bot).
//
//	backupbot serve  [--config FILE] [--console] [--console-socket PATH] [--http-addr ADDR]
//	backupbot worker [--config FILE] [--concurrency N] [--http-addr ADDR]
//	backupbot bot    [--config FILE] [--console] [--console-socket PATH] [--http-addr ADDR]
//
// Redis comes from REDIS_URL; without it an embedded miniredis is started
// (everything queued dies with the process). SIGINT/SIGTERM stop
// gracefully (running jobs are handed back to the queue); SIGHUP reloads
// the policy from the configuration file.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
