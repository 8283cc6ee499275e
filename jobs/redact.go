package jobs

// redactEvent returns ev with every text a person could have typed or a
// handler could have echoed (the command text, errors, the result's
// summary, fields, report and data) passed through redact, so no secret is
// stored in a job record or event. A nil redact changes nothing.
func redactEvent(ev Event, redact func(string) string) Event {
	if redact == nil {
		return ev
	}
	ev.Meta = redactMeta(ev.Meta, redact)
	ev.Error = redact(ev.Error)
	if ev.Progress != nil {
		p := *ev.Progress
		p.Path = redact(p.Path)
		ev.Progress = &p
	}
	if ev.Result != nil {
		ev.Result = redactResult(ev.Result, redact)
	}
	return ev
}

func redactMeta(m Meta, redact func(string) string) Meta {
	if redact == nil {
		return m
	}
	m.Text = redact(m.Text)
	return m
}

func redactResult(r *Result, redact func(string) string) *Result {
	out := *r
	out.Summary = redact(r.Summary)
	if len(r.Fields) > 0 {
		out.Fields = make([]Field, len(r.Fields))
		for i, f := range r.Fields {
			out.Fields[i] = Field{Label: redact(f.Label), Value: redact(f.Value)}
		}
	}
	if r.Report != nil {
		rep := *r.Report
		rep.Name = redact(rep.Name)
		rep.Data = []byte(redact(string(rep.Data)))
		out.Report = &rep
	}
	if len(r.Data) > 0 {
		if d := redact(string(r.Data)); d != string(r.Data) {
			out.Data = []byte(d)
		}
	}
	return &out
}
