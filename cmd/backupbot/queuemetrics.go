package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// queueCollector exports the queue's depth and the connected workers on
// /metrics, read from Redis at each scrape: what an autoscaler (the HPA
// hint in deploy/k8s) and the alert rules watch.
//
//	backupbot_queue_jobs{queue,state}  jobs per queue in state pending, active, scheduled or retry
//	backupbot_workers                  worker processes connected to this Redis
//	backupbot_worker_slots             jobs those workers can run at once (sum of --concurrency)
type queueCollector struct {
	insp    *asynq.Inspector
	log     *slog.Logger
	jobs    *prometheus.Desc
	workers *prometheus.Desc
	slots   *prometheus.Desc
}

func newQueueCollector(opt asynq.RedisConnOpt, log *slog.Logger) *queueCollector {
	return &queueCollector{
		insp: asynq.NewInspector(opt),
		log:  log,
		jobs: prometheus.NewDesc("backupbot_queue_jobs",
			"Jobs in each queue by state (pending: waiting for a worker; retry: waiting for a retry or for their target to be free).",
			[]string{"queue", "state"}, nil),
		workers: prometheus.NewDesc("backupbot_workers", "Worker processes connected to Redis.", nil, nil),
		slots:   prometheus.NewDesc("backupbot_worker_slots", "Jobs the connected workers can run at once.", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.workers
	ch <- c.slots
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	queues, err := c.insp.Queues()
	if err != nil {
		c.log.Debug("metrics: cannot list the queues", "err", err)
		return
	}
	for _, q := range queues {
		if ctx.Err() != nil {
			return
		}
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			c.log.Debug("metrics: cannot read a queue", "queue", q, "err", err)
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled, "retry": info.Retry} {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), q, state)
		}
	}
	servers, err := c.insp.Servers()
	if err != nil {
		c.log.Debug("metrics: cannot list the workers", "err", err)
		return
	}
	slots := 0
	for _, s := range servers {
		slots += s.Concurrency
	}
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(len(servers)))
	ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(slots))
}

// Close releases the inspector's connection.
func (c *queueCollector) Close() error { return c.insp.Close() }
