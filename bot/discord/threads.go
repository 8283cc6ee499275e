package discord

import (
	"context"
	"fmt"
	"sync"

	"github.com/bwmarrin/discordgo"
)

// maxThreadEntries bounds the thread map. Losing an entry costs one
// refused thread creation: Discord gives a thread started from a message
// that message's id, which is what the adapter falls back to.
const maxThreadEntries = 10000

// threadAutoArchive is how long, in minutes, a job's thread stays open
// without activity (one day).
const threadAutoArchive = 1440

// threads maps the service's threads (a channel and the id of the message
// that starts the thread) to Discord's, where a thread is a channel of its
// own. The first post into a thread creates it from its parent message;
// later posts and edits go to the thread channel.
type threads struct {
	api *restClient

	mu       sync.Mutex
	channels map[string]string        // "channel/parent" -> thread channel
	order    []string                 // keys of channels, oldest first
	known    map[string]bool          // ids seen as thread channels in interactions
	creating map[string]chan struct{} // keys being created; closed when done
	titles   map[string]string        // message id -> thread name, for messages posted here
	titled   []string
}

func newThreads(api *restClient) *threads {
	return &threads{api: api, channels: map[string]string{}, known: map[string]bool{},
		creating: map[string]chan struct{}{}, titles: map[string]string{}}
}

func threadKey(channel, parent string) string { return channel + "/" + parent }

// markThread records that id is a thread channel (a command typed inside
// a thread, or a button clicked there).
func (t *threads) markThread(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.known) >= maxThreadEntries {
		clear(t.known)
	}
	t.known[id] = true
}

// remember keeps the name for a thread that may later start from message
// id.
func (t *threads) remember(id, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.titles[id] = threadName(text)
	t.titled = append(t.titled, id)
	if len(t.titled) > maxThreadEntries {
		delete(t.titles, t.titled[0])
		t.titled = t.titled[1:]
	}
}

// lookup returns where messages of (channel, thread) live without
// creating anything; ok is false when the thread is not known yet.
func (t *threads) lookup(channel, thread string) (string, bool) {
	if thread == "" {
		return channel, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.channels[threadKey(channel, thread)]; ok {
		return id, true
	}
	if t.known[thread] {
		return thread, true
	}
	return "", false
}

// locate returns the channel an existing message of (channel, thread)
// lives in: the known thread channel, else the thread's own id (Discord
// gives a thread started from a message that message's id).
func (t *threads) locate(channel, thread string) string {
	if id, ok := t.lookup(channel, thread); ok {
		return id
	}
	return thread
}

// resolve returns the channel to post into for (channel, thread), creating
// the thread from its parent message the first time. Concurrent callers
// for one thread wait for a single creation.
func (t *threads) resolve(ctx context.Context, channel, thread string) (string, error) {
	for {
		if id, ok := t.lookup(channel, thread); ok {
			return id, nil
		}
		key := threadKey(channel, thread)
		t.mu.Lock()
		wait, busy := t.creating[key]
		if !busy {
			t.creating[key] = make(chan struct{})
		}
		name := t.titles[thread]
		t.mu.Unlock()
		if busy {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return "", fmt.Errorf("discord: waiting for the thread of message %s to be created: %w", thread, ctx.Err())
			}
		}
		id, err := t.create(ctx, channel, thread, name)
		t.mu.Lock()
		if err == nil {
			t.store(key, id)
		}
		close(t.creating[key])
		delete(t.creating, key)
		t.mu.Unlock()
		return id, err
	}
}

// create starts a thread from message parent in channel. A thread that
// already exists (created before a restart) is the message's id; so is a
// parent that is no message of channel but a thread channel itself; a
// channel that cannot have threads (a DM) gets the posts itself.
func (t *threads) create(ctx context.Context, channel, parent, name string) (string, error) {
	if name == "" {
		name = threadName("")
	}
	var created discordgo.Channel
	err := t.api.do(ctx, request{
		Method: "POST",
		Path:   "/channels/" + channel + "/messages/" + parent + "/threads",
		JSON:   &discordgo.ThreadStart{Name: name, AutoArchiveDuration: threadAutoArchive},
		What:   fmt.Sprintf("discord: starting a thread from message %s in channel %s", parent, channel),
	}, &created)
	switch {
	case err == nil && created.ID != "":
		return created.ID, nil
	case err == nil:
		return "", fmt.Errorf("discord: starting a thread from message %s in channel %s: Discord's answer has no channel id", parent, channel)
	case hasCode(err, codeThreadAlreadyCreated):
		return parent, nil
	case hasCode(err, codeUnknownMessage) && parent != channel:
		// Not a message of channel: a thread channel of its own (one that
		// was not started from a message) the process no longer knows.
		return parent, nil
	case hasCode(err, codeWrongChannelType):
		return channel, nil
	}
	return "", err
}

// store records a thread channel; t.mu is held.
func (t *threads) store(key, id string) {
	if _, ok := t.channels[key]; !ok {
		t.order = append(t.order, key)
	}
	t.channels[key] = id
	if len(t.order) > maxThreadEntries {
		delete(t.channels, t.order[0])
		t.order = t.order[1:]
	}
}
