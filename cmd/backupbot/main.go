// Command backupbot is the service: chat adapters, HTTP endpoints, job
// workers and the scheduler (serve), or just the workers (worker), or just
// the adapters (bot).
package main

func main() {}
