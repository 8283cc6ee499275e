package dbdump

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/config"
)

func TestToolFor(t *testing.T) {
	t.Setenv("DB_PW", "hunter2")
	for _, tc := range []struct {
		name       string
		db         config.Database
		consistent bool
		program    []string // any of
		args       []string // must contain
		notArgs    []string // must not contain
		env        string
		err        string
	}{
		{name: "postgres", db: config.Database{Type: "postgres", Name: "app", Host: "db", Port: 5433, User: "bk", PasswordEnv: "DB_PW"},
			program: []string{"pg_dump"}, args: []string{"--format=custom", "--host=db", "--port=5433", "--username=bk", "--dbname=app"}, env: "PGPASSWORD=hunter2"},
		{name: "mariadb consistent", db: config.Database{Type: "mariadb", Name: "shop", User: "bk", PasswordEnv: "DB_PW"}, consistent: true,
			program: []string{"mariadb-dump", "mysqldump"}, args: []string{"--single-transaction", "--user=bk", "--", "shop"}, notArgs: []string{"--databases"}, env: "MYSQL_PWD=hunter2"},
		{name: "mariadb not consistent", db: config.Database{Type: "mysql", Name: "shop", PasswordEnv: "DB_PW"},
			program: []string{"mariadb-dump", "mysqldump"}, args: []string{"shop"}, notArgs: []string{"--single-transaction"}, env: "MYSQL_PWD=hunter2"},
		{name: "no password env", db: config.Database{Type: "postgres", Name: "app", PasswordEnv: "NOT_SET_ANYWHERE"}, err: "NOT_SET_ANYWHERE"},
		{name: "unknown type", db: config.Database{Type: "oracle", Name: "x"}, err: `type "oracle" is not supported`},
		{name: "no name", db: config.Database{Type: "postgres"}, err: "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tool, err := For(tc.db, tc.consistent)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tc.program, tool.Program) {
				t.Errorf("program %q, want one of %v", tool.Program, tc.program)
			}
			for _, a := range tc.args {
				if !slices.Contains(tool.Args, a) {
					t.Errorf("args %v lack %q", tool.Args, a)
				}
			}
			for _, a := range tc.notArgs {
				if slices.Contains(tool.Args, a) {
					t.Errorf("args %v hold %q", tool.Args, a)
				}
			}
			if strings.Contains(strings.Join(tool.Args, " "), "hunter2") {
				t.Error("the password is on the command line")
			}
			if !slices.Contains(tool.Env, tc.env) {
				t.Errorf("env %v lacks the password variable", tool.Env)
			}
		})
	}
}

func TestRunReportsToolFailureWithoutThePassword(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, stderr string
		rejected     bool
	}{
		{"pg wrong password", `pg_dump: error: connection to server at "db" (10.0.0.5), port 5432 failed: FATAL:  password authentication failed for user "bk"`, true},
		{"mariadb wrong password", `mariadb-dump: Got error: 1045: "Access denied for user 'bk'@'10.0.0.9' (using password: YES)" when trying to connect`, true},
		{"mariadb unknown database", `mariadb-dump: Got error: 1049: "Unknown database 'shop'" when selecting the database`, true},
		{"pg unreachable", `pg_dump: error: connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused`, false},
		{"mariadb unreachable", `mariadb-dump: Got error: 2002: "Can't connect to server on 'db' (115)" when trying to connect`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			body := "#!/bin/sh\ncat >&2 <<'EOF'\n" + tc.stderr + "\nEOF\nexit 2\n"
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			tool := Tool{Program: script, Env: []string{"PGPASSWORD=hunter2"}}
			err := tool.Run(context.Background(), filepath.Join(dir, "out.dump"))
			if err == nil || !strings.Contains(err.Error(), tc.stderr) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Run error %v: want the tool's own message and no password", err)
			}
			if got := errors.Is(err, ErrRejected); got != tc.rejected {
				t.Errorf("errors.Is(%v, ErrRejected) = %v, want %v", err, got, tc.rejected)
			}
		})
	}
	missing := Tool{Program: filepath.Join(dir, "no-such-dump")}
	if err := missing.Run(context.Background(), filepath.Join(dir, "out2.dump")); err == nil {
		t.Error("running a missing tool succeeded")
	}
}

func TestLockDirIsExclusiveUntilReleased(t *testing.T) {
	dir := t.TempDir()
	release, err := LockDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second taker waits; when its context ends it gives up and says why.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LockDir(ctx, dir); err == nil || !strings.Contains(err.Error(), "another job") {
		t.Fatalf("second LockDir while held: %v, want it to wait for the other job", err)
	}
	release()
	again, err := LockDir(context.Background(), dir)
	if err != nil {
		t.Fatalf("LockDir after release: %v", err)
	}
	again()
}
