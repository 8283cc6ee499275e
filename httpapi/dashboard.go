package httpapi

import (
	"context"
	"html/template"
	"net/http"
	"time"
)

// Dashboard is what the backup dashboard at / shows.
type Dashboard struct {
	// Running are the jobs queued or in progress.
	Running []JobRow
	// Recent are jobs that finished lately, newest first.
	Recent []JobRow
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

var dashboardPage = template.Must(template.New("dashboard").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>backupbot</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin-bottom:2rem;min-width:40rem}
th,td{text-align:left;padding:.3rem .8rem;border-bottom:1px solid #ddd}
th{background:#f4f4f4} code{font-size:.9em} .ready{color:#186a3b} .down{color:#a93226}
</style></head><body>
<h1>backupbot</h1>
<p>Service: {{if .Ready.Ready}}<span class="ready">ready</span>{{else}}<span class="down">not ready</span>{{end}}
{{range $name, $v := .Ready.Checks}} · {{$name}}: {{$v}}{{end}}</p>
{{if .Err}}<p class="down">Could not read the job list: {{.Err}}</p>{{end}}
<h2>Running and queued jobs</h2>
{{template "rows" .Data.Running}}
<h2>Recently finished</h2>
{{template "rows" .Data.Recent}}
<p><small>Updated {{.Now.Format "2006-01-02 15:04:05 MST"}}; refreshes every 5 s. Metrics at <a href="/metrics">/metrics</a>.</small></p>
</body></html>
{{define "rows"}}{{if .}}<table><tr><th>Job</th><th>Command</th><th>By</th><th>State</th><th>Progress</th><th>Since</th></tr>
{{range .}}<tr><td><code>{{.ID}}</code></td><td><code>{{.Command}}</code></td><td>{{.Requester}}</td><td>{{.State}}</td><td>{{.Progress}}</td><td>{{if not .Since.IsZero}}{{.Since.Format "15:04:05"}}{{end}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}{{end}}`))

func (s *Server) dashboard(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
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
