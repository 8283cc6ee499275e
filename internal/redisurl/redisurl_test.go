package redisurl

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

func TestParseForms(t *testing.T) {
	cases := []struct {
		raw   string
		kind  Kind
		asynq asynq.RedisConnOpt
		addrs []string
		where string
	}{
		{
			raw: "redis://:s3cret@redis.internal:6379/2", kind: Single,
			asynq: asynq.RedisClientOpt{Network: "tcp", Addr: "redis.internal:6379", Password: "s3cret", DB: 2},
			addrs: []string{"redis.internal:6379"}, where: "redis://xxxxx@redis.internal:6379/2",
		},
		{
			raw: "redis://localhost", kind: Single,
			asynq: asynq.RedisClientOpt{Network: "tcp", Addr: "localhost:6379"},
			addrs: []string{"localhost:6379"}, where: "redis://localhost",
		},
		{
			raw: "unix:///run/redis/redis.sock?db=3", kind: Single,
			asynq: asynq.RedisClientOpt{Network: "unix", Addr: "/run/redis/redis.sock", DB: 3},
			addrs: []string{"/run/redis/redis.sock"}, where: "unix:///run/redis/redis.sock?db=3",
		},
		{
			raw: "redis-sentinel://:pw@s1:26379,s2:26379,s3:26379/mymaster?db=1", kind: Sentinel,
			asynq: asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26379", "s3:26379"},
				Password: "pw", DB: 1},
			addrs: []string{"s1:26379", "s2:26379", "s3:26379"}, where: `sentinels s1:26379,s2:26379,s3:26379, master "mymaster", db 1`,
		},
		{
			raw: "redis-sentinel://s1:26379/mymaster/4", kind: Sentinel,
			asynq: asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379"}, DB: 4},
			addrs: []string{"s1:26379"}, where: `sentinels s1:26379, master "mymaster", db 4`,
		},
		{ // asynq's own form
			raw: "redis-sentinel://s1:26379,s2:26379?master=prod&sentinel_password=spw", kind: Sentinel,
			asynq: asynq.RedisFailoverClientOpt{MasterName: "prod", SentinelAddrs: []string{"s1:26379", "s2:26379"}, SentinelPassword: "spw"},
			addrs: []string{"s1:26379", "s2:26379"}, where: `sentinels s1:26379,s2:26379, master "prod", db 0`,
		},
		{
			raw: "redis-cluster://:pw@n1:7000,n2:7001,[::1]:7002", kind: Cluster,
			asynq: asynq.RedisClusterClientOpt{Addrs: []string{"n1:7000", "n2:7001", "[::1]:7002"}, Password: "pw"},
			addrs: []string{"n1:7000", "n2:7001", "[::1]:7002"}, where: "cluster n1:7000,n2:7001,[::1]:7002",
		},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			got, err := Parse(c.raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Kind != c.kind {
				t.Errorf("kind %s, want %s", got.Kind, c.kind)
			}
			if !reflect.DeepEqual(got.Asynq, c.asynq) {
				t.Errorf("asynq options\n got %#v\nwant %#v", got.Asynq, c.asynq)
			}
			if !reflect.DeepEqual(got.Options.Addrs, c.addrs) {
				t.Errorf("go-redis addrs %v, want %v", got.Options.Addrs, c.addrs)
			}
			if got.Where != c.where {
				t.Errorf("where %q, want %q", got.Where, c.where)
			}
			if strings.Contains(got.Where, "pw") || strings.Contains(got.Where, "s3cret") {
				t.Errorf("where %q shows a password", got.Where)
			}
			// The go-redis client built from the URL is of the matching kind.
			cl := got.NewClient()
			defer cl.Close()
			wantType := map[Kind]string{Single: "*redis.Client", Sentinel: "*redis.Client", Cluster: "*redis.ClusterClient"}[c.kind]
			if typ := reflect.TypeOf(cl).String(); typ != wantType {
				t.Errorf("client type %s, want %s", typ, wantType)
			}
			if c.kind == Sentinel && got.Options.MasterName == "" {
				t.Error("sentinel options carry no master name")
			}
		})
	}
}

func TestParseRefusesBadURLsWithoutShowingThePassword(t *testing.T) {
	for _, raw := range []string{
		"localhost:6379",
		"http://:hunter2@x:1",
		"redis-sentinel://:hunter2@s1:26379,s2:26379",   // no master name
		"redis-sentinel://:hunter2@s1,s2:26379/m",       // no port
		"redis-sentinel://:hunter2@s1:99999/m",          // bad port
		"redis-sentinel://:hunter2@s1:26379/m?db=x",     // bad db
		"redis-cluster://:hunter2@n1:7000,n2:7001/3",    // cluster has no db
		"redis-cluster://:hunter2@/",                    // no address
		"redis://:hunter2@host:6379/notanumber",         // bad db
		"redis-sentinel://:hunter2@s1:26379/m/notadb",   // bad db after master
		"redis-cluster://:hunter2@n1:7000?db=2",         // cluster has no db
		"redis-sentinel://:hunter2@[::1]/m",             // v6 without port
		"redis-cluster://:hunter2@n1:7000?x=%zz",        // bad query
		"redis-sentinel://user:hun%zzter2@s1:26379/m",   // bad escape
		"ftp://:hunter2@s1:26379",                       // unknown scheme
		"redis-cluster://:hunter2@n1:7000,n2:notaport/", // bad port
	} {
		_, err := Parse(raw)
		if err == nil {
			t.Errorf("Parse(%q) accepted a bad URL", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q) error shows the password: %v", raw, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"redis://:pw@h:1/0":                             "redis://xxxxx@h:1/0",
		"redis://user:pw@h:1":                           "redis://user:xxxxx@h:1",
		"redis://h:1/0":                                 "redis://h:1/0",
		"redis-sentinel://:p@w@s1:1,s2:2/m":             "redis-sentinel://xxxxx@s1:1,s2:2/m",
		"redis-sentinel://s1:1/m?sentinel_password=abc": "redis-sentinel://s1:1/m?sentinel_password=xxxxx",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}
