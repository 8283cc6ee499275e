package httpapi

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/backupbot/backupbot/compliance"
	"github.com/backupbot/backupbot/internal/humanize"
)

// Dashboard is what the backup dashboard at / shows.
type Dashboard struct {
	// Running are the jobs queued or in progress.
	Running []JobRow
	// Recent are jobs that finished lately, newest first (shown when the
	// job history is empty).
	Recent []JobRow
	// Compliance holds every target's figures (compliance.Compute).
	Compliance compliance.Report
	// Storages are the storages' sizes over time.
	Storages []StorageUse
	// Jobs are finished jobs from the history, newest first.
	Jobs []compliance.Job
	// Verifies are finished verify jobs (recovery tests among them), newest first.
	Verifies []compliance.Job
	// Incidents are the incidents not yet resolved.
	Incidents []IncidentRow
}

// JobRow is one job on the dashboard.
type JobRow struct {
	ID        string
	Command   string
	Requester string
	State     string
	Progress  string
	Since     time.Time
}

// StorageUse is one storage's size samples, oldest first.
type StorageUse struct {
	Name    string
	Samples []compliance.Sample
}

// IncidentRow is one open incident.
type IncidentRow struct {
	ID, Kind, Subject, State, LastError, AckedBy string
	Failures                                     int
	OpenedAt                                     time.Time
}

// chartView is a storage's growth chart, laid out on the server.
type chartView struct {
	Name          string
	Width, Height int
	Polyline      string
	Points        []chartPoint
	Now, Max      string
	From, To      string
}

type chartPoint struct {
	X, Y  float64
	Bytes int64
	At    string
	Title string
}

// chart lays out a storage's samples as an SVG line with one circle per sample.
func chart(u StorageUse) chartView {
	const w, h, pad = 480, 140, 10
	v := chartView{Name: u.Name, Width: w, Height: h}
	if len(u.Samples) == 0 {
		return v
	}
	first, last := u.Samples[0].At, u.Samples[len(u.Samples)-1].At
	var top int64 = 1
	for _, s := range u.Samples {
		top = max(top, s.Bytes)
	}
	span := last.Sub(first).Seconds()
	var pts []string
	for i, s := range u.Samples {
		x := float64(pad)
		switch {
		case span > 0:
			x += (w - 2*pad) * s.At.Sub(first).Seconds() / span
		case len(u.Samples) > 1:
			x += (w - 2*pad) * float64(i) / float64(len(u.Samples)-1)
		}
		y := float64(h-pad) - (h-2*pad)*float64(s.Bytes)/float64(top)
		x, y = math.Round(x*10)/10, math.Round(y*10)/10
		pts = append(pts, fmt.Sprintf("%g,%g", x, y))
		at := s.At.UTC().Format("2006-01-02 15:04:05")
		v.Points = append(v.Points, chartPoint{X: x, Y: y, Bytes: s.Bytes, At: s.At.UTC().Format(time.RFC3339),
			Title: at + " UTC: " + humanize.Bytes(s.Bytes)})
	}
	v.Polyline = strings.Join(pts, " ")
	v.Now, v.Max = humanize.Bytes(u.Samples[len(u.Samples)-1].Bytes), humanize.Bytes(top)
	v.From, v.To = first.UTC().Format("01-02 15:04"), last.UTC().Format("01-02 15:04")
	return v
}

var dashboardFuncs = template.FuncMap{
	"since": compliance.Since,
	"bytes": humanize.Bytes,
	"chart": chart,
	"dur": func(d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		if d < time.Minute {
			return d.Round(100 * time.Millisecond).String()
		}
		return d.Round(time.Second).String()
	},
	"speed": func(j compliance.Job) string {
		if s := j.Speed(); s > 0 {
			return humanize.Rate(s)
		}
		return "—"
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("01-02 15:04:05")
	},
}

var dashboardPage = template.Must(template.New("dashboard").Funcs(dashboardFuncs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>backupbot</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}
table{border-collapse:collapse;margin-bottom:1.5rem;min-width:40rem}
th,td{text-align:left;padding:.3rem .8rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4} code{font-size:.9em} .ready,.ok{color:#186a3b} .down{color:#a93226}
.stale,.failed,.bad{color:#b00020} .stale strong{font-weight:700;text-transform:uppercase;font-size:.8em}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem} figure{margin:0} figcaption{font-size:.9em;margin-bottom:.2rem}
svg.growth{border:1px solid #ddd;background:#fcfcfc} svg.growth polyline{fill:none;stroke:#2e6da4;stroke-width:2}
svg.growth circle{fill:#2e6da4} small{color:#555}
</style></head><body>
<h1>backupbot</h1>
<p>Service: {{if .Ready.Ready}}<span class="ready">ready</span>{{else}}<span class="down">not ready</span>{{end}}
{{range $name, $v := .Ready.Checks}} · {{$name}}: {{$v}}{{end}}</p>
{{if .Err}}<p class="down">Could not read everything the dashboard shows: {{.Err}}</p>{{end}}

<h2>Targets</h2>
{{with .Data.Compliance}}<p id="compliance-summary">{{.Summary}}</p>
<table id="targets"><tr><th>Target</th><th>Last good backup</th><th>Age</th><th>Schedule</th><th>Success 7 d</th><th>Success 30 d</th><th>Coverage</th><th>RPO achieved (of allowed)</th><th>Retention</th><th>3-2-1</th></tr>
{{range .Targets}}<tr class="target{{if .Stale}} stale{{end}}" data-target="{{.Name}}">
<td><code>{{.Name}}</code></td>
<td>{{if .LastGood.IsZero}}never{{else}}{{.LastGood.UTC.Format "2006-01-02 15:04"}} UTC{{if .Storage}} on {{.Storage}}{{end}}{{end}}</td>
<td class="age{{if .Stale}} stale{{else}} ok{{end}}">{{if .LastGood.IsZero}}—{{else}}{{since .Age}}{{end}}{{if .Stale}} <strong>stale</strong>{{end}}</td>
<td>{{.ScheduleText}}</td><td>{{.Rate7}}</td><td>{{.Rate30}}</td>
<td class="{{if eq .Coverage "ok"}}ok{{else}}bad{{end}}">{{.Coverage}}</td>
<td class="{{if .RPOMet}}ok{{else}}bad{{end}}">{{.RPOText}}</td>
<td class="{{if .RetentionOK}}ok{{else}}bad{{end}}">{{.Retention}}</td><td>{{.ThreeTwoOne}}</td></tr>
{{end}}</table>{{else}}<p>No targets configured.</p>{{end}}

<h2>Open incidents</h2>
{{if .Data.Incidents}}<table id="incidents"><tr><th>Incident</th><th>What</th><th>State</th><th>Failures</th><th>Opened</th><th>Last error</th></tr>
{{range .Data.Incidents}}<tr class="incident {{.State}}"><td><code>{{.ID}}</code></td><td>{{.Kind}} {{.Subject}}</td><td>{{.State}}{{if .AckedBy}} by {{.AckedBy}}{{end}}</td><td>{{.Failures}}</td><td>{{when .OpenedAt}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}

<h2>Storage use</h2>
{{if .Data.Storages}}<div class="charts">{{range .Data.Storages}}{{with chart .}}
<figure><figcaption><code>{{.Name}}</code>: {{.Now}} now (peak {{.Max}}), {{len .Points}} samples {{.From}} – {{.To}} UTC</figcaption>
<svg class="growth" data-storage="{{.Name}}" data-points="{{len .Points}}" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="size of storage {{.Name}} over time">
<polyline points="{{.Polyline}}"/>{{range .Points}}<circle class="sample" cx="{{.X}}" cy="{{.Y}}" r="3" data-bytes="{{.Bytes}}" data-at="{{.At}}"><title>{{.Title}}</title></circle>{{end}}
</svg></figure>{{end}}{{end}}</div>
<p><small>The repository size after each backup or cleanup, as its index tells it (bytes added minus bytes freed where a job did not report it).</small></p>
{{else}}<p>No backups recorded yet.</p>{{end}}

<h2>Running and queued jobs</h2>
{{template "rows" .Data.Running}}

<h2>Recent jobs</h2>
{{if .Data.Jobs}}<table id="jobs"><tr><th>Job</th><th>Command</th><th>Result</th><th>Ended</th><th>Duration</th><th>Read</th><th>Speed</th><th>Error</th></tr>
{{range .Data.Jobs}}<tr class="job {{.Result}}"><td><code>{{.ID}}</code></td><td><code>{{.Text}}</code>{{if .Schedule}} <small>(schedule {{.Schedule}})</small>{{end}}</td><td class="{{.Result}}">{{.Result}}</td><td>{{when .End}}</td><td>{{dur .Duration}}</td><td>{{if .BytesRead}}{{bytes .BytesRead}}{{else}}—{{end}}</td><td>{{speed .}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{else}}{{template "rows" .Data.Recent}}{{end}}

<h2>Verify and recovery tests</h2>
{{if .Data.Verifies}}<table id="verifies"><tr><th>Job</th><th>Storage</th><th>Ended</th><th>Verify</th><th>Recovery test</th><th>Problems</th><th>Error</th></tr>
{{range .Data.Verifies}}<tr class="verify {{if .OK}}ok{{else}}failed{{end}}"><td><code>{{.ID}}</code></td><td>{{.Storage}}</td><td>{{when .End}}</td>
<td class="{{if .OK}}ok{{else}}failed{{end}}">{{if .OK}}passed{{else}}failed{{end}}</td>
<td>{{if .RestoreTest}}{{if .OK}}<span class="ok">passed</span>{{else}}<span class="failed">failed</span>{{end}}{{else}}—{{end}}</td><td>{{.Problems}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>No verify has run yet.</p>{{end}}

<p><small>Updated {{.Now.Format "2006-01-02 15:04:05 MST"}}; refreshes every 30 s. Metrics at <a href="/metrics">/metrics</a>.</small></p>
</body></html>
{{define "rows"}}{{if .}}<table><tr><th>Job</th><th>Command</th><th>By</th><th>State</th><th>Progress</th><th>Since</th></tr>
{{range .}}<tr><td><code>{{.ID}}</code></td><td><code>{{.Command}}</code></td><td>{{.Requester}}</td><td>{{.State}}</td><td>{{.Progress}}</td><td>{{if not .Since.IsZero}}{{.Since.Format "15:04:05"}}{{end}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}{{end}}`))

func (s *Server) dashboard(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	view := struct {
		Ready Readiness
		Data  Dashboard
		Err   string
		Now   time.Time
	}{Ready: s.Ready(ctx), Now: time.Now()}
	if s.dash != nil {
		d, err := s.dash(ctx)
		if err != nil {
			view.Err = err.Error()
		}
		view.Data = d
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := dashboardPage.Execute(w, view); err != nil {
		s.logger.Warn("http: rendering the dashboard", "err", err)
	}
}
