// Package slacktest is a fake Slack for tests: an httptest server that
// speaks the parts of Slack's Web API backupbot uses (chat.postMessage,
// chat.update, chat.postEphemeral, the files upload v2 path, usergroups,
// auth.test, apps.connections.open) and Socket Mode's websocket envelope
// protocol, recording every call; plus helpers that build correctly signed
// slash-command and interaction requests in Slack's exact wire format.
package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/backupbot/backupbot/bot/chatfake"
)

// Group is a Slack user group the fake knows.
type Group struct {
	ID       string
	Handle   string
	Name     string
	Users    []string
	Disabled bool
}

// Options configures a fake Slack.
type Options struct {
	// BotToken is the xoxb- token Web API calls must carry.
	BotToken string
	// AppToken is the xapp- token apps.connections.open must carry.
	AppToken string
	// Groups are the workspace's user groups.
	Groups []Group
	// ChannelPostInterval, when set, is Slack's per-channel limit: a
	// chat.postMessage to a channel sooner than this after the last one it
	// accepted there is answered 429 with Retry-After: 1.
	ChannelPostInterval time.Duration
}

// Call is one recorded Web API call.
type Call struct {
	// Method is the Web API method ("chat.update") or "upload" for the
	// bytes sent to an upload URL.
	Method string
	// Form holds the call's form fields (the token removed).
	Form url.Values
	// Body is the raw body for JSON and upload calls.
	Body []byte
	// Status is the HTTP status the fake answered with.
	Status int
	// TS is the message ts the fake answered a chat.postMessage with.
	TS string
}

// Message is what the fake holds for one posted message.
type Message struct {
	Channel string
	TS      string
	Thread  string
	Text    string
	Blocks  string
	Updates int
}

// Server is a running fake Slack. Its zero value is not usable; call New.
type Server struct {
	// Base serves the fake and logs its calls: URL, Calls, Answered and
	// WaitCalls.
	chatfake.Base[Call]

	opts Options

	mu         sync.Mutex
	messages   map[string]*Message
	uploads    map[string][]byte
	rateLimits map[string]rateLimit
	lastPost   map[string]time.Time // channel -> last accepted chat.postMessage
	seq        int

	sock *socket
}

type rateLimit struct {
	times      int
	retryAfter int
}

// New starts a fake Slack on a loopback port. Close it when done.
func New(opts Options) *Server {
	s := &Server{
		opts:       opts,
		messages:   map[string]*Message{},
		uploads:    map[string][]byte{},
		rateLimits: map[string]rateLimit{},
		lastPost:   map[string]time.Time{},
		sock:       newSocket(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.serveAPI)
	mux.HandleFunc("POST /upload/{file}", s.serveUpload)
	mux.HandleFunc("GET /socket", s.sock.serve)
	s.Start(mux, func(c Call) string { return c.Method }, func(c Call) bool { return c.Status == http.StatusOK })
	return s
}

// channelLimit applies ChannelPostInterval to a post into channel.
func (s *Server) channelLimit(channel string) (int, bool) {
	if s.opts.ChannelPostInterval <= 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if last, ok := s.lastPost[channel]; ok && now.Sub(last) < s.opts.ChannelPostInterval {
		return 1, true
	}
	s.lastPost[channel] = now
	return 0, false
}

// APIURL is the Web API base address to give the client (SLACK_API_URL).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// Close stops the server and drops any Socket Mode connection.
func (s *Server) Close() {
	s.sock.close()
	s.Base.Close()
}

// RateLimit makes the next times calls of method answer HTTP 429 with
// Retry-After: retryAfterSeconds.
func (s *Server) RateLimit(method string, times, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits[method] = rateLimit{times: times, retryAfter: retryAfterSeconds}
}

// Message returns the fake's copy of a posted message.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[channel+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Upload returns the bytes uploaded for a file id.
func (s *Server) Upload(fileID string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.uploads[fileID]
	return b, ok
}

// takeRateLimit reports whether this call of method must be answered 429.
func (s *Server) takeRateLimit(method string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rl, ok := s.rateLimits[method]
	if !ok || rl.times <= 0 {
		return 0, false
	}
	rl.times--
	s.rateLimits[method] = rl
	return rl.retryAfter, true
}

func (s *Server) nextTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("1700000000.%06d", s.seq)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err = url.ParseQuery(string(body)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	token := form.Get("token")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = bearer
	}
	form.Del("token")
	call := Call{Method: method, Form: form, Body: body, Status: http.StatusOK}

	retryAfter, limited := s.takeRateLimit(method)
	if !limited && method == "chat.postMessage" {
		retryAfter, limited = s.channelLimit(form.Get("channel"))
	}
	if limited {
		call.Status = http.StatusTooManyRequests
		s.Record(call)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		w.WriteHeader(http.StatusTooManyRequests)
		writeJSON(w, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}

	want := s.opts.BotToken
	if method == "apps.connections.open" {
		want = s.opts.AppToken
	}
	if want != "" && token != want {
		s.Record(call)
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}

	resp := s.answer(method, form)
	if method == "chat.postMessage" {
		call.TS, _ = resp["ts"].(string)
	}
	s.Record(call)
	writeJSON(w, resp)
}

// answer builds the Web API response for one call, mutating the fake's state.
func (s *Server) answer(method string, form url.Values) map[string]any {
	switch method {
	case "auth.test":
		return map[string]any{"ok": true, "url": "https://fake.slack.test/", "team": "Fake", "user": "backupbot",
			"team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}
	case "chat.postMessage":
		ts := s.nextTS()
		m := &Message{Channel: form.Get("channel"), TS: ts, Thread: form.Get("thread_ts"),
			Text: form.Get("text"), Blocks: form.Get("blocks")}
		s.mu.Lock()
		s.messages[m.Channel+"/"+ts] = m
		s.mu.Unlock()
		return map[string]any{"ok": true, "channel": m.Channel, "ts": ts,
			"message": map[string]any{"type": "message", "text": m.Text, "ts": ts, "thread_ts": m.Thread}}
	case "chat.update":
		channel, ts := form.Get("channel"), form.Get("ts")
		s.mu.Lock()
		m, ok := s.messages[channel+"/"+ts]
		if ok {
			m.Text, m.Blocks = form.Get("text"), form.Get("blocks")
			m.Updates++
		}
		s.mu.Unlock()
		if !ok {
			return map[string]any{"ok": false, "error": "message_not_found"}
		}
		return map[string]any{"ok": true, "channel": channel, "ts": ts, "text": form.Get("text")}
	case "chat.postEphemeral":
		return map[string]any{"ok": true, "message_ts": s.nextTS()}
	case "files.getUploadURLExternal":
		s.mu.Lock()
		s.seq++
		id := fmt.Sprintf("F%06d", s.seq)
		s.mu.Unlock()
		return map[string]any{"ok": true, "upload_url": s.URL + "/upload/" + id, "file_id": id}
	case "files.completeUploadExternal":
		var files []map[string]any
		if err := json.Unmarshal([]byte(form.Get("files")), &files); err != nil || len(files) == 0 {
			return map[string]any{"ok": false, "error": "invalid_arguments"}
		}
		return map[string]any{"ok": true, "files": files}
	case "usergroups.list":
		var groups []map[string]any
		for _, g := range s.opts.Groups {
			if g.Disabled && form.Get("include_disabled") != "true" {
				continue
			}
			groups = append(groups, map[string]any{"id": g.ID, "team_id": "T0FAKE", "is_usergroup": true,
				"name": g.Name, "handle": g.Handle, "user_count": len(g.Users)})
		}
		return map[string]any{"ok": true, "usergroups": groups}
	case "usergroups.users.list":
		for _, g := range s.opts.Groups {
			if g.ID == form.Get("usergroup") {
				return map[string]any{"ok": true, "users": g.Users}
			}
		}
		return map[string]any{"ok": false, "error": "no_such_subteam"}
	case "apps.connections.open":
		return map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(s.URL, "http") + "/socket"}
	default:
		return map[string]any{"ok": false, "error": "unknown_method"}
	}
}

func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("file")
	call := Call{Method: "upload", Status: http.StatusOK}
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		call.Status = http.StatusBadRequest
		s.Record(call)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		call.Status = http.StatusBadRequest
		s.Record(call)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	call.Body = data
	s.mu.Lock()
	s.uploads[id] = data
	s.mu.Unlock()
	s.Record(call)
	_, _ = fmt.Fprintf(w, "OK - %d", len(data))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Ack is what the app sent back for one Socket Mode envelope.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// socket is the fake's Socket Mode side: one client connection at a time.
type socket struct {
	mu        sync.Mutex
	conn      *websocket.Conn
	connected chan struct{} // closed when a client is connected
	acks      map[string]chan Ack
	seq       int
	done      chan struct{}
	closeOnce sync.Once
}

func newSocket() *socket {
	return &socket{connected: make(chan struct{}), acks: map[string]chan Ack{}, done: make(chan struct{})}
}

func (k *socket) serve(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	hello := map[string]any{"type": "hello", "num_connections": 1,
		"debug_info":      map[string]any{"host": "fake-applink", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": "A0FAKE"}}
	k.mu.Lock()
	if err := conn.WriteJSON(hello); err != nil {
		k.mu.Unlock()
		return
	}
	k.conn = conn
	select {
	case <-k.connected:
	default:
		close(k.connected)
	}
	k.mu.Unlock()

	for {
		var ack Ack
		if err := conn.ReadJSON(&ack); err != nil {
			return
		}
		k.mu.Lock()
		ch, ok := k.acks[ack.EnvelopeID]
		delete(k.acks, ack.EnvelopeID)
		k.mu.Unlock()
		if ok {
			ch <- ack
		}
	}
}

func (k *socket) close() {
	k.closeOnce.Do(func() {
		close(k.done)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.conn != nil {
			_ = k.conn.Close()
		}
	})
}

// WaitSocket waits until a Socket Mode client has connected and got hello.
func (s *Server) WaitSocket(ctx context.Context) error {
	select {
	case <-s.sock.connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no Socket Mode client connected: %w", ctx.Err())
	}
}

// SendEnvelope delivers one Socket Mode envelope of the given type
// ("slash_commands", "interactive", "events_api") and waits for its ack.
func (s *Server) SendEnvelope(ctx context.Context, typ string, payload json.RawMessage, acceptsResponse bool) (Ack, error) {
	if err := s.WaitSocket(ctx); err != nil {
		return Ack{}, err
	}
	k := s.sock
	ch := make(chan Ack, 1)
	k.mu.Lock()
	k.seq++
	id := fmt.Sprintf("env-%d-%d", k.seq, time.Now().UnixNano())
	k.acks[id] = ch
	err := k.conn.WriteJSON(map[string]any{"envelope_id": id, "type": typ, "payload": payload,
		"accepts_response_payload": acceptsResponse, "retry_attempt": 0, "retry_reason": ""})
	k.mu.Unlock()
	if err != nil {
		return Ack{}, fmt.Errorf("writing %s envelope: %w", typ, err)
	}
	select {
	case ack := <-ch:
		return ack, nil
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("no ack for %s envelope %s: %w", typ, id, ctx.Err())
	case <-k.done:
		return Ack{}, fmt.Errorf("fake Slack closed before envelope %s was acked", id)
	}
}

// SendSlashCommand delivers a slash command over Socket Mode and waits for
// its ack.
func (s *Server) SendSlashCommand(ctx context.Context, cmd SlashCommand) (Ack, error) {
	payload, err := json.Marshal(cmd.fields())
	if err != nil {
		return Ack{}, err
	}
	return s.SendEnvelope(ctx, "slash_commands", payload, true)
}

// SendBlockAction delivers a button click over Socket Mode and waits for
// its ack.
func (s *Server) SendBlockAction(ctx context.Context, click BlockAction) (Ack, error) {
	return s.SendEnvelope(ctx, "interactive", click.JSON(), false)
}
