package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/backupbot/backupbot/internal/redisurl"
	"github.com/backupbot/backupbot/internal/testredis"
)

// /metrics tells an autoscaler how many jobs wait and how many workers
// there are, read from the real queue.
func TestQueueMetrics(t *testing.T) {
	conn, err := redisurl.Parse(testRedisURL(t, testredis.DBBackupbot))
	if err != nil {
		t.Fatal(err)
	}
	aq := asynq.NewClient(conn.Asynq)
	defer aq.Close()
	for range 3 {
		if _, err := aq.Enqueue(asynq.NewTask("backup:create", []byte("{}")), asynq.Queue("default")); err != nil {
			t.Fatal(err)
		}
	}
	c := newQueueCollector(conn.Asynq, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := `
# HELP backupbot_workers Worker processes connected to Redis.
# TYPE backupbot_workers gauge
backupbot_workers 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "backupbot_workers"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "backupbot_queue_jobs" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["queue"] == "default" && labels["state"] == "pending" {
				found = true
				if v := m.GetGauge().GetValue(); v != 3 {
					t.Errorf("backupbot_queue_jobs{queue=default,state=pending} = %v, want 3", v)
				}
			}
		}
	}
	if !found {
		t.Error("no backupbot_queue_jobs{queue=default,state=pending} on /metrics")
	}
}
