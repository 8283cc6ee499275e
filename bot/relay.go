package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
)

// The relay keeps, per job, where its messages are in a Redis hash, so a
// restarted bot process (or another one, when the first dies) carries on
// editing the same progress message.
const (
	relayKeyPrefix   = "backupbot:relay:"
	relayAlivePrefix = "backupbot:relay-alive:"
	relayTTL         = 7 * 24 * time.Hour
	aliveTTL         = 15 * time.Second
	heartbeatEvery   = 5 * time.Second
	relayIdle        = time.Hour
	recentKept       = 20
	claimPatience    = 2 * time.Minute
	relayBuffer      = 256 // events waiting per job
)

// Purposes of a preview job: what to do with its plan.
const (
	purposeConfirm      = "confirm"       // show the plan with Confirm/Cancel for the requester
	purposeApproval     = "approval"      // show the plan with Approve/Deny for a second person
	purposeApproveCheck = "approve-check" // an Approve click: re-preview, then approve if unchanged
)

// Hash fields of a relay record.
const (
	rfOwner    = "owner"
	rfChannel  = "channel"
	rfThread   = "thread"
	rfParent   = "parent"
	rfProgress = "progress"
	rfShown    = "shown"
	rfExtra    = "extra"
	rfDone     = "done" // the final event kind, once posted
)

func relayKey(jobID string) string { return relayKeyPrefix + jobID }

// relayExtra is what the router remembers about a job beyond its meta.
type relayExtra struct {
	Purpose  string           `json:"purpose,omitempty"`
	Original string           `json:"original,omitempty"` // the command the preview is for
	Approval string           `json:"approval,omitempty"` // approval id (approve-check)
	Approver *policy.Identity `json:"approver,omitempty"` // who clicked Approve (approve-check)
}

// jobRelay is one job's relay state, owned by its goroutine.
type jobRelay struct {
	id      string
	events  chan *delivery // pointers: a queued job's buffer costs 2 KiB, not 80
	pending int            // events sent but not yet received; guarded by Router.mu

	loaded   bool
	platform string
	channel  string
	thread   string
	parent   string
	progress string
	shown    string // the progress text last drawn
	want     string // the progress text to draw next
	lastEdit time.Time
	last     *jobs.Progress
	timer    *time.Timer
	done     bool // the final outcome was posted

	// Guarded by Router.mu: what watchLost needs.
	meta    jobs.Meta
	action  string
	final   bool // a final event was dispatched
	missing int  // consecutive checks that found no job record
}

// delivery is one event and its acknowledgement (called once it is posted).
type delivery struct {
	ev  jobs.Event
	ack func()
}

// claimScript makes this process the relay of a job unless a live process
// already is. KEYS: the relay record. ARGV: me, alive prefix, ttl seconds.
// Returns 1 when the job was already ours, 2 when we just took it, 0 when
// another live process has it.
var claimScript = redis.NewScript(`
local owner = redis.call("HGET", KEYS[1], "owner")
if owner == ARGV[1] then return 1 end
if owner and redis.call("EXISTS", ARGV[2] .. owner) == 1 then return 0 end
redis.call("HSET", KEYS[1], "owner", ARGV[1])
redis.call("EXPIRE", KEYS[1], ARGV[3])
return 2`)

// Run relays job events to the chat surfaces until ctx is done. It keeps
// going through Redis outages (events published meanwhile are delivered
// once Redis is back). Lifecycle events are read through this process's
// own consumer group ("relay:" + its instance name) and acknowledged once
// posted, so a process restarted under the same instance name posts what
// was published while it was down.
func (r *Router) Run(ctx context.Context) error {
	if r.rdb == nil {
		return errors.New("router: no Redis client, so job events cannot be relayed")
	}
	go r.heartbeat(ctx)
	go r.watchLost(ctx)
	err := jobs.Consume(ctx, r.rdb, jobs.ConsumeOptions{
		Group:      "relay:" + r.instance,
		RetryDelay: 500 * time.Millisecond,
		OnError: func(err error) {
			r.log.Warn("router: reading job events (retrying)", "err", err)
		},
	}, func(ev jobs.Event, ack func()) { r.dispatch(ctx, delivery{ev: ev, ack: ack}) })
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// heartbeat tells other bot processes this one is alive.
func (r *Router) heartbeat(ctx context.Context) {
	key := relayAlivePrefix + r.instance
	beat := func() {
		if err := r.rdb.Set(ctx, key, time.Now().Unix(), aliveTTL).Err(); err != nil && ctx.Err() == nil {
			r.log.Debug("router: heartbeat", "err", err)
		}
	}
	beat()
	tick.Every(ctx, heartbeatEvery, beat)
	r.rdb.Del(context.WithoutCancel(ctx), key)
}

// dispatch hands an event to its job's goroutine, starting one if needed.
func (r *Router) dispatch(ctx context.Context, d delivery) {
	ev := d.ev
	if ev.Meta.JobID == "" || r.surface(Platform(r.relayPlatform(ev.Meta.Requester.Platform))) == nil {
		d.ack()
		return // another process serves that platform
	}
	r.mu.Lock()
	jr := r.relays[ev.Meta.JobID]
	if jr == nil {
		jr = &jobRelay{id: ev.Meta.JobID, events: make(chan *delivery, relayBuffer)}
		r.relays[jr.id] = jr
		go r.runRelay(ctx, jr)
	}
	if ev.Kind == jobs.EventProgress && len(jr.events) > cap(jr.events)/2 {
		r.mu.Unlock()
		d.ack()
		return // a later progress event supersedes this one
	}
	jr.pending++
	jr.meta, jr.action = ev.Meta, ev.Action
	if ev.Kind.Final() {
		jr.final = true
	}
	r.mu.Unlock()
	select {
	case jr.events <- &d:
	case <-ctx.Done():
	}
}

func (r *Router) runRelay(ctx context.Context, jr *jobRelay) {
	idle := time.NewTimer(relayIdle)
	defer idle.Stop()
	for {
		var timerC <-chan time.Time
		if jr.timer != nil {
			timerC = jr.timer.C
		}
		done := false
		select {
		case <-ctx.Done():
			return
		case d := <-jr.events:
			r.mu.Lock()
			jr.pending--
			r.mu.Unlock()
			done = r.handle(ctx, jr, d.ev)
			if ctx.Err() == nil {
				// Posted (or given up on for good): acknowledge. A
				// process stopping mid-post leaves the event pending, so
				// it is posted after the restart.
				d.ack()
			}
			idle.Reset(relayIdle)
		case <-timerC:
			jr.timer = nil
			r.flush(ctx, jr)
		case <-idle.C:
			done = true
		}
		if done {
			r.mu.Lock()
			if jr.pending == 0 && len(jr.events) == 0 {
				delete(r.relays, jr.id)
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
		}
	}
}

// handle shows one event; it reports whether the job is over.
func (r *Router) handle(ctx context.Context, jr *jobRelay, ev jobs.Event) bool {
	claim, err := r.claim(ctx, jr.id)
	if err != nil {
		r.log.Warn("router: giving up on a job event: Redis stayed unreachable", "job", jr.id, "event", ev.Kind, "err", err)
		return ev.Kind.Final()
	}
	if claim == 0 {
		return ev.Kind.Final() // another live bot process relays this job
	}
	if claim == 2 || !jr.loaded {
		r.load(ctx, jr)
	}
	if jr.done && (ev.Kind == jobs.EventProgress || ev.Kind.Final()) {
		// The outcome is already in the thread: a late progress event must
		// not redraw it, and an outcome delivered again (the process
		// stopped between posting and acknowledging) is not posted twice.
		return true
	}
	r.metrics.events.WithLabelValues(string(ev.Kind)).Inc()
	platform := r.relayPlatform(ev.Meta.Requester.Platform)
	surface := r.surface(Platform(platform))
	jr.platform = platform
	if batchable(jr, ev) && r.out.busy(platform, ev.Meta.Channel) {
		// The channel is behind: no thread for this job; its result goes
		// into the channel's next batch message.
		if ev.Kind.Final() {
			r.out.add(ctx, surface, platform, ev.Meta.Channel, batchLine(ev))
			r.remember(ev)
			return true
		}
		return false
	}
	if ev.Progress != nil {
		p := *ev.Progress
		jr.last = &p
	}
	if err := r.ensureMessages(ctx, surface, platform, jr, ev); err != nil {
		r.log.Warn("router: posting a job's messages", "job", jr.id, "err", err)
		return ev.Kind.Final()
	}
	r.setProgress(ctx, surface, platform, jr, progressText(ev, jr.last), ev.Kind.Final())
	switch ev.Kind {
	case jobs.EventRetrying:
		r.post(ctx, surface, platform, jr, retryingMessage(ev))
	case jobs.EventSucceeded:
		r.succeeded(ctx, surface, platform, jr, ev)
	case jobs.EventFailed:
		r.post(ctx, surface, platform, jr, failureMessage(ev))
		if ev.Result != nil { // what a failed job still reports (a restore's lost files)
			r.attach(ctx, surface, platform, jr, ev.Result.Report)
		}
	case jobs.EventCanceled:
		r.post(ctx, surface, platform, jr, canceledMessage(ev))
	}
	if ev.Kind.Final() {
		r.remember(ev)
		jr.done = true
		r.save(ctx, jr.id, rfDone, string(ev.Kind))
		return true
	}
	return false
}

// claim runs claimScript, retrying through a Redis outage (an event must
// not be dropped because Redis blinked) for up to claimPatience.
func (r *Router) claim(ctx context.Context, jobID string) (int, error) {
	wait := 100 * time.Millisecond
	deadline := time.Now().Add(claimPatience)
	for {
		n, err := claimScript.Run(ctx, r.rdb, []string{relayKey(jobID)}, r.instance, relayAlivePrefix, int(relayTTL.Seconds())).Int()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return n, err
		}
		r.log.Debug("router: claiming a job's messages in Redis (retrying)", "job", jobID, "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// load reads a job's relay record (after a restart or a takeover).
func (r *Router) load(ctx context.Context, jr *jobRelay) {
	m, err := r.rdb.HGetAll(ctx, relayKey(jr.id)).Result()
	if err != nil {
		r.log.Warn("router: reading a job's relay record", "job", jr.id, "err", err)
		return
	}
	jr.loaded = true
	if len(m) <= 1 && jr.thread != "" {
		// Redis lost the record (a restart without persistence) but this
		// process still knows where the job's messages are: write it back.
		r.save(ctx, jr.id, rfChannel, jr.channel, rfThread, jr.thread, rfParent, jr.parent, rfProgress, jr.progress, rfShown, jr.shown)
		return
	}
	jr.channel, jr.thread, jr.parent, jr.progress, jr.shown = m[rfChannel], m[rfThread], m[rfParent], m[rfProgress], m[rfShown]
	jr.done = m[rfDone] != ""
}

// ensureMessages posts the job's parent line and its progress message the
// first time the job is seen.
func (r *Router) ensureMessages(ctx context.Context, s Surface, platform string, jr *jobRelay, ev jobs.Event) error {
	if jr.thread == "" {
		jr.channel = ev.Meta.Channel
		ref, err := s.Post(ctx, jr.channel, ev.Meta.Thread, Message{Text: render.Title(ev.Meta, ev.Action)})
		r.count(platform, "post", err)
		if err != nil {
			return fmt.Errorf("post the parent message of job %s: %w", jr.id, err)
		}
		jr.parent, jr.thread = ref.ID, ref.ID
		if ev.Meta.Thread != "" {
			jr.thread = ev.Meta.Thread
		}
		r.save(ctx, jr.id, rfChannel, jr.channel, rfThread, jr.thread, rfParent, jr.parent)
	}
	if jr.progress == "" {
		text := progressText(ev, jr.last)
		ref, err := s.Post(ctx, jr.channel, jr.thread, Message{Text: text})
		r.count(platform, "post", err)
		if err != nil {
			return fmt.Errorf("post the progress message of job %s: %w", jr.id, err)
		}
		jr.progress, jr.shown, jr.want, jr.lastEdit = ref.ID, text, text, time.Now()
		r.save(ctx, jr.id, rfProgress, jr.progress, rfShown, text)
	}
	return nil
}

// setProgress asks for the progress message to read text: at once when
// now is set (final states) or enough time passed since the last edit,
// else when the edit interval is up (later texts replace earlier ones).
func (r *Router) setProgress(ctx context.Context, s Surface, platform string, jr *jobRelay, text string, now bool) {
	jr.want = text
	if jr.want == jr.shown {
		return
	}
	wait := r.interval - time.Since(jr.lastEdit)
	if now || wait <= 0 {
		if jr.timer != nil {
			jr.timer.Stop()
			jr.timer = nil
		}
		r.edit(ctx, s, platform, jr)
		return
	}
	if jr.timer == nil {
		jr.timer = time.NewTimer(wait)
	}
}

func (r *Router) flush(ctx context.Context, jr *jobRelay) {
	if jr.want == jr.shown || jr.progress == "" {
		return
	}
	if s := r.surface(Platform(jr.platform)); s != nil {
		r.edit(ctx, s, jr.platform, jr)
	}
}

func (r *Router) edit(ctx context.Context, s Surface, platform string, jr *jobRelay) {
	text := jr.want
	err := s.Edit(ctx, MessageRef{Channel: jr.channel, ID: jr.progress, Thread: jr.thread}, Message{Text: text})
	r.count(platform, "edit", err)
	jr.lastEdit = time.Now()
	if err != nil {
		r.log.Warn("router: editing a progress message", "job", jr.id, "err", err)
		return
	}
	jr.shown = text
	r.save(ctx, jr.id, rfShown, text)
}

func (r *Router) post(ctx context.Context, s Surface, platform string, jr *jobRelay, m Message) {
	_, err := s.Post(ctx, jr.channel, jr.thread, m)
	r.count(platform, "post", err)
	if err != nil {
		r.log.Warn("router: posting into a job's thread", "job", jr.id, "err", err)
	}
}

func (r *Router) attach(ctx context.Context, s Surface, platform string, jr *jobRelay, rep *jobs.Report) {
	if rep == nil || (len(rep.Data) == 0 && rep.Path == "") {
		return
	}
	data, comment := rep.Data, "full report"
	if rep.Path != "" {
		// The worker wrote the whole report to a file and the job record
		// holds a preview. Attach the file when this process can read it
		// (same host or a shared directory) and it lies in the report
		// directory; else the preview.
		comment = "report preview (the whole report is " + rep.Path + " on the worker)"
		if b, ok := r.readReport(rep.Path); ok {
			data, comment = b, "full report"
		} else if len(data) == 0 && r.jobs != nil {
			if st, err := r.jobs.Status(ctx, jr.id); err == nil && st.Result != nil && st.Result.Report != nil {
				data = st.Result.Report.Data
			}
		}
		if len(data) == 0 {
			return
		}
	}
	err := s.Attach(ctx, jr.channel, jr.thread, rep.Name, data, comment)
	r.count(platform, "attach", err)
	if err != nil {
		r.log.Warn("router: attaching a report", "job", jr.id, "file", rep.Name, "err", err)
	}
}

func (r *Router) count(platform, op string, err error) {
	if err != nil {
		r.metrics.failures.WithLabelValues(platform, op).Inc()
		return
	}
	r.metrics.posts.WithLabelValues(platform, op).Inc()
}

func (r *Router) save(ctx context.Context, jobID string, kv ...any) {
	pipe := r.rdb.TxPipeline()
	pipe.HSet(ctx, relayKey(jobID), kv...)
	pipe.Expire(ctx, relayKey(jobID), relayTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		r.log.Warn("router: saving a job's relay record", "job", jobID, "err", err)
	}
}

func (r *Router) saveExtra(ctx context.Context, jobID string, x relayExtra) error {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("encode the purpose of job %s: %w", jobID, err)
	}
	pipe := r.rdb.TxPipeline()
	pipe.HSet(ctx, relayKey(jobID), rfExtra, b)
	pipe.Expire(ctx, relayKey(jobID), relayTTL)
	_, err = pipe.Exec(ctx)
	return err
}

// loadExtra returns what the router remembered about a job (zero when
// nothing). A preview's purpose is written right after Enqueue returns, so
// it may briefly lag a very fast job: wait a little for it.
func (r *Router) loadExtra(ctx context.Context, jobID, action, text string) relayExtra {
	var x relayExtra
	for i := range 10 {
		s, err := r.rdb.HGet(ctx, relayKey(jobID), rfExtra).Result()
		if err == nil && json.Unmarshal([]byte(s), &x) == nil {
			return x
		}
		if !isPreview(action, text) || i == 9 {
			break
		}
		select {
		case <-ctx.Done():
			return x
		case <-time.After(20 * time.Millisecond):
		}
	}
	return x
}

// remember keeps the last finished jobs for the dashboard.
func (r *Router) remember(ev jobs.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recent = append(r.recent, ev)
	if len(r.recent) > recentKept {
		r.recent = r.recent[len(r.recent)-recentKept:]
	}
}

// postToThread posts into a thread outside any job relay (approval and
// confirmation decisions).
func (r *Router) postToThread(ctx context.Context, platform, channel, thread string, m Message) {
	s := r.surface(Platform(platform))
	if s == nil {
		return
	}
	_, err := s.Post(ctx, channel, thread, m)
	r.count(platform, "post", err)
	if err != nil {
		r.log.Warn("router: posting into a thread", "thread", thread, "err", err)
	}
}

// lostCheckEvery is how often the relay checks that the jobs it shows as
// unfinished still have a record in Redis.
const lostCheckEvery = 5 * time.Second

// watchLost tells the thread of every job this process relays whose record
// vanished from Redis (a restart without persistence loses queued jobs,
// their records and events) that the job was lost and how to rerun it. A
// running job's worker writes its record back within seconds, so a record
// must be missing at two checks in a row.
func (r *Router) watchLost(ctx context.Context) {
	if r.jobs == nil {
		return
	}
	tick.Every(ctx, lostCheckEvery, func() { r.checkLost(ctx) })
}

// checkLost is one check of watchLost.
func (r *Router) checkLost(ctx context.Context) {
	r.mu.Lock()
	var open []*jobRelay
	for _, jr := range r.relays {
		if !jr.final && jr.meta.JobID != "" {
			open = append(open, jr)
		}
	}
	r.mu.Unlock()
	ids := make([]string, len(open))
	for i, jr := range open {
		ids[i] = jr.id
	}
	missing, err := r.jobs.Missing(ctx, ids)
	if err != nil {
		return // Redis unreachable: nothing can be told
	}
	for _, jr := range open {
		r.mu.Lock()
		if slices.Contains(missing, jr.id) {
			jr.missing++
		} else {
			jr.missing = 0
		}
		lost := jr.missing >= 2 && !jr.final
		meta, action := jr.meta, jr.action
		r.mu.Unlock()
		if lost {
			r.log.Warn("router: a job's record vanished from Redis; telling its thread", "job", jr.id)
			r.dispatch(ctx, delivery{ack: func() {}, ev: jobs.Event{
				Kind: jobs.EventFailed, Meta: meta, Action: action, Error: jobs.LostMessage(meta), At: time.Now(),
			}})
		}
	}
}

// readReport reads a worker's report file, only from inside the report
// directory (an event in Redis must not make the bot upload any file).
func (r *Router) readReport(path string) ([]byte, bool) {
	dir, err := filepath.Abs(r.reportDir)
	if err != nil || !filepath.IsAbs(path) {
		return nil, false
	}
	path = filepath.Clean(path)
	if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
		return nil, false
	}
	b, err := os.ReadFile(path)
	return b, err == nil
}
