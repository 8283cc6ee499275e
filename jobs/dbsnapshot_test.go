package jobs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
)

// These tests dump real databases: the PostgreSQL and MariaDB servers that
// `make test` starts (scripts/services/postgres.sh and mariadb.sh), on
// their own ports. Each test makes databases with fresh names and drops
// them at the end.

// sqlServer is a test-owned database server and its command-line client.
type sqlServer struct {
	kind                  string // postgres or mariadb (config.Database.Type)
	host, port, user, bin string
	dumpTool, passwordVar string
	serviceScript         string
}

func requireServer(t *testing.T, kind string) sqlServer {
	t.Helper()
	s := sqlServer{kind: kind}
	var prefix string
	switch kind {
	case "postgres":
		prefix, s.dumpTool, s.passwordVar, s.serviceScript = "BACKUPBOT_TEST_PG_", "pg_dump", "PGPASSWORD", "postgres.sh"
	case "mariadb":
		prefix, s.dumpTool, s.passwordVar, s.serviceScript = "BACKUPBOT_TEST_MARIADB_", "mariadb-dump", "MYSQL_PWD", "mariadb.sh"
	}
	for _, v := range []struct {
		name string
		dst  *string
	}{{"HOST", &s.host}, {"PORT", &s.port}, {"USER", &s.user}, {"BIN", &s.bin}} {
		*v.dst = os.Getenv(prefix + v.name)
		if *v.dst == "" {
			t.Fatalf("%s%s is unset: run `make test`, which starts a test-owned %s "+
				"(or `eval \"$(bash scripts/services/%s start)\"` first)", prefix, v.name, kind, s.serviceScript)
		}
	}
	return s
}

// exec runs SQL (statements separated by ;) in db as the test's admin user
// and returns the client's output, rows tab-separated.
func (s sqlServer) exec(t *testing.T, db, sql string) string {
	t.Helper()
	var cmd *exec.Cmd
	switch s.kind {
	case "postgres":
		cmd = exec.Command(filepath.Join(s.bin, "psql"), "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
			"-h", s.host, "-p", s.port, "-U", s.user, "-d", db, "-f", "-")
	case "mariadb":
		cmd = exec.Command(filepath.Join(s.bin, "mariadb"), "--no-defaults", "-N", "-B",
			"-h", s.host, "-P", s.port, "-u", s.user, db)
	}
	cmd.Stdin = strings.NewReader(sql)
	cmd.Env = append(os.Environ(), s.passwordVar+"=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s on %s:%s, database %s: %v\n%s\nSQL:\n%s", s.kind, s.host, s.port, db, err, out, sql)
	}
	return string(out)
}

// adminDB is the database the admin user connects to before its own exists.
func (s sqlServer) adminDB() string {
	if s.kind == "postgres" {
		return "postgres"
	}
	return "mysql"
}

// createDB makes an empty database, dropped when the test ends.
func (s sqlServer) createDB(t *testing.T, name string) {
	t.Helper()
	s.exec(t, s.adminDB(), "CREATE DATABASE "+name+";")
	t.Cleanup(func() { s.exec(t, s.adminDB(), "DROP DATABASE IF EXISTS "+name+";") })
}

// passwordUser (re)creates backupbot_pw with password pw and full rights
// on db. The PostgreSQL test server requires a password from this role
// only (its pg_hba.conf); in MariaDB every user with a password needs it.
func (s sqlServer) passwordUser(t *testing.T, db, pw string) string {
	t.Helper()
	const user = "backupbot_pw"
	switch s.kind {
	case "postgres":
		s.exec(t, "postgres", fmt.Sprintf(`DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s LOGIN; END IF;
END$$;
ALTER ROLE %[1]s LOGIN PASSWORD %[2]s;
ALTER DATABASE %[3]s OWNER TO %[1]s;`, user, sqlString(pw), db))
	case "mariadb":
		s.exec(t, "mysql", fmt.Sprintf(`CREATE USER IF NOT EXISTS '%[1]s'@'%%';
ALTER USER '%[1]s'@'%%' IDENTIFIED BY %[2]s;
GRANT ALL PRIVILEGES ON %[3]s.* TO '%[1]s'@'%%';`, user, sqlString(pw), db))
	}
	return user
}

// fillAccounts makes table accounts in db with rows that are easy to get
// wrong in a dump (quotes, non-ASCII, newlines, NULL, bytes, decimals) and
// enough of them to span several dump statements, owned by owner.
func (s sqlServer) fillAccounts(t *testing.T, db, owner string) {
	t.Helper()
	switch s.kind {
	case "postgres":
		s.exec(t, db, `SET ROLE `+owner+`;
CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2), note text, created timestamptz, payload bytea);
INSERT INTO accounts VALUES
  (1, 'O''Brien', 10.50, E'two\nlines\tand a tab', '2024-02-29 12:34:56+00', '\xdeadbeef00'),
  (2, 'Zoë ✓ 東京', -3.25, NULL, NULL, NULL),
  (3, 'back\slash "quoted"', 0, '', '1999-12-31 23:59:59+00', '\x');
INSERT INTO accounts SELECT i, 'user-' || i, i * 1.01, repeat('x', i % 50), '2025-01-01'::timestamptz + i * interval '1 minute', sha256(i::text::bytea)
  FROM generate_series(4, 2000) i;`)
	case "mariadb":
		s.exec(t, db, `CREATE TABLE accounts (id int PRIMARY KEY, name varchar(100) NOT NULL, balance decimal(12,2), note text, created datetime, payload varbinary(64)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO accounts VALUES
  (1, 'O''Brien', 10.50, 'two\nlines\tand a tab', '2024-02-29 12:34:56', X'deadbeef00'),
  (2, 'Zoë ✓ 東京', -3.25, NULL, NULL, NULL),
  (3, 'back\\slash "quoted"', 0, '', '1999-12-31 23:59:59', X'');
INSERT INTO accounts SELECT seq, CONCAT('user-', seq), seq * 1.01, REPEAT('x', seq % 50), '2025-01-01' + INTERVAL seq MINUTE, UNHEX(SHA2(seq, 256))
  FROM seq_4_to_2000;`)
	}
}

// accounts returns every row of accounts in db, in id order, bytes as hex.
func (s sqlServer) accounts(t *testing.T, db string) string {
	t.Helper()
	if s.kind == "postgres" {
		return s.exec(t, db, `SELECT id, name, balance, note IS NULL, note, created, encode(payload, 'hex') FROM accounts ORDER BY id;`)
	}
	return s.exec(t, db, `SELECT id, name, balance, note IS NULL, note, created, HEX(payload) FROM accounts ORDER BY id;`)
}

// load loads a restored dump file into db.
func (s sqlServer) load(t *testing.T, db, file string) {
	t.Helper()
	var cmd *exec.Cmd
	switch s.kind {
	case "postgres":
		cmd = exec.Command(filepath.Join(s.bin, "pg_restore"), "--no-owner", "--no-acl", "--exit-on-error",
			"-h", s.host, "-p", s.port, "-U", s.user, "-d", db, file)
	case "mariadb":
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd = exec.Command(filepath.Join(s.bin, "mariadb"), "--no-defaults", "-h", s.host, "-P", s.port, "-u", s.user, db)
		cmd.Stdin = f
	}
	cmd.Env = append(os.Environ(), s.passwordVar+"=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("load the restored %s dump into %s: %v\n%s", s.kind, db, err, out)
	}
}

// recordDumpTool puts a program named like the dump tool first in PATH:
// it writes its arguments (one a line) and the value of the password
// variable to files, then runs the real tool from the server's bin dir.
func (s sqlServer) recordDumpTool(t *testing.T) (args, password string) {
	t.Helper()
	dir := t.TempDir()
	args, password = filepath.Join(dir, "args"), filepath.Join(dir, "password")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s'\nprintf '%%s' \"$%s\" > '%s'\nexec '%s' \"$@\"\n",
		args, s.passwordVar, password, filepath.Join(s.bin, s.dumpTool))
	if err := os.WriteFile(filepath.Join(dir, s.dumpTool), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return args, password
}

// appDB makes a fresh database filled with accounts (fillAccounts), owned
// by a user with password pw, and returns its configuration: the worker
// reads pw from $BACKUPBOT_TEST_APP_DB_PASSWORD.
func (s sqlServer) appDB(t *testing.T, pw string) config.Database {
	t.Helper()
	name := uniqueName("bb_src")
	s.createDB(t, name)
	user := s.passwordUser(t, name, pw)
	s.fillAccounts(t, name, user)
	t.Setenv("BACKUPBOT_TEST_APP_DB_PASSWORD", pw)
	return config.Database{Type: s.kind, Host: s.host, Port: atoi(t, s.port), User: user, Name: name, PasswordEnv: "BACKUPBOT_TEST_APP_DB_PASSWORD"}
}

// newDBHarness is a worker (with options o) with one local storage, no
// targets, and the given databases.
func newDBHarness(t *testing.T, dbs map[string]config.Database, o WorkerOptions) *engineHarness {
	t.Helper()
	h := &engineHarness{harness: newHarness(t), repo: filepath.Join(t.TempDir(), "repo")}
	h.cfg = testConfig(h.repo, nil)
	h.cfg.Databases = dbs
	h.startWorker(h.deps(), o)
	return h
}

// sqlString quotes s as an SQL string literal (no backslashes in s).
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%08x", prefix, rand.Uint32())
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the dump tool did not run (%v)", err)
	}
	return string(b)
}

func TestDatabaseSnapshotRoundTripsThroughRealServers(t *testing.T) {
	for _, kind := range []string{"postgres", "mariadb"} {
		t.Run(kind, func(t *testing.T) {
			s := requireServer(t, kind)
			pw := fmt.Sprintf("pw-%08x'\"$ spaced", rand.Uint32())
			app := s.appDB(t, pw)
			src, fresh := app.Name, uniqueName("bb_restored")
			want := s.accounts(t, src)
			if n := strings.Count(want, "\n"); n < 2000 {
				t.Fatalf("source has %d rows, want 2000", n)
			}
			argsFile, pwFile := s.recordDumpTool(t)
			var general func() string
			if kind == "mariadb" {
				general = s.generalLog(t)
			}

			h := newDBHarness(t, map[string]config.Database{"app": app}, WorkerOptions{})
			ev := h.run(&commands.Snapshot{Resource: commands.ResourceDatabase, Name: "compliance", Consistent: true,
				Tags: []commands.Tag{{Key: "purpose", Value: "compliance"}}})
			if !strings.Contains(ev.Result.Summary, "Snapshot (database)") {
				t.Errorf("snapshot summary %q", ev.Result.Summary)
			}

			// The password reached the tool through its environment only.
			args := readFile(t, argsFile)
			if got := readFile(t, pwFile); got != pw {
				t.Errorf("%s saw %s=%q, want the configured password", s.dumpTool, s.passwordVar, got)
			}
			if strings.Contains(args, pw) {
				t.Errorf("the password is on %s's command line: %q", s.dumpTool, args)
			}
			// --consistent: pg_dump is one transaction by itself; MariaDB
			// needs --single-transaction, and the server must have seen
			// the dump open a consistent-snapshot transaction.
			argv := strings.Split(strings.TrimSpace(args), "\n")
			if kind == "mariadb" {
				if !slices.Contains(argv, "--single-transaction") {
					t.Errorf("mariadb-dump ran with %q: --consistent must add --single-transaction", argv)
				}
				if log := general(); !strings.Contains(log, "WITH CONSISTENT SNAPSHOT") {
					t.Errorf("the server saw no consistent-snapshot transaction from the dump; general log:\n%s", log)
				}
			}

			snaps := h.snapshots()
			if len(snaps) != 1 || snaps[0].Target != "database-app" || snaps[0].Tags["purpose"] != "compliance" || snaps[0].Tags["snapshot"] != "database" {
				t.Fatalf("snapshots %+v: want one of target database-app tagged purpose=compliance, snapshot=database", snaps)
			}

			// Restore the dump from the repository and load it into a
			// fresh database: the rows come back identical.
			dest := filepath.Join(t.TempDir(), "restored")
			h.run(&commands.Restore{Name: "compliance", Target: "database-app", To: dest})
			dump, err := findRestoredPath(dest, "app.*")
			if err != nil {
				t.Fatalf("the restore wrote no dump of app: %v", err)
			}
			s.createDB(t, fresh)
			s.load(t, fresh, dump)
			if got := s.accounts(t, fresh); got != want {
				t.Errorf("rows after snapshot, restore and load differ from the source:\n got %.300q\nwant %.300q", got, want)
			}
			if got := s.accounts(t, src); got != want {
				t.Error("loading the restored dump into a fresh database changed the source database")
			}
		})
	}
}

// generalLog turns on the MariaDB server's general query log (a table)
// until the test ends, and returns a function that reads what the dump
// user sent.
func (s sqlServer) generalLog(t *testing.T) func() string {
	t.Helper()
	s.exec(t, "mysql", "SET GLOBAL general_log = OFF; SET GLOBAL log_output = 'TABLE'; TRUNCATE TABLE mysql.general_log; SET GLOBAL general_log = ON;")
	t.Cleanup(func() { s.exec(t, "mysql", "SET GLOBAL general_log = OFF; TRUNCATE TABLE mysql.general_log;") })
	return func() string {
		return s.exec(t, "mysql", "SELECT argument FROM mysql.general_log WHERE user_host LIKE 'backupbot_pw[%' ORDER BY event_time;")
	}
}

func TestDatabaseSnapshotWithoutConsistentTakesNoSnapshotTransaction(t *testing.T) {
	s := requireServer(t, "mariadb")
	shop := s.appDB(t, fmt.Sprintf("pw-%08x", rand.Uint32()))
	argsFile, _ := s.recordDumpTool(t)
	h := newDBHarness(t, map[string]config.Database{"shop": shop}, WorkerOptions{})
	h.run(&commands.Snapshot{Resource: commands.ResourceDatabase, Name: "plain"})
	if args := readFile(t, argsFile); strings.Contains(args, "--single-transaction") {
		t.Errorf("without --consistent mariadb-dump ran with --single-transaction: %q", args)
	}
}

func TestDatabaseSnapshotFailureNamesTheDatabaseNotThePassword(t *testing.T) {
	pg, maria := requireServer(t, "postgres"), requireServer(t, "mariadb")
	pgDB, mariaDB := uniqueName("bb_src"), uniqueName("bb_src")
	pg.createDB(t, pgDB)
	maria.createDB(t, mariaDB)
	pgUser := pg.passwordUser(t, pgDB, fmt.Sprintf("right-%08x", rand.Uint32()))
	mariaUser := maria.passwordUser(t, mariaDB, fmt.Sprintf("right-%08x", rand.Uint32()))
	wrong := fmt.Sprintf("wrong-pw-%08x", rand.Uint32())
	t.Setenv("BACKUPBOT_TEST_WRONG_PASSWORD", wrong)
	closed := closedPort(t)

	for _, tc := range []struct {
		name string
		db   config.Database
		want []string
		// retried: an unreachable server may come back, a refusal will not.
		retried bool
	}{
		{"postgres wrong password", config.Database{Type: "postgres", Host: pg.host, Port: atoi(t, pg.port), User: pgUser, Name: pgDB, PasswordEnv: "BACKUPBOT_TEST_WRONG_PASSWORD"},
			[]string{"dump database orders", pgDB, "password authentication failed"}, false},
		{"mariadb wrong password", config.Database{Type: "mariadb", Host: maria.host, Port: atoi(t, maria.port), User: mariaUser, Name: mariaDB, PasswordEnv: "BACKUPBOT_TEST_WRONG_PASSWORD"},
			[]string{"dump database orders", mariaDB, "Access denied"}, false},
		{"postgres unreachable", config.Database{Type: "postgres", Host: "127.0.0.1", Port: closed, User: pgUser, Name: pgDB, PasswordEnv: "BACKUPBOT_TEST_WRONG_PASSWORD"},
			[]string{"dump database orders", pgDB, "Connection refused"}, true},
		{"mariadb unreachable", config.Database{Type: "mariadb", Host: "127.0.0.1", Port: closed, User: mariaUser, Name: mariaDB, PasswordEnv: "BACKUPBOT_TEST_WRONG_PASSWORD"},
			[]string{"dump database orders", mariaDB, "Can't connect"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.db.Type == "postgres" {
				pg.recordDumpTool(t)
			} else {
				maria.recordDumpTool(t)
			}
			h := newDBHarness(t, map[string]config.Database{"orders": tc.db}, WorkerOptions{})
			meta := h.enqueue(&commands.Snapshot{Resource: commands.ResourceDatabase, Name: "compliance", Consistent: true})
			ev := h.waitFinal(meta.JobID, 30*time.Second)
			if ev.Kind != EventFailed {
				t.Fatalf("snapshot with %s: %s, want failed", tc.name, ev.Kind)
			}
			t.Logf("job error: %s", ev.Error)
			for _, w := range tc.want {
				if !strings.Contains(ev.Error, w) {
					t.Errorf("error %q does not mention %q", ev.Error, w)
				}
			}
			if strings.Contains(ev.Error, wrong) || strings.Contains(ev.Error, "right-") {
				t.Errorf("error %q shows a password", ev.Error)
			}
			if retried := slices.Contains(h.events.kinds(meta.JobID), EventRetrying); retried != tc.retried {
				t.Errorf("retried = %v, want %v (events %v)", retried, tc.retried, h.events.kinds(meta.JobID))
			}
			if n := len(h.snapshots()); n != 0 {
				t.Errorf("a failed dump left %d snapshots", n)
			}
		})
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}

func TestConcurrentSnapshotsOfOneDatabaseEachKeepAWholeDump(t *testing.T) {
	// Two jobs dump the same database at once on one worker: they share
	// the dump's path, so without a lock the quicker one backs up and
	// deletes the file while the slower one is still writing it.
	s := requireServer(t, "postgres")
	src := uniqueName("bb_src")
	s.createDB(t, src)
	s.fillAccounts(t, src, s.user)
	// The first pg_dump to start waits a second before dumping.
	shim := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nif mkdir '%s' 2>/dev/null; then sleep 1; fi\nexec '%s' \"$@\"\n",
		filepath.Join(shim, "slow-claimed"), filepath.Join(s.bin, "pg_dump"))
	if err := os.WriteFile(filepath.Join(shim, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newDBHarness(t, map[string]config.Database{"app": {Type: "postgres", Host: s.host, Port: atoi(t, s.port), User: s.user, Name: src}},
		WorkerOptions{Concurrency: 2})
	// The first snapshot creates the repository (concurrent creation of
	// one repository is the engine's business, not this test's).
	h.run(&commands.Snapshot{Resource: commands.ResourceDatabase, Name: "first"})
	t.Setenv("PATH", shim+string(os.PathListSeparator)+os.Getenv("PATH"))
	names := []string{"first", "slow-or-fast", "fast-or-slow"}
	var metas []Meta
	for _, name := range names[1:] {
		metas = append(metas, h.enqueue(&commands.Snapshot{Resource: commands.ResourceDatabase, Name: name}))
	}
	for _, m := range metas {
		if ev := h.waitFinal(m.JobID, 30*time.Second); ev.Kind != EventSucceeded {
			t.Errorf("concurrent snapshot %s: %s: %s", m.JobID, ev.Kind, ev.Error)
		}
		for _, ev := range h.events.of(m.JobID) {
			if ev.Kind == EventRetrying {
				t.Errorf("concurrent snapshot %s failed once and was retried: %s", m.JobID, ev.Error)
			}
		}
	}
	for _, name := range names {
		dest := filepath.Join(t.TempDir(), name)
		h.run(&commands.Restore{Name: name, Target: "database-app", To: dest})
		dump, err := findRestoredPath(dest, "app.pgdump")
		if err != nil {
			t.Fatalf("snapshot %s: %v", name, err)
		}
		out, err := exec.Command(filepath.Join(s.bin, "pg_restore"), "--exit-on-error", "--data-only", "-f", "-", dump).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "user-2000") {
			t.Errorf("snapshot %s holds a broken dump: %v\n%.500s", name, err, out)
		}
	}
}

// findRestoredPath is the path of the first file under dest whose name
// matches pattern (filepath.Match).
func findRestoredPath(dest, pattern string) (string, error) {
	var found string
	err := filepath.Walk(dest, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && found == "" {
			if ok, _ := filepath.Match(pattern, info.Name()); ok {
				found = p
			}
		}
		return err
	})
	if found == "" && err == nil {
		err = fmt.Errorf("no %s under %s", pattern, dest)
	}
	return found, err
}

// TestDatabaseTargetsAreTargets: database-NAME is a --target wherever
// targets are: the parser takes it, create dumps that database and backs
// the dump up, list and restore find it by that target.
func TestDatabaseTargetsAreTargets(t *testing.T) {
	s := requireServer(t, "postgres")
	h := newDBHarness(t, map[string]config.Database{"app": s.appDB(t, fmt.Sprintf("pw-%08x", rand.Uint32()))}, WorkerOptions{})
	p := h.cfg.Parser()
	for _, line := range []string{"create --target database-app --name db1", "list --target database-app", "restore --name latest --target database-app --preview", "cleanup --target database-app --dry-run"} {
		if _, err := p.Parse(line); err != nil {
			t.Errorf("%s: %v; want database-app accepted as a target", line, err)
		}
	}
	if _, err := p.Parse("list --target database-nope"); err == nil {
		t.Error("list --target database-nope was accepted: only configured databases are targets")
	}

	ev := h.run(&commands.Create{Type: commands.TypeFull, Target: "database-app", Name: "db1", Compress: true})
	if ev.Kind != EventSucceeded {
		t.Fatalf("create --target database-app: %s %s", ev.Kind, ev.Error)
	}
	snaps := h.snapshots()
	if len(snaps) != 1 || snaps[0].Target != "database-app" || snaps[0].Name != "db1" {
		t.Fatalf("snapshots %+v: want db1 of target database-app", snaps)
	}
	ev = h.run(&commands.List{Storage: commands.StorageRef{Name: "all"}, Target: "database-app"})
	if !strings.HasPrefix(ev.Result.Summary, "1 backup in ") {
		t.Errorf("list --target database-app: %q", ev.Result.Summary)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	ev = h.run(&commands.Restore{Name: "latest", Target: "database-app", To: dest})
	if ev.Kind != EventSucceeded || !strings.Contains(ev.Result.Summary, "db1") {
		t.Fatalf("restore --target database-app: %s %s %+v", ev.Kind, ev.Error, ev.Result)
	}
	if _, err := findRestoredPath(dest, "app.*"); err != nil {
		t.Errorf("restore --target database-app wrote no dump of app: %v", err)
	}
}
