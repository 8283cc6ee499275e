// Package discordtest is a fake Discord for tests: an httptest server that
// speaks the parts of Discord's REST API backupbot uses (create and edit
// message, start a thread from a message, interaction follow-ups, the bot's
// own user), including multipart uploads and 429 answers, recording every
// call; plus helpers that build interactions in Discord's wire format and
// sign them with Ed25519 exactly as Discord does.
package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backupbot/backupbot/bot/chatfake"
)

// Routes of the fake, as recorded in Call.Route.
const (
	RouteCreateMessage = "POST /channels/{channel}/messages"
	RouteEditMessage   = "PATCH /channels/{channel}/messages/{message}"
	RouteStartThread   = "POST /channels/{channel}/messages/{message}/threads"
	RouteFollowup      = "POST /webhooks/{app}/{token}"
	RouteMe            = "GET /users/@me"
)

// apiPrefix is where the fake serves the API, like Discord's /api/v10.
const apiPrefix = "/api/v10"

// Options configures a fake Discord.
type Options struct {
	// BotToken is the token bot calls must carry ("Authorization: Bot TOKEN").
	BotToken string
	// DMChannels are channel ids that behave like DMs: no threads there.
	DMChannels []string
}

// File is one file part of a multipart request.
type File struct {
	Field string // "files[0]"
	Name  string
	Data  []byte
}

// Call is one recorded REST call.
type Call struct {
	Route   string
	Path    string
	Channel string // the {channel} path value, if any
	Message string // the {message} path value, if any
	// Payload is the JSON body, or the payload_json part of a multipart one.
	Payload json.RawMessage
	Files   []File
	// Status is the HTTP status the fake answered with.
	Status int
	// ID is the id of the message or thread the call created.
	ID string
}

// Decode unmarshals the call's payload into v.
func (c Call) Decode(v any) error { return json.Unmarshal(c.Payload, v) }

// Message is what the fake holds for one message.
type Message struct {
	ID         string
	ChannelID  string
	Content    string
	Embeds     json.RawMessage
	Components json.RawMessage
	Flags      int
	Files      []File
	Edits      int
}

// Thread is a thread the fake created.
type Thread struct {
	ID            string
	Name          string
	ParentChannel string
	ParentMessage string
}

// RateLimit makes calls of one route answer 429.
type RateLimit struct {
	// Times is how many calls in a row are refused.
	Times int
	// RetryAfter is the wait Discord asks for.
	RetryAfter time.Duration
	// HeaderOnly sends the wait only as a Retry-After header (whole
	// seconds), with no retry_after in the body.
	HeaderOnly bool
}

// Server is a running fake Discord. Its zero value is not usable; call New.
type Server struct {
	// Base serves the fake and logs its calls: URL, Calls, Answered,
	// WaitCalls and Close.
	chatfake.Base[Call]

	opts Options

	mu         sync.Mutex
	messages   map[string]*Message
	threads    map[string]*Thread // by thread (= parent message) id
	rateLimits map[string]RateLimit
	seq        uint64
}

// New starts a fake Discord on a loopback port. Close it when done.
func New(opts Options) *Server {
	s := &Server{
		opts:       opts,
		messages:   map[string]*Message{},
		threads:    map[string]*Thread{},
		rateLimits: map[string]RateLimit{},
		seq:        1300000000000000000,
	}
	mux := http.NewServeMux()
	for _, route := range []string{RouteCreateMessage, RouteEditMessage, RouteStartThread, RouteFollowup, RouteMe} {
		method, path, _ := strings.Cut(route, " ")
		mux.HandleFunc(method+" "+apiPrefix+path, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, route) })
	}
	s.Start(mux, func(c Call) string { return c.Route }, func(c Call) bool { return c.Status/100 == 2 })
	return s
}

// APIURL is the REST API base address to give the client (DISCORD_API_URL).
func (s *Server) APIURL() string { return s.URL + apiPrefix }

// RateLimit makes the next rl.Times calls of route answer 429.
func (s *Server) RateLimit(route string, rl RateLimit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits[route] = rl
}

// Message returns the fake's copy of a message.
func (s *Server) Message(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[id]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Threads returns the threads created so far.
func (s *Server) Threads() []Thread {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Thread
	for _, t := range s.threads {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Thread) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AddMessage puts a message the bot did not post (a user's) into channel
// and returns its id.
func (s *Server) AddMessage(channel, content string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID()
	s.messages[id] = &Message{ID: id, ChannelID: channel, Content: content}
	return id
}

func (s *Server) nextID() string {
	s.seq++
	return strconv.FormatUint(s.seq, 10)
}

// apiErr is Discord's JSON error body.
type apiErr struct {
	status  int
	code    int
	message string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string) {
	call := Call{Route: route, Path: r.URL.Path, Channel: r.PathValue("channel"), Message: r.PathValue("message"), Status: http.StatusOK}
	payload, files, err := readBody(r)
	if err != nil {
		s.mu.Lock()
		call.Status = http.StatusBadRequest
		s.Record(call)
		s.mu.Unlock()
		writeError(w, apiErr{http.StatusBadRequest, 50109, "The request body contains invalid JSON: " + err.Error()})
		return
	}
	call.Payload, call.Files = payload, files

	s.mu.Lock()
	defer s.mu.Unlock()
	if rl, ok := s.rateLimits[route]; ok && rl.Times > 0 {
		rl.Times--
		s.rateLimits[route] = rl
		call.Status = http.StatusTooManyRequests
		s.Record(call)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		w.Header().Set("X-RateLimit-Scope", "user")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		if !rl.HeaderOnly {
			_ = json.NewEncoder(w).Encode(map[string]any{"message": "You are being rate limited.", "retry_after": rl.RetryAfter.Seconds(), "global": false})
		}
		return
	}
	if route != RouteFollowup && r.Header.Get("Authorization") != "Bot "+s.opts.BotToken {
		call.Status = http.StatusUnauthorized
		s.Record(call)
		writeError(w, apiErr{http.StatusUnauthorized, 0, "401: Unauthorized"})
		return
	}
	resp, aerr := s.answer(r, route, &call)
	if aerr != nil {
		call.Status = aerr.status
		s.Record(call)
		writeError(w, *aerr)
		return
	}
	s.Record(call)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// messageBody is the part of a message payload the fake keeps.
type messageBody struct {
	Content    string          `json:"content"`
	Embeds     json.RawMessage `json:"embeds"`
	Components json.RawMessage `json:"components"`
	Flags      int             `json:"flags"`
}

// answer does what a call asks, with s.mu held.
func (s *Server) answer(r *http.Request, route string, call *Call) (any, *apiErr) {
	switch route {
	case RouteMe:
		return map[string]any{"id": "1000000000000000001", "username": "backupbot", "bot": true}, nil
	case RouteCreateMessage, RouteFollowup:
		var b messageBody
		if err := json.Unmarshal(call.Payload, &b); err != nil {
			return nil, &apiErr{http.StatusBadRequest, 50109, "The request body contains invalid JSON."}
		}
		if b.Content == "" && len(call.Files) == 0 && isEmpty(b.Embeds) && isEmpty(b.Components) {
			return nil, &apiErr{http.StatusBadRequest, 50006, "Cannot send an empty message"}
		}
		if len([]rune(b.Content)) > 2000 {
			return nil, &apiErr{http.StatusBadRequest, 50035, "Invalid Form Body: content: Must be 2000 or fewer in length."}
		}
		channel := call.Channel
		if route == RouteFollowup {
			channel = "followup:" + r.PathValue("token")
		}
		m := &Message{ID: s.nextID(), ChannelID: channel, Content: b.Content, Embeds: b.Embeds, Components: b.Components, Flags: b.Flags, Files: call.Files}
		s.messages[m.ID] = m
		call.ID = m.ID
		return messageJSON(m), nil
	case RouteEditMessage:
		m, ok := s.messages[call.Message]
		if !ok || m.ChannelID != call.Channel {
			return nil, &apiErr{http.StatusNotFound, 10008, "Unknown Message"}
		}
		var b map[string]json.RawMessage
		if err := json.Unmarshal(call.Payload, &b); err != nil {
			return nil, &apiErr{http.StatusBadRequest, 50109, "The request body contains invalid JSON."}
		}
		if c, ok := b["content"]; ok {
			_ = json.Unmarshal(c, &m.Content)
		}
		if e, ok := b["embeds"]; ok {
			m.Embeds = e
		}
		if c, ok := b["components"]; ok {
			m.Components = c
		}
		m.Edits++
		call.ID = m.ID
		return messageJSON(m), nil
	case RouteStartThread:
		if slices.Contains(s.opts.DMChannels, call.Channel) {
			return nil, &apiErr{http.StatusBadRequest, 50024, "Cannot execute action on this channel type"}
		}
		m, ok := s.messages[call.Message]
		if !ok || m.ChannelID != call.Channel {
			return nil, &apiErr{http.StatusNotFound, 10008, "Unknown Message"}
		}
		if _, exists := s.threads[call.Message]; exists {
			return nil, &apiErr{http.StatusBadRequest, 160004, "A thread has already been created for this message"}
		}
		var b struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(call.Payload, &b); err != nil || b.Name == "" || len([]rune(b.Name)) > 100 {
			return nil, &apiErr{http.StatusBadRequest, 50035, "Invalid Form Body: name: must be 1 to 100 characters"}
		}
		// Discord gives a thread started from a message that message's id.
		t := &Thread{ID: call.Message, Name: b.Name, ParentChannel: call.Channel, ParentMessage: call.Message}
		s.threads[t.ID] = t
		call.ID = t.ID
		return map[string]any{"id": t.ID, "type": 11, "parent_id": t.ParentChannel, "name": t.Name, "guild_id": "1100000000000000001"}, nil
	}
	return nil, &apiErr{http.StatusNotFound, 0, "404: Not Found"}
}

func isEmpty(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || s == "[]"
}

func messageJSON(m *Message) map[string]any {
	out := map[string]any{"id": m.ID, "channel_id": m.ChannelID, "content": m.Content, "type": 0, "flags": m.Flags,
		"author": map[string]any{"id": "1000000000000000001", "username": "backupbot", "bot": true}}
	if !isEmpty(m.Embeds) {
		out["embeds"] = m.Embeds
	}
	if !isEmpty(m.Components) {
		out["components"] = m.Components
	}
	var atts []map[string]any
	for i, f := range m.Files {
		atts = append(atts, map[string]any{"id": fmt.Sprint(i), "filename": f.Name, "size": len(f.Data)})
	}
	if len(atts) > 0 {
		out["attachments"] = atts
	}
	return out
}

// readBody reads a JSON body, or a multipart one's payload_json and files.
func readBody(r *http.Request) (json.RawMessage, []File, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			return nil, nil, err
		}
		if len(b) > 0 && !json.Valid(b) {
			return nil, nil, fmt.Errorf("body is not JSON")
		}
		return b, nil, nil
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var payload json.RawMessage
	var files []File
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		data, err := io.ReadAll(io.LimitReader(p, 25<<20))
		if err != nil {
			return nil, nil, err
		}
		switch name := p.FormName(); {
		case name == "payload_json":
			if !json.Valid(data) {
				return nil, nil, fmt.Errorf("payload_json is not JSON")
			}
			payload = data
		case strings.HasPrefix(name, "files["):
			files = append(files, File{Field: name, Name: p.FileName(), Data: data})
		default:
			return nil, nil, fmt.Errorf("unexpected multipart field %q", name)
		}
	}
	return payload, files, nil
}

func writeError(w http.ResponseWriter, e apiErr) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": e.code, "message": e.message})
}
