package alerts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/compliance"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/httpapi"
	"github.com/backupbot/backupbot/jobs"
)

// Rows of the dashboard's job tables.
const (
	dashboardJobs     = 25
	dashboardVerifies = 15
)

// DashboardSource reads what the dashboard at / shows from Redis: the
// compliance figures, storage growth, recent jobs, verify and recovery
// test results (the job history Recorder keeps) and open incidents.
type DashboardSource struct {
	Redis     redis.UniversalClient
	Config    func() *config.File
	Incidents *Incidents
	// ThreeTwoOne, when set, gives a target's 3-2-1 status.
	ThreeTwoOne func(target string) string
	// Now is the clock (nil: time.Now), for tests.
	Now func() time.Time
}

// Load fills a dashboard. What could be read is returned with the error
// of what could not.
func (s DashboardSource) Load(ctx context.Context) (httpapi.Dashboard, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	var d httpapi.Dashboard
	in, errIn := jobs.ComplianceInput(ctx, s.Redis, s.Config(), now)
	in.ThreeTwoOne = s.ThreeTwoOne
	d.Compliance = compliance.Compute(in)
	for _, j := range in.Jobs {
		if len(d.Jobs) < dashboardJobs {
			d.Jobs = append(d.Jobs, j)
		}
		if j.Action == "verify" && j.Result != "canceled" && len(d.Verifies) < dashboardVerifies {
			d.Verifies = append(d.Verifies, j)
		}
	}
	samples, errSamples := compliance.NewHistory(s.Redis).Samples(ctx)
	for name, ss := range samples {
		d.Storages = append(d.Storages, httpapi.StorageUse{Name: name, Samples: ss})
	}
	sort.Slice(d.Storages, func(i, j int) bool { return d.Storages[i].Name < d.Storages[j].Name })
	var errInc error
	if s.Incidents != nil {
		var open []*Incident
		open, errInc = s.Incidents.OpenIncidents(ctx)
		for _, inc := range open {
			d.Incidents = append(d.Incidents, httpapi.IncidentRow{ID: inc.ID, Kind: inc.Kind, Subject: inc.Subject,
				State: string(inc.State), LastError: inc.LastError, AckedBy: inc.AckedBy, Failures: inc.Failures, OpenedAt: inc.OpenedAt})
		}
	}
	return d, errors.Join(errIn, errSamples, errInc)
}

// OpenIncidents returns the incidents not yet resolved, oldest first.
func (s *Incidents) OpenIncidents(ctx context.Context) ([]*Incident, error) {
	ids, err := s.rdb.SMembers(ctx, openSet).Result()
	if err != nil {
		return nil, fmt.Errorf("incidents: list open incidents: %w", err)
	}
	out := make([]*Incident, 0, len(ids))
	for _, id := range ids {
		inc, err := s.Get(ctx, id)
		if errors.Is(err, ErrNoIncident) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, inc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OpenedAt.Before(out[j].OpenedAt) })
	return out, nil
}
