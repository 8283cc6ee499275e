package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
	"github.com/backupbot/backupbot/httpapi"
)

const signingSecret = "limits-test-signing-secret"

// ackHandler answers every command at once, as the router does for a
// queued job.
type ackHandler struct{}

func (ackHandler) HandleCommand(context.Context, bot.Incoming) bot.Reply {
	return bot.Reply{Message: bot.Message{Text: "✅ Queued as job `0000abcd`"}, Ephemeral: true}
}
func (ackHandler) HandleClick(context.Context, bot.Click) bot.Reply { return bot.Reply{} }

// raiseFDLimit lifts the soft open-files limit to the hard one: the test
// holds a few thousand sockets on both ends.
func raiseFDLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < need && lim.Max > lim.Cur {
		lim.Cur = min(lim.Max, need)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if lim.Cur < need {
		t.Fatalf("open-files limit %d, the test needs %d (raise ulimit -n)", lim.Cur, need)
	}
}

// startServer runs an httpapi server with the Slack endpoints on a
// loopback port and returns it with its address.
func startServer(t *testing.T, limits httpapi.Limits) (*httpapi.Server, string) {
	t.Helper()
	fake := slacktest.New(slacktest.Options{BotToken: "xoxb-limits"})
	t.Cleanup(fake.Close)
	a, err := slack.NewAdapter(slack.Options{BotToken: "xoxb-limits", SigningSecret: signingSecret, APIURL: fake.APIURL(),
		Handler: ackHandler{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(httpapi.Options{Addr: "127.0.0.1:0", Limits: limits, Logger: slog.New(slog.DiscardHandler)})
	a.Routes(srv.Mux())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == "127.0.0.1:0" {
		if time.Now().After(deadline) {
			t.Fatal("server did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return srv, srv.Addr()
}

// dialFrom opens a TCP connection to addr from the loopback address from.
func dialFrom(from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// signedCommand sends a signed slash command and returns how long the ack took.
func signedCommand(t *testing.T, addr string) (time.Duration, string) {
	t.Helper()
	body := slacktest.SlashCommand{ChannelID: "C0LIMITS", UserID: "U0ALICE", Text: "create"}.Form()
	req := slacktest.SignedRequest("http://"+addr+"/slack/commands", signingSecret, time.Now(), body)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(start), "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return time.Since(start), string(b)
}

// TestSlowAndIdleClientsAreCutOffWhileCommandsAreAcked holds 2,000
// loopback connections against the listener: slow bodies and slow headers
// trickling one byte a second, and idle keep-alives. Each is closed by the
// server's timeouts, and meanwhile a signed Slack command is acknowledged
// within a second, every time.
func TestSlowAndIdleClientsAreCutOffWhileCommandsAreAcked(t *testing.T) {
	const clients = 2000
	raiseFDLimit(t, 3*clients+500)
	limits := httpapi.Limits{ReadHeaderTimeout: 3 * time.Second, BodyTimeout: 3 * time.Second, ReadTimeout: 4 * time.Second,
		IdleTimeout: 3 * time.Second, WriteTimeout: 5 * time.Second, MaxConnsPerClient: 64, MaxConns: 4096}
	srv, addr := startServer(t, limits)

	type outcome struct {
		kind   string
		closed time.Duration // from the client's start until the server closed it
		err    error
	}
	results := make(chan outcome, clients)
	var wg, dialed sync.WaitGroup
	dialed.Add(clients)
	kinds := []string{"slow body", "slow headers", "idle keep-alive"}
	for i := range clients {
		kind := kinds[i%len(kinds)]
		// 40 client addresses, 50 connections each: under the per-client
		// cap, so the timeouts alone must cut them off.
		from := fmt.Sprintf("127.0.0.%d", 2+i%40)
		wg.Go(func() {
			start := time.Now()
			c, err := dialFrom(from, addr)
			dialed.Done()
			if err != nil {
				results <- outcome{kind: kind, err: err}
				return
			}
			defer c.Close()
			closed := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, c) // returns when the server closes
				close(closed)
			}()
			var opening, trickle string
			switch kind {
			case "slow body":
				opening = "POST /slack/commands HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
					// A fresh timestamp passes the header checks, so the
					// adapter reads the body before checking the signature.
					"X-Slack-Request-Timestamp: " + strconv.FormatInt(time.Now().Unix(), 10) + "\r\n" +
					"X-Slack-Signature: v0=" + strings.Repeat("0", 64) + "\r\nContent-Length: 60000\r\n\r\n"
				trickle = "a"
			case "slow headers":
				opening, trickle = "GET /healthz HTTP/1.1\r\n", "X"
			default:
				opening = "GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n"
			}
			if _, err := io.WriteString(c, opening); err != nil {
				results <- outcome{kind: kind, err: err}
				return
			}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			limit := time.After(20 * time.Second)
			for {
				select {
				case <-closed:
					results <- outcome{kind: kind, closed: time.Since(start)}
					return
				case <-limit:
					results <- outcome{kind: kind, err: fmt.Errorf("still open after 20 s")}
					return
				case <-tick.C:
					if trickle != "" {
						_, _ = io.WriteString(c, trickle) // errors show as the close above
					}
				}
			}
		})
	}

	// While they hold on, signed commands keep being acknowledged in time.
	dialed.Wait()
	time.Sleep(200 * time.Millisecond)
	if open := srv.OpenConns(); open < clients/2 {
		t.Errorf("only %d connections open during the attack, want most of the %d (the test would prove nothing)", open, clients)
	}
	for i := range 4 {
		took, body := signedCommand(t, addr)
		if took > time.Second || !strings.Contains(body, "Queued as job") {
			t.Errorf("command %d during the attack: ack after %v: %s", i+1, took, body)
		}
		time.Sleep(300 * time.Millisecond)
	}

	wg.Wait()
	close(results)
	worst := map[string]time.Duration{}
	for r := range results {
		if r.err != nil {
			t.Errorf("%s client: %v", r.kind, r.err)
			continue
		}
		worst[r.kind] = max(worst[r.kind], r.closed)
	}
	for kind, d := range worst {
		t.Logf("%s: last one closed by the server after %v", kind, d.Round(100*time.Millisecond))
		if d > 8*time.Second {
			t.Errorf("%s: a connection lived %v, want it cut off by the timeouts (≤ 4 s + slack)", kind, d)
		}
	}
	if took, body := signedCommand(t, addr); took > time.Second || !strings.Contains(body, "Queued as job") {
		t.Errorf("command after the attack: ack after %v: %s", took, body)
	}
}

// TestConnectionsPerClientAreCapped: one address opening more connections
// than the cap gets the excess closed at once; other addresses are
// unaffected.
func TestConnectionsPerClientAreCapped(t *testing.T) {
	raiseFDLimit(t, 1000)
	srv, addr := startServer(t, httpapi.Limits{MaxConnsPerClient: 10, IdleTimeout: 30 * time.Second, ReadHeaderTimeout: 30 * time.Second})
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	refused := 0
	for range 25 {
		c, err := dialFrom("127.0.0.60", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF || (err != nil && !isTimeout(err)) {
			refused++
		}
	}
	if refused != 15 {
		t.Errorf("%d of 25 connections from one address closed at once, want 15 (cap 10)", refused)
	}
	if open := srv.OpenConns(); open != 10 {
		t.Errorf("%d connections open, want the cap of 10", open)
	}
	if took, body := signedCommand(t, addr); took > time.Second || !strings.Contains(body, "Queued as job") {
		t.Errorf("a command from another address: ack after %v: %s", took, body)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
