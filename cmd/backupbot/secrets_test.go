package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/internal/testredis"
)

// redisValues returns every key of the database with everything Redis
// holds under it: GET, HGETALL, LRANGE, SMEMBERS, ZRANGE or XRANGE by
// type, plus the key's DUMP.
func redisValues(t *testing.T, redisURL string) map[string]string {
	t.Helper()
	rdb := redisClient(t, redisURL)
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, "*", 500).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		var b strings.Builder
		typ, _ := rdb.Type(ctx, key).Result()
		switch typ {
		case "string":
			v, _ := rdb.Get(ctx, key).Result()
			b.WriteString(v)
		case "hash":
			for k, v := range rdb.HGetAll(ctx, key).Val() {
				fmt.Fprintf(&b, "%s=%s\n", k, v)
			}
		case "list":
			b.WriteString(strings.Join(rdb.LRange(ctx, key, 0, -1).Val(), "\n"))
		case "set":
			b.WriteString(strings.Join(rdb.SMembers(ctx, key).Val(), "\n"))
		case "zset":
			b.WriteString(strings.Join(rdb.ZRange(ctx, key, 0, -1).Val(), "\n"))
		case "stream":
			for _, m := range rdb.XRange(ctx, key, "-", "+").Val() {
				fmt.Fprintf(&b, "%v\n", m.Values)
			}
		}
		dump, _ := rdb.Dump(ctx, key).Result()
		b.WriteString("\n" + dump)
		out[key+" ("+typ+")"] = b.String()
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan Redis: %v", err)
	}
	return out
}

// TestSecretsTypedIntoCommandsStayOutOfChatAndRedis is issue 11's point 7:
// a distinctive secret (the value of a variable the configuration marks
// as secret) and a key-shaped value typed into --tags appear in no chat
// message and in no Redis value, while the job still runs.
func TestSecretsTypedIntoCommandsStayOutOfChatAndRedis(t *testing.T) {
	const secret = "vault-Qm38ZpTx7Lw"
	const awsKey = "AKIAZ7QWERTYUIOPASDF"
	t.Setenv("TEST_NOTE_SECRET", secret)
	url := testRedisURL(t, testredis.DBBackupbot)
	e := newEnv(t, url)
	writeFile(t, e.config, []byte(strings.Replace(e.configText(), "  audit: {file: ", "  audit: {redact_env: [TEST_NOTE_SECRET], file: ", 1)))
	w := e.start("worker", "worker", "--concurrency", "1")
	bot, c, _ := e.startConsole("bot", "--edit-interval", "300ms")

	id := c.command(`/backup create --type full --target data --name tagged --tags "note=` + secret + `" --tags "key=` + awsKey + `"`)
	if got := c.waitDone(id, 60*time.Second); !strings.HasPrefix(got, "✅ Backup tagged done") {
		t.Fatalf("the tagged backup ended %q", got)
	}
	list := c.command("/backup list --size")
	if got := c.waitDone(list, 60*time.Second); !strings.HasPrefix(got, "✅") {
		t.Fatalf("list ended %q", got)
	}
	c.send("/backup status " + id)
	c.expect(regexp.MustCompile("^\\[reply\\] Job `"+id+"`"), 10*time.Second)
	// A command that fails to parse echoes what was typed.
	c.send("/backup crate --tags note=" + secret)
	c.expect(regexp.MustCompile(`^\[reply\] ⚠️`), 10*time.Second)

	// What the console echoes of the user's own typing ("alice> ...") is
	// not a message of the bot; everything else is.
	withoutEcho := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "alice> ") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	transcript := withoutEcho(strings.Join(c.all(), "\n"))
	if !strings.Contains(transcript, "[REDACTED]") {
		t.Errorf("the chat shows no [REDACTED] where the secrets were:\n%s", transcript)
	}
	values := redisValues(t, url)
	if len(values) == 0 {
		t.Fatal("Redis holds nothing: the scan cannot have worked")
	}
	for _, s := range []string{secret, awsKey} {
		if strings.Contains(transcript, s) {
			t.Errorf("a chat message shows the secret %q:\n%s", s, transcript)
		}
		for key, v := range values {
			if strings.Contains(v, s) {
				t.Errorf("Redis key %s holds the secret %q", key, s)
			}
		}
		for _, p := range []*proc{w, bot} {
			if strings.Contains(withoutEcho(p.log.String()), s) {
				t.Errorf("the log of %s shows the secret %q", p.name, s)
			}
		}
	}
	t.Logf("scanned %d Redis keys", len(values))
}
