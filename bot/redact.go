package bot

import "context"

// redactingSurface passes every message an adapter is asked to show
// through the service's redactor (the same one as the logs and the audit
// log), so no secret reaches a chat, whichever adapter and whichever code
// path posts it. The router wraps every surface it is given in one.
type redactingSurface struct {
	s      Surface
	redact func(string) string
}

func (r redactingSurface) Post(ctx context.Context, channel, thread string, msg Message) (MessageRef, error) {
	return r.s.Post(ctx, channel, thread, redactMessage(msg, r.redact))
}

func (r redactingSurface) Ephemeral(ctx context.Context, channel, thread, userID string, msg Message) error {
	return r.s.Ephemeral(ctx, channel, thread, userID, redactMessage(msg, r.redact))
}

func (r redactingSurface) Edit(ctx context.Context, ref MessageRef, msg Message) error {
	return r.s.Edit(ctx, ref, redactMessage(msg, r.redact))
}

func (r redactingSurface) Attach(ctx context.Context, channel, thread, filename string, data []byte, comment string) error {
	return r.s.Attach(ctx, channel, thread, r.redact(filename), []byte(r.redact(string(data))), r.redact(comment))
}

// redactMessage returns m with its text, fields and button labels
// redacted (button values are ids the router reads back).
func redactMessage(m Message, redact func(string) string) Message {
	m.Text = redact(m.Text)
	if len(m.Fields) > 0 {
		fields := make([]Field, len(m.Fields))
		for i, f := range m.Fields {
			fields[i] = Field{Label: redact(f.Label), Value: redact(f.Value)}
		}
		m.Fields = fields
	}
	if len(m.Buttons) > 0 {
		buttons := make([]Button, len(m.Buttons))
		for i, b := range m.Buttons {
			b.Label = redact(b.Label)
			buttons[i] = b
		}
		m.Buttons = buttons
	}
	return m
}

func (r *Router) wrap(s Surface) Surface {
	if s == nil {
		return nil
	}
	if _, ok := s.(redactingSurface); ok {
		return s
	}
	return redactingSurface{s: s, redact: r.redact}
}
